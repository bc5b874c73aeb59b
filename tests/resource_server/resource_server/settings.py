"""A Django REST Framework API whose users authenticate with multitoken keys.

Nothing here checks a key: django-oauth-toolkit's resource-server mode sends
each unknown key to multitoken's ``POST /introspect`` and keeps the answer for
at most ``RESOURCE_SERVER_TOKEN_CACHING_SECONDS``. Configured from the
environment:

- ``RESOURCE_SERVER_INTROSPECTION_URL``: ``<multitoken>/introspect``;
- ``RESOURCE_SERVER_AUTH_TOKEN``: the unrestricted key of a multitoken user
  with ``is_service`` (or ``is_admin``), sent as ``Authorization: Bearer``;
- ``RESOURCE_SERVER_TOKEN_CACHING_SECONDS``: how long an active answer is
  trusted, hence how late a revocation is seen (default 5);
- ``RESOURCE_SERVER_DATABASE``: the SQLite file where django-oauth-toolkit
  keeps its copies of tokens and users (run ``manage.py migrate`` first).

``/jwt/orders/`` checks multitoken's access JWTs itself, with Simple JWT's
stateless authentication and nothing but multitoken's JWKS:

- ``RESOURCE_SERVER_JWKS_URL``: ``<multitoken>/.well-known/jwks.json``;
- ``RESOURCE_SERVER_JWT_ISSUER``, ``RESOURCE_SERVER_JWT_AUDIENCE``: as
  multitoken's ``JWT_ISSUER`` and ``JWT_AUDIENCE`` (unset: not checked).
"""

import os

SECRET_KEY = "only-for-the-multitoken-tests"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "rest_framework",
    "oauth2_provider",
]

ROOT_URLCONF = "resource_server.urls"
WSGI_APPLICATION = "resource_server.wsgi.application"
USE_TZ = True

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ["RESOURCE_SERVER_DATABASE"],
    }
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

OAUTH2_PROVIDER = {
    "RESOURCE_SERVER_INTROSPECTION_URL": os.environ["RESOURCE_SERVER_INTROSPECTION_URL"],
    "RESOURCE_SERVER_AUTH_TOKEN": os.environ["RESOURCE_SERVER_AUTH_TOKEN"],
    "RESOURCE_SERVER_TOKEN_CACHING_SECONDS": int(
        os.environ.get("RESOURCE_SERVER_TOKEN_CACHING_SECONDS", "5")
    ),
}

# As the book's guide "Short-lived JWTs for your services" (docs/src/guides/jwt.md) recommends.
SIMPLE_JWT = {
    "ALGORITHM": "ES256",
    "JWK_URL": os.environ.get("RESOURCE_SERVER_JWKS_URL"),
    "ISSUER": os.environ.get("RESOURCE_SERVER_JWT_ISSUER"),
    "AUDIENCE": os.environ.get("RESOURCE_SERVER_JWT_AUDIENCE"),
    "USER_ID_CLAIM": "user_id",
    "LEEWAY": 0,
}

REST_FRAMEWORK = {
    "UNAUTHENTICATED_USER": None,
}

# django-oauth-toolkit logs a failed introspection (a refused service key,
# multitoken down) here; the test shows this output when it fails.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"stderr": {"class": "logging.StreamHandler"}},
    "loggers": {"oauth2_provider": {"handlers": ["stderr"], "level": "INFO"}},
}
