"""The command-line side of the device grant, as the book's page "Sign in
a CLI or a TV" shows it (the part between the ANCHOR lines);
tests/api/services/guide_samples.rs runs it against a live server, with
MULTITOKEN_URL saying where that is.
"""

# ANCHOR: sample
import os, time, requests
from oauthlib.oauth2 import DeviceClient

BASE = os.environ.get("MULTITOKEN_URL", "https://auth.example.com")
client = DeviceClient("my-cli")
codes = requests.post(f"{BASE}/oauth/device_authorization",
                      data={"client_id": "my-cli", "scope": "orders:read"}).json()
print(f"Open {codes['verification_uri']} and enter {codes['user_code']}", flush=True)
interval = codes["interval"]
while True:
    time.sleep(interval)
    body = client.prepare_request_body(codes["device_code"], include_client_id=True)
    answer = requests.post(f"{BASE}/oauth/token", data=body,
                           headers={"Content-Type": "application/x-www-form-urlencoded"}).json()
    if "access_token" in answer:
        break
    if answer["error"] == "slow_down":
        interval += 5
    elif answer["error"] != "authorization_pending":
        raise SystemExit(answer["error"])
key = answer["access_token"]
print(requests.get(f"{BASE}/whoami", headers={"Authorization": f"Bearer {key}"}).json())
# ANCHOR_END: sample
