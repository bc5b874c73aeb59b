"""Schemathesis hooks for bench/schemathesis.sh (loaded via SCHEMATHESIS_HOOKS).

The run holds a single admin token for its whole length, and Schemathesis
cannot log in again. POST /logout and /logout/all are excluded on the command
line, since every call of theirs revokes that token (POST /tokens/rotate
retires it, harmless under run.sh's long ROTATION_GRACE); the operations below
revoke it, or take the admin's rights away, only for some inputs, so those
cases alone are dropped and the operations stay tested:

- PATCH /admin/users/{id}, DELETE /admin/users/{id}/tokens and
  DELETE /admin/users/{id}/tokens/{client} on the admin's own id (the
  stateful phase finds it in GET /admin/users and follows the link);
- DELETE /tokens/{client} on the run's own client.

Two more bring generated text where the document cannot say it goes
(`before_call`, so every phase's cases pass through them):

- POST /login/oidc/{provider} mostly names the run's provider (a fake one,
  tests/schemathesis/fake_oidc.py), and its `id_token` is often replaced by
  a token that provider signed, whose claims carry the generated text: the
  ID token's checks and the claims' use (NUL in `sub`, an odd `iat`, a
  strange e-mail or name) are fuzzed past the signature;
- POST /login and /token often carry their generated `username` and
  `password` as `Authorization: Basic` instead, which the document does not
  describe as a security scheme.
"""

import base64
import hashlib
import json
import os
import time
import urllib.request

import schemathesis

ADMIN_ID = int(os.environ["SCHEMATHESIS_ADMIN_ID"])
CLIENT = os.environ["SCHEMATHESIS_CLIENT"]

ADMIN_PATHS = {
    ("PATCH", "/admin/users/{id}"),
    ("DELETE", "/admin/users/{id}/tokens"),
    ("DELETE", "/admin/users/{id}/tokens/{client}"),
}


def _is_admin_id(value):
    # The server parses the segment as an i64, which takes "01" and "+1" too.
    try:
        return int(str(value)) == ADMIN_ID
    except ValueError:
        return False


@schemathesis.hook
def filter_case(context, case):
    operation = (case.operation.method.upper(), case.operation.path)
    path_parameters = case.path_parameters or {}
    if operation in ADMIN_PATHS and _is_admin_id(path_parameters.get("id")):
        return False
    if operation == ("DELETE", "/tokens/{client}") and str(path_parameters.get("client")) == CLIENT:
        return False
    return True


OIDC_ISSUER = os.environ.get("SCHEMATHESIS_OIDC_ISSUER")
OIDC_PROVIDER = os.environ.get("SCHEMATHESIS_OIDC_PROVIDER", "fake")


def _choice(value, ways):
    """A choice among `ways` that the generated case decides: a seeded run
    sends the same requests each time."""
    text = json.dumps(value, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).digest()[0] % ways


def _mint(claims):
    request = urllib.request.Request(
        OIDC_ISSUER + "/mint",
        data=json.dumps(claims).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)["id_token"]


def _claims_with(text, way):
    now = int(time.time())
    claims = {"sub": "schemathesis-sub", "email": "st@example.com", "email_verified": True}
    if way == 0:
        claims["sub"] = text
    elif way == 1:
        claims["email"] = text
    elif way == 2:
        claims["preferred_username"] = text
    elif way == 3:
        claims["sub"] = text
        claims["email"] = text
    elif way == 4:
        # iat and exp anywhere around now, from the text.
        offset = int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "big") % 7200 - 3600
        claims["sub"] = text
        claims["iat"] = now + offset
        claims["exp"] = now + offset + 300
    return claims


# The run's admin token: sent here rather than with `--header`, which would
# take the place of the Basic credentials below.
TOKEN = os.environ["SCHEMATHESIS_TOKEN"]


@schemathesis.hook
def before_call(context, case, **kwargs):
    path = case.operation.path
    body = case.body
    case.headers = dict(case.headers or {})
    case.headers["Authorization"] = f"Token {TOKEN}"
    if path == "/login/oidc/{provider}" and OIDC_ISSUER:
        way = _choice([case.path_parameters, body], 8)
        if way < 6 and case.path_parameters is not None:
            case.path_parameters["provider"] = OIDC_PROVIDER
        if isinstance(body, dict) and isinstance(body.get("id_token"), str) and way < 5:
            body["id_token"] = _mint(_claims_with(body["id_token"], way))
    elif path in ("/login", "/token") and isinstance(body, dict):
        username, password = body.get("username"), body.get("password")
        if isinstance(username, str) and isinstance(password, str) and _choice(body, 2) == 0:
            credentials = base64.b64encode(f"{username}:{password}".encode()).decode()
            case.headers["Authorization"] = f"Basic {credentials}"
            del body["username"]
            del body["password"]
