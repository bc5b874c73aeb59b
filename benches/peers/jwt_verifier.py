"""The JWT verifier of the webhooks guide (docs/src/guides/webhooks.md), as
the peers bench's revocation latency runs it: it checks multitoken's access
JWTs from the JWKS alone (PyJWT) and refuses those whose `sid` a verified
`logout`, `revoked` or `rotated` webhook (Standard Webhooks' own library)
has ended.

`python jwt_verifier.py PORT JWKS_URL`, `WEBHOOK_SECRET` in the environment;
`GET /check` with `Authorization: Bearer <jwt>` answers 200 or 401, `POST
/hooks/multitoken` takes the webhooks (204, or 400 if one does not verify).
"""

import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jwt
from standardwebhooks.webhooks import Webhook

webhook = Webhook(os.environ["WEBHOOK_SECRET"])
jwks = jwt.PyJWKClient(sys.argv[2])
ACCESS_TOKEN_LIFETIME = 5 * 60
ended = {}  # sid -> forget after (its JWTs have all expired by then)
lock = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def answer(self, status):
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        try:
            message = webhook.verify(body, dict(self.headers.items()))
        except Exception:
            return self.answer(400)
        data = message.get("data") or {}
        if message.get("type") in ("logout", "revoked", "rotated") and data.get("sid"):
            with lock:
                ended[data["sid"]] = time.time() + ACCESS_TOKEN_LIFETIME
        self.answer(204)

    def do_GET(self):
        token = self.headers.get("Authorization", "").removeprefix("Bearer ")
        try:
            key = jwks.get_signing_key_from_jwt(token)
            claims = jwt.decode(token, key.key, algorithms=["ES256"],
                                options={"verify_aud": False})
        except jwt.PyJWTError:
            return self.answer(401)
        with lock:
            until = ended.get(claims.get("sid"), 0)
        self.answer(401 if until > time.time() else 200)


ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
