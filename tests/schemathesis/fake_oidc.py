"""A minimal OpenID provider for Schemathesis runs and by-hand probes.

    python3 tests/schemathesis/fake_oidc.py PORT

serves on 127.0.0.1:PORT its discovery document and JWKS (one RSA key made
at start, RS256), and mints ID tokens for whoever asks: POST /mint with a
JSON object of claims answers the compact RS256 token of those claims
(`iss`, `aud`, `iat` and `exp` default to this issuer, `multitoken`, now and
now + 300). Standard library only (the RSA key is made with Miller-Rabin),
so it runs wherever Schemathesis does. A test tool: it signs anything.
"""

import base64
import hashlib
import json
import secrets
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SMALL_PRIMES = [p for p in range(3, 2000) if all(p % d for d in range(2, int(p**0.5) + 1))]
# DER prefix of a SHA-256 DigestInfo (RFC 8017, 9.2).
SHA256_PREFIX = bytes.fromhex("3031300d060960864801650304020105000420")


def is_probable_prime(n):
    if any(n % p == 0 for p in SMALL_PRIMES):
        return n in SMALL_PRIMES
    d, r = n - 1, 0
    while d % 2 == 0:
        d, r = d // 2, r + 1
    for _ in range(40):
        x = pow(secrets.randbelow(n - 3) + 2, d, n)
        if x in (1, n - 1):
            continue
        for _ in range(r - 1):
            x = pow(x, 2, n)
            if x == n - 1:
                break
        else:
            return False
    return True


def prime(bits):
    while True:
        candidate = secrets.randbits(bits) | (3 << (bits - 2)) | 1
        if is_probable_prime(candidate):
            return candidate


def rsa_key(bits=2048, e=65537):
    while True:
        p, q = prime(bits // 2), prime(bits // 2)
        phi = (p - 1) * (q - 1)
        if p != q and phi % e:
            return p * q, e, pow(e, -1, phi)


def b64u(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def int_bytes(n):
    return n.to_bytes((n.bit_length() + 7) // 8, "big")


class Provider:
    def __init__(self, port):
        self.issuer = f"http://127.0.0.1:{port}"
        self.n, self.e, self.d = rsa_key()

    def mint(self, claims):
        now = int(time.time())
        claims = {"iss": self.issuer, "aud": "multitoken", "iat": now, "exp": now + 300, **claims}
        header = {"alg": "RS256", "typ": "JWT", "kid": "k1"}
        signed = b64u(json.dumps(header).encode()) + "." + b64u(json.dumps(claims).encode())
        size = (self.n.bit_length() + 7) // 8
        digest_info = SHA256_PREFIX + hashlib.sha256(signed.encode()).digest()
        padded = b"\x00\x01" + b"\xff" * (size - len(digest_info) - 3) + b"\x00" + digest_info
        signature = pow(int.from_bytes(padded, "big"), self.d, self.n).to_bytes(size, "big")
        return signed + "." + b64u(signature)

    def documents(self):
        return {
            "/.well-known/openid-configuration": {
                "issuer": self.issuer,
                "authorization_endpoint": self.issuer + "/auth",
                "token_endpoint": self.issuer + "/token",
                "jwks_uri": self.issuer + "/jwks",
                "response_types_supported": ["code"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256"],
            },
            "/jwks": {
                "keys": [
                    {"kty": "RSA", "kid": "k1", "use": "sig", "alg": "RS256",
                     "n": b64u(int_bytes(self.n)), "e": b64u(int_bytes(self.e))}
                ]
            },
        }


def main():
    port = int(sys.argv[1])
    provider = Provider(port)
    documents = provider.documents()

    class Handler(BaseHTTPRequestHandler):
        def answer(self, status, body):
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            document = documents.get(self.path)
            self.answer(200 if document else 404, document or {})

        def do_POST(self):
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            if self.path == "/mint":
                self.answer(200, {"id_token": provider.mint(json.loads(body or b"{}"))})
            else:
                # The token endpoint: every code is unknown.
                self.answer(400, {"error": "invalid_grant"})

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    print(f"issuer {provider.issuer}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
