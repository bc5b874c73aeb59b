"""Schemathesis hooks for bench/schemathesis.sh (loaded via SCHEMATHESIS_HOOKS).

The run holds a single admin token for its whole length, and Schemathesis
cannot log in again. POST /logout and /logout/all are excluded on the command
line, since every call of theirs revokes that token; the operations below
revoke it, or take the admin's rights away, only for some inputs, so those
cases alone are dropped and the operations stay tested:

- PATCH /admin/users/{id}, DELETE /admin/users/{id}/tokens and
  DELETE /admin/users/{id}/tokens/{client} on the admin's own id (the
  stateful phase finds it in GET /admin/users and follows the link);
- DELETE /tokens/{client} on the run's own client.
"""

import os

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
