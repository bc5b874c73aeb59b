"""Views that show what django-oauth-toolkit made of a multitoken key.

Authentication is django-oauth-toolkit's alone: ``request.user`` is the local
user it created from the introspection's ``username``, ``request.auth`` its
cached ``AccessToken`` (whose ``scope`` is the introspection's ``scope``).
"""

from oauth2_provider.contrib.rest_framework import OAuth2Authentication, TokenHasScope
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

# The book's app, on the path that settings.py adds.
from hooks.authentication import MultitokenJWTAuthentication


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

    # No authentication_classes: the default of the book's settings,
    # Simple JWT's JWTStatelessUserAuthentication.
    permission_classes = [IsAuthenticated]

    def get(self, request):
        return Response(
            {
                "user_id": request.user.id,
                "username": request.auth["username"],
                "client": request.auth["client"],
            }
        )


class HookedJwtOrders(JwtOrders):
    """``JwtOrders`` with the book's ``MultitokenJWTAuthentication``, which
    also refuses a JWT whose device the webhooks said was signed out."""

    authentication_classes = [MultitokenJWTAuthentication]
