# The book's page "Drop a revoked device's JWTs at once: webhooks" shows this
# file from its ANCHOR line; tests/api/services/guide_samples.rs uses it in
# the Django project of tests/resource_server/.
# ANCHOR: authentication
# hooks/authentication.py
from django.core.cache import cache
from rest_framework_simplejwt.authentication import JWTStatelessUserAuthentication
from rest_framework_simplejwt.exceptions import InvalidToken


class MultitokenJWTAuthentication(JWTStatelessUserAuthentication):
    def get_validated_token(self, raw_token):
        token = super().get_validated_token(raw_token)
        if cache.get(f"revoked-sid:{token.get('sid')}"):
            raise InvalidToken("This device was signed out.")
        return token
# ANCHOR_END: authentication
