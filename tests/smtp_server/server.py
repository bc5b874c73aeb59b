"""A real SMTP server for tests/api/ops/smtp_tls.rs, on aiosmtpd.

    server.py make-certs DIR
        writes DIR/ca.pem (a test CA) and DIR/cert.pem, DIR/key.pem (a
        certificate for localhost and 127.0.0.1 that the CA signed).
    server.py serve MODE CERTS OUT [USER PASSWORD]
        serves on a free loopback port, printing "listening PORT" once ready,
        until killed. MODE: starttls (STARTTLS required before anything),
        smtps (implicit TLS) or plain (no TLS offered). With USER and
        PASSWORD, AUTH PLAIN/LOGIN is required and checked. Each message
        received is written whole to OUT/N.eml, and each AUTH as a line
        "MECHANISM ok|refused" of OUT/auth.log.
"""

import datetime
import ipaddress
import itertools
import os
import socket
import ssl
import sys
import time

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def make_certs(directory):
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "multitoken test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False),
            critical=True,
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    with open(os.path.join(directory, "ca.pem"), "wb") as f:
        f.write(ca.public_bytes(pem))
    with open(os.path.join(directory, "cert.pem"), "wb") as f:
        f.write(cert.public_bytes(pem))
    with open(os.path.join(directory, "key.pem"), "wb") as f:
        f.write(
            key.private_bytes(
                pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )


def serve(mode, certs, out, user=None, password=None):
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult, LoginPassword

    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(os.path.join(certs, "cert.pem"), os.path.join(certs, "key.pem"))
    counter = itertools.count(1)

    class Handler:
        async def handle_DATA(self, server, session, envelope):
            path = os.path.join(out, f"{next(counter)}.eml")
            with open(path + ".tmp", "wb") as f:
                f.write(envelope.original_content or envelope.content)
            os.rename(path + ".tmp", path)
            return "250 OK"

    def authenticator(server, session, envelope, mechanism, auth_data):
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login == user.encode()
            and auth_data.password == password.encode()
        )
        with open(os.path.join(out, "auth.log"), "a") as f:
            f.write(f"{mechanism} {'ok' if ok else 'refused'}\n")
        return AuthResult(success=ok, handled=False)

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    options = {}
    if user is not None:
        options.update(authenticator=authenticator, auth_required=True)
    if mode == "starttls":
        options.update(tls_context=context, require_starttls=True, auth_require_tls=True)
    elif mode == "smtps":
        # Already TLS from the first byte; aiosmtpd only counts STARTTLS as TLS for AUTH.
        options.update(ssl_context=context, auth_require_tls=False)
    elif mode == "plain":
        options.update(auth_require_tls=False)
    else:
        sys.exit(f"unknown mode {mode}")
    controller = Controller(Handler(), hostname="127.0.0.1", port=port, **options)
    controller.start()
    print(f"listening {port}", flush=True)
    try:
        while True:
            time.sleep(3600)
    finally:
        controller.stop()


if __name__ == "__main__":
    if sys.argv[1] == "make-certs":
        make_certs(sys.argv[2])
    elif sys.argv[1] == "serve":
        serve(*sys.argv[2:])
    else:
        sys.exit(__doc__)
