"""Views that show what django-oauth-toolkit made of a multitoken key.

Authentication is django-oauth-toolkit's alone: ``request.user`` is the local
user it created from the introspection's ``username``, ``request.auth`` its
cached ``AccessToken`` (whose ``scope`` is the introspection's ``scope``).
"""

from oauth2_provider.contrib.rest_framework import OAuth2Authentication, TokenHasScope
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework_simplejwt.authentication import JWTStatelessUserAuthentication
from rest_framework.views import APIView


class Orders(APIView):
    """Any live key."""

    authentication_classes = [OAuth2Authentication]
    permission_classes = [IsAuthenticated]

    def get(self, request):
        return Response({"username": request.user.username, "scope": request.auth.scope})


class ReadOrders(Orders):
    """A key whose introspection lists the scope ``orders:read``."""

    permission_classes = [IsAuthenticated, TokenHasScope]
    required_scopes = ["orders:read"]


class JwtOrders(APIView):
    """Any access JWT that Simple JWT verifies from multitoken's JWKS alone:
    no request to multitoken but for the keys."""

    authentication_classes = [JWTStatelessUserAuthentication]
    permission_classes = [IsAuthenticated]

    def get(self, request):
        return Response(
            {
                "user_id": request.user.id,
                "username": request.auth["username"],
                "client": request.auth["client"],
            }
        )
