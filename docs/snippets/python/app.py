"""A small command-line app that signs in to multitoken and uses its key.

The book's page "Use it from your app" shows this file piece by piece, and
tests/api/services/client_snippets.rs runs it against a live server:

    export MULTITOKEN_URL=http://localhost:8000
    python app.py sign-in alice laptop        # reads the password
    python app.py whoami
    python app.py devices
    python app.py sign-out-device phone
    python app.py logout
"""

# ANCHOR: setup
import getpass
import os
import sys
import time
from pathlib import Path
from urllib.parse import quote

import requests

BASE_URL = os.environ.get("MULTITOKEN_URL", "http://localhost:8000")
KEY_FILE = Path(
    os.environ.get("MULTITOKEN_KEY_FILE")
    or Path.home() / ".config" / "example-app" / "multitoken-key"
)

http = requests.Session()
# The user sees it in their list of devices: name your app and its version.
http.headers["User-Agent"] = "example-app/1.0"


class SignInFailed(Exception):
    """The server refused the username, password or client name."""


class SignInNeeded(Exception):
    """There is no usable key: the user has to sign in (again)."""
# ANCHOR_END: setup


# ANCHOR: request
def request(method, path, key=None, **kwargs):
    """One call to multitoken; a 429 or 503 is retried after Retry-After."""
    headers = {"Authorization": f"Token {key}"} if key else {}
    for attempt in range(3):
        response = http.request(
            method, BASE_URL + path, headers=headers, timeout=10, **kwargs
        )
        if response.status_code not in (429, 503) or attempt == 2:
            return response
        try:
            wait = int(response.headers.get("Retry-After", "1"))
        except ValueError:
            return response
        if wait > 30:
            return response  # too long to keep the user waiting: say so
        print(f"busy ({response.status_code}): retrying in {wait} s", file=sys.stderr)
        time.sleep(wait)
# ANCHOR_END: request


# ANCHOR: sign_in
def sign_in(username, password, client):
    """Signs this device in as `client` and returns its new key."""
    response = request(
        "POST",
        "/login",
        json={"username": username, "password": password, "client": client},
    )
    body = response.json()
    if response.status_code == 200:
        return body["auth_token"]
    # 403 and 429: {"detail": "..."}; 400: {"<field>": ["...", ...]}, where
    # a wrong username or password is a "non_field_errors" message, and a
    # missing two-factor code is an "otp" one.
    if "detail" in body:
        raise SignInFailed(body["detail"])
    raise SignInFailed(
        " ".join(
            message if field == "non_field_errors" else f"{field}: {message}"
            for field, messages in body.items()
            for message in messages
        )
    )
# ANCHOR_END: sign_in


# ANCHOR: store_key
def save_key(key):
    """Keeps the key in a file that only this user may read (mode 0600)."""
    KEY_FILE.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(KEY_FILE, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as file:
        os.fchmod(file.fileno(), 0o600)  # the file may have been there before
        file.write(key)


def load_key():
    try:
        return KEY_FILE.read_text().strip() or None
    except FileNotFoundError:
        return None


def forget_key():
    KEY_FILE.unlink(missing_ok=True)
# ANCHOR_END: store_key


# ANCHOR: call_api
def call_api(method, path, **kwargs):
    """A call with the stored key. A refused key is forgotten: sign in again."""
    key = load_key()
    if key is None:
        raise SignInNeeded("Not signed in.")
    response = request(method, path, key, **kwargs)
    # The key itself was refused (not the request): the header says so.
    challenge = response.headers.get("WWW-Authenticate", "")
    if response.status_code == 401 and challenge.lower().startswith("token"):
        forget_key()
        detail = response.json().get("detail")
        if detail == "Token has expired.":
            raise SignInNeeded("Your session has expired. Sign in again.")
        # "Invalid token.": signed out from another device, by an admin, by a
        # password change or reset, or the key was never valid.
        raise SignInNeeded("This device was signed out. Sign in again.")
    return response


def whoami():
    response = call_api("GET", "/whoami")
    response.raise_for_status()
    return response.json()
# ANCHOR_END: call_api


# ANCHOR: devices
def devices():
    """The user's devices, most recently used first."""
    response = call_api("GET", "/tokens")
    response.raise_for_status()
    return response.json()


def sign_out_device(client):
    """Signs out one device: its key stops working at once. False if none."""
    response = call_api("DELETE", "/tokens/" + quote(client, safe=""))
    if response.status_code == 404:
        return False
    response.raise_for_status()  # 204 No Content
    return True
# ANCHOR_END: devices


# ANCHOR: log_out
def log_out():
    """Signs this device out, then forgets its key."""
    call_api("POST", "/logout").raise_for_status()
    forget_key()
# ANCHOR_END: log_out


# ANCHOR: main
def main(command=None, *args):
    try:
        if command == "sign-in" and len(args) == 2:
            username, client = args
            # In your app: the sign-in form. Here: a prompt, or standard input.
            if sys.stdin.isatty():
                password = getpass.getpass()
            else:
                password = sys.stdin.readline().rstrip("\n")
            save_key(sign_in(username, password, client))
            print(f"signed in as {username} on {client}")
        elif command == "whoami" and not args:
            me = whoami()
            print(f"{me['username']} on {me['client']}")
        elif command == "devices" and not args:
            for device in devices():
                this = "this device" if device["current"] else ""
                agent = device["user_agent"] or ""
                print(f"{device['client']}\t{this}\t{device['last_used_at']}\t{agent}")
        elif command == "sign-out-device" and len(args) == 1:
            if not sign_out_device(args[0]):
                print(f"no device named {args[0]}", file=sys.stderr)
                return 1
            print(f"signed out {args[0]}")
        elif command == "logout" and not args:
            log_out()
            print("signed out of this device")
        else:
            print(__doc__, file=sys.stderr)
            return 2
    except (SignInFailed, SignInNeeded, requests.RequestException) as error:
        print(error, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
# ANCHOR_END: main
