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

With ``RESOURCE_SERVER_WEBHOOK_SECRET`` (a ``whsec_`` value) it also serves
the book's webhook receiver, ``docs/snippets/webhooks/hooks/``, at
``/hooks/multitoken``, and ``/jwt/orders/hooked/``, which refuses the JWTs of
devices it heard were signed out (the book's ``MultitokenJWTAuthentication``).
"""

import os
import runpy
import sys
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parents[3]

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

# The book's settings (docs/src/guides/jwt.md shows this file), with this
# test's multitoken in place of the page's example addresses.
_book = runpy.run_path(str(REPOSITORY / "docs" / "snippets" / "jwt" / "simple_jwt_settings.py"))
SIMPLE_JWT = {
    **_book["SIMPLE_JWT"],
    "JWK_URL": os.environ.get("RESOURCE_SERVER_JWKS_URL"),
    "ISSUER": os.environ.get("RESOURCE_SERVER_JWT_ISSUER"),
    "AUDIENCE": os.environ.get("RESOURCE_SERVER_JWT_AUDIENCE"),
}
# Its default authentication is what /jwt/orders/ uses; the other views
# name their own.
REST_FRAMEWORK = {
    **_book["REST_FRAMEWORK"],
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

# The book's webhook receiver (docs/src/guides/webhooks.md), as a reader's
# project would hold it: the app "hooks".
sys.path.append(str(REPOSITORY / "docs" / "snippets" / "webhooks"))
MULTITOKEN_WEBHOOK_SECRET = os.environ.get("RESOURCE_SERVER_WEBHOOK_SECRET")
