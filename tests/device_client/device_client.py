"""A device that signs in with the OAuth device grant through oauthlib's
DeviceClient (tests/api/auth/device_grant.rs runs it with .venv-tests/):
the device authorization request from the RFC 8414 metadata's endpoint,
then polling as RFC 8628 says (slow_down adds 5 s), then the key at /whoami.

    python device_client.py ISSUER CLIENT_ID [SCOPE]

Prints one JSON line with the codes for the person, and once signed in one
with the outcome ({"whoami", "polls", "slow_downs", "token_type", "scope"}).
Its first two polls go out back to back, so that slow_down is exercised.
"""

import json
import os
import sys
import time

import requests
from oauthlib.oauth2 import DeviceClient
from oauthlib.oauth2.rfc6749.errors import OAuth2Error

issuer, client_id = sys.argv[1], sys.argv[2]
scope = sys.argv[3] if len(sys.argv) > 3 else None
if issuer.startswith("http://"):
    # Tests serve plain HTTP on the loopback interface.
    os.environ["OAUTHLIB_INSECURE_TRANSPORT"] = "1"

metadata = requests.get(f"{issuer}/.well-known/oauth-authorization-server", timeout=10).json()
assert metadata["issuer"] == issuer, metadata
client = DeviceClient(client_id)
# The device authorization request, as oauthlib builds it (RFC 8628 §3.1).
uri = client.prepare_request_uri(metadata["device_authorization_endpoint"], scope=scope)
endpoint, _, query = uri.partition("?")
codes = requests.post(
    endpoint,
    data=query,
    headers={"Content-Type": "application/x-www-form-urlencoded"},
    timeout=10,
)
codes.raise_for_status()
codes = codes.json()
print(json.dumps({"user_code": codes["user_code"],
                  "verification_uri_complete": codes["verification_uri_complete"]}), flush=True)

interval, polls, slow_downs = codes["interval"], 0, 0
while True:
    if polls > 1:
        time.sleep(interval)
    polls += 1
    body = client.prepare_request_body(codes["device_code"], include_client_id=True)
    answer = requests.post(
        metadata["token_endpoint"],
        data=body,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        timeout=10,
    )
    try:
        token = client.parse_request_body_response(answer.text)
        break
    except OAuth2Error as error:
        if error.error == "slow_down":
            slow_downs += 1
            interval += 5
        elif error.error != "authorization_pending":
            print(json.dumps({"error": error.error}), flush=True)
            sys.exit(2)

granted = token.get("scope")
if isinstance(granted, list):
    # oauthlib hands the space-separated scope back as a list.
    granted = " ".join(granted)
whoami = requests.get(
    f"{issuer}/whoami",
    headers={"Authorization": f"Bearer {token['access_token']}"},
    timeout=10,
).json()
print(json.dumps({"whoami": whoami, "polls": polls, "slow_downs": slow_downs,
                  "token_type": token["token_type"], "scope": granted}), flush=True)
