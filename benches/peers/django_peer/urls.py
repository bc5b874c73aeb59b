"""Each peer's cheapest authenticated answer with the user, its login with
Django's default hasher (PBKDF2), and the revocation of the key in use."""
from django.urls import path
from knox.auth import TokenAuthentication as KnoxTokenAuthentication
from knox.views import LoginView as KnoxLoginView
from knox.views import LogoutView as KnoxLogoutView
from rest_framework.authentication import BasicAuthentication, TokenAuthentication
from rest_framework.authtoken.views import obtain_auth_token
from rest_framework.response import Response
from rest_framework.views import APIView


class DrfWhoami(APIView):
    authentication_classes = [TokenAuthentication]

    def get(self, request):
        return Response({"username": request.user.username})


class DrfLogout(APIView):
    """DRF has no logout view: deleting the presented token is the usual one."""

    authentication_classes = [TokenAuthentication]

    def post(self, request):
        request.auth.delete()
        return Response(status=204)


class KnoxWhoami(DrfWhoami):
    authentication_classes = [KnoxTokenAuthentication]


class KnoxLogin(KnoxLoginView):
    """knox's documented login: HTTP Basic checks the password, knox mints a key."""

    authentication_classes = [BasicAuthentication]


urlpatterns = [
    path("drf/whoami", DrfWhoami.as_view()),
    path("drf/login", obtain_auth_token),
    path("drf/logout", DrfLogout.as_view()),
    path("knox/whoami", KnoxWhoami.as_view()),
    path("knox/login", KnoxLogin.as_view()),
    path("knox/logout", KnoxLogoutView.as_view()),
]
