"""A program written against the client that openapi-python-client generates
from the live /openapi.json (the package multitoken_client, found on
PYTHONPATH), run by tests/api/services/generated_clients.rs:

    python driver.py BASE_URL USERNAME PASSWORD CLIENT OTHER_CLIENT OTHER_KEY

First imports the module of every operation (a client that does not import
is the usual failure of a generator on a document it misreads). Then logs in
as CLIENT, lists the devices, revokes OTHER_CLIENT, lists them again, and
asks /whoami with OTHER_KEY (the revoked device's key). Prints one JSON line
with what it saw, the same shape as driver.ts's, plus "operations": how many
operation modules imported.
"""

import importlib
import json
import pkgutil
import sys

import multitoken_client.api

from multitoken_client import AuthenticatedClient, Client
from multitoken_client.api.account import list_devices, revoke_device, whoami
from multitoken_client.api.login import login
from multitoken_client.models import Detail, LoginBody, TokenResponse


def import_every_operation():
    """Imports each module of multitoken_client.api (a package per tag, a
    module per operation); returns how many operations there are."""
    operations = 0
    for module in pkgutil.walk_packages(
        multitoken_client.api.__path__, "multitoken_client.api."
    ):
        importlib.import_module(module.name)
        operations += not module.ispkg
    return operations


def main(base_url, username, password, client, other_client, other_key):
    operations = import_every_operation()
    signed_in = login.sync_detailed(
        client=Client(base_url=base_url),
        body=LoginBody(username=username, password=password, client=client),
    )
    if not isinstance(signed_in.parsed, TokenResponse):
        raise SystemExit(f"login: {signed_in.status_code} {signed_in.content!r}")
    api = AuthenticatedClient(
        base_url=base_url, token=signed_in.parsed.auth_token, prefix="Token"
    )

    def devices():
        listed = list_devices.sync_detailed(client=api)
        if not isinstance(listed.parsed, list):
            raise SystemExit(f"list_devices: {listed.status_code} {listed.content!r}")
        return sorted(
            ({"client": device.client, "current": device.current} for device in listed.parsed),
            key=lambda device: device["client"],
        )

    before = devices()
    revoked = revoke_device.sync_detailed(other_client, client=api)
    after = devices()
    refused = whoami.sync_detailed(
        client=AuthenticatedClient(base_url=base_url, token=other_key, prefix="Token")
    )
    detail = refused.parsed.detail if isinstance(refused.parsed, Detail) else None
    print(
        json.dumps(
            {
                "operations": operations,
                "client": signed_in.parsed.client,
                "before": before,
                "revoke_status": int(revoked.status_code),
                "after": after,
                "revoked_key": {"status": int(refused.status_code), "detail": detail},
            }
        )
    )


if __name__ == "__main__":
    main(*sys.argv[1:])
