#!/usr/bin/env python3
"""multitoken against its peers, in one run: `python3 benches/peers/run.py`.

Peers: Django REST Framework's TokenAuthentication and django-rest-knox
(Django on SQLite behind gunicorn), Better Auth with its API-key plugin
(node, PostgreSQL through `pg`), and multitoken on SQLite and on PostgreSQL.
Each is built from the package registries only (benches/peers/requirements.txt
into benches/peers/.venv, benches/peers/better_auth's lockfile into its
node_modules; both git-ignored) and seeded with the same shape: USERS users,
3 keys each (DRF: 1, it allows no more), every password the same.

One load generator for all: the load bench's external mode (benches/load.rs,
LOAD_TARGET), with the same connections, duration and key-pool shape (a
random key of the pool for each request, every answer checked for its
user). Rounds alternate: each round measures every peer once, in a rotated
order, and the page reports each figure's median over the rounds. Then the
revocation latency: from the revoking request's answer to the first refusal
of the key, on the same instance, and for multitoken on PostgreSQL also on
another instance, through nginx (when installed), at the DRF resource server
of tests/resource_server (it introspects each key at `/introspect` and keeps
the answer for its caching seconds: 5, the tests' default), and at the
webhooks guide's JWT verifier (benches/peers/jwt_verifier.py: a device's
access JWT, refused once the `logout` webhook names its `sid`); those two run
on the tests' .venv-tests. `--revocation` runs multitoken's revocation rows
alone (no peers, no throughput) and puts them into the last run's page, with
their own date and machine.

Writes docs/src/benchmarks.md and the README's headline (between the
`peers-benchmark` markers); `--smoke` runs a tiny version (50 users, one
short round) and writes its page into the temporary folder only. Every
child process is killed and every database it created dropped on the way
out, whatever the way. Needs: cargo, python3, node and npm, PostgreSQL at
PEERS_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/postgres).
Standard library only.
"""
import argparse
import atexit
import base64
import datetime
import http.client
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HERE = os.path.join(ROOT, "benches", "peers")
VENV = os.path.join(HERE, ".venv")
BETTER_AUTH = os.path.join(HERE, "better_auth")
PASSWORD = "load bench password 42"  # benches/load.rs seeds multitoken with it
ADMIN_URL = os.environ.get("PEERS_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")
PAGE = os.path.join(ROOT, "docs", "src", "benchmarks.md")
README = os.path.join(ROOT, "README.md")
MARKERS = ("<!-- peers-benchmark:start -->", "<!-- peers-benchmark:end -->")


def log(message):
    print(f"[peers {time.strftime('%H:%M:%S')}] {message}", flush=True)


# ------------------------------------------------------------ cleaning up


class Cleanup:
    """Every child in a process group of its own, killed whole; every
    database dropped; run at exit, on SIGTERM and SIGINT alike."""

    def __init__(self):
        self.children = []
        self.databases = []
        self.folders = []
        atexit.register(self.run)
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(sig, self.on_signal)

    def on_signal(self, number, _frame):
        raise SystemExit(128 + number)

    def start(self, args, **kwargs):
        child = subprocess.Popen(args, start_new_session=True, **kwargs)
        self.children.append(child)
        return child

    def stop(self, child):
        try:
            os.killpg(child.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        try:
            child.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
        try:
            os.killpg(child.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        child.wait()

    def run(self):
        while self.children:
            self.stop(self.children.pop())
        while self.databases:
            name = self.databases.pop()
            psql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)", check=False)
        while self.folders:
            shutil.rmtree(self.folders.pop(), ignore_errors=True)


def psql(sql, check=True):
    return subprocess.run(
        ["psql", ADMIN_URL, "-v", "ON_ERROR_STOP=1", "-qc", sql],
        check=check,
        capture_output=True,
        text=True,
    )


def database_url(name):
    base, _, _ = ADMIN_URL.rpartition("/")
    return f"{base}/{name}"


def create_database(cleanup, name):
    psql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    cleanup.databases.append(name)
    psql(f"CREATE DATABASE {name}")
    return database_url(name)


def free_port():
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        return listener.getsockname()[1]


# ------------------------------------------------------------ building


def run(args, **kwargs):
    log("$ " + " ".join(args))
    return subprocess.run(args, check=True, **kwargs)


def build(peers=True):
    """The load bench and the multitoken binary it sits beside (release),
    and the peers' packages unless `peers` is false."""
    out = subprocess.run(
        ["cargo", "bench", "--bench", "load", "--no-run", "--message-format=json"],
        cwd=ROOT,
        check=True,
        stdout=subprocess.PIPE,
        text=True,
    ).stdout
    load = None
    for line in out.splitlines():
        message = json.loads(line)
        target = message.get("target", {})
        if message.get("executable") and target.get("name") == "load":
            load = message["executable"]
    if load is None:
        raise SystemExit("cargo did not report the load bench's executable")
    server = os.path.join(os.path.dirname(os.path.dirname(load)), "multitoken")
    if not os.path.exists(server):
        raise SystemExit(f"no server binary beside the bench: {server}")
    if not peers:
        return load, server
    if not os.path.exists(os.path.join(VENV, "bin", "gunicorn")):
        run([sys.executable, "-m", "venv", VENV])
        run([os.path.join(VENV, "bin", "pip"), "install", "-q", "-r",
             os.path.join(HERE, "requirements.txt")])
    if not os.path.exists(os.path.join(BETTER_AUTH, "node_modules", "better-auth")):
        run(["npm", "ci", "--no-audit", "--no-fund"], cwd=BETTER_AUTH)
    return load, server


def versions(server):
    python = os.path.join(VENV, "bin", "python")
    found = json.loads(subprocess.run(
        [python, "-c", "import importlib.metadata as m, json; print(json.dumps({n: m.version(n) for n in "
         "['Django', 'djangorestframework', 'django-rest-knox', 'gunicorn']}))"],
        check=True, capture_output=True, text=True).stdout)
    for package in ("better-auth", "@better-auth/api-key", "pg"):
        with open(os.path.join(BETTER_AUTH, "node_modules", package, "package.json")) as meta:
            found[package] = json.load(meta)["version"]
    found["node"] = subprocess.run(["node", "--version"], capture_output=True, text=True).stdout.strip()
    found["Python"] = subprocess.run([python, "--version"], capture_output=True, text=True).stdout.split()[-1]
    found["multitoken"] = subprocess.run([server, "--version"], capture_output=True, text=True).stdout.split()[-1]
    found["multitoken commit"] = commit()
    nginx = find_nginx()
    if nginx:
        found["nginx"] = subprocess.run([nginx, "-v"], capture_output=True, text=True).stderr.strip().split("/")[-1]
    found["PostgreSQL"] = subprocess.run(
        ["psql", ADMIN_URL, "-tAc", "SHOW server_version"], capture_output=True, text=True).stdout.strip()
    return found, nginx


def commit():
    return subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()


def find_nginx():
    return shutil.which("nginx") or ("/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None)


def machine():
    model = "unknown CPU"
    with open("/proc/cpuinfo") as info:
        for line in info:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {
        "cores": os.cpu_count(),
        "cpu": model,
        "kernel": platform.release(),
        # What else loaded the machine: the figures only compare within the run.
        "load at start": f"{os.getloadavg()[0]:.2f}",
    }


# ------------------------------------------------------------ the peers


class Peer:
    """A server to measure: how to check a key, log in, and revoke a key."""

    def __init__(self, name, label, port, process, check_path, header, prefix, keys,
                 login_path, login_type, login_prefix, logins, login_expect):
        self.name, self.label, self.port, self.process = name, label, port, process
        self.check_path, self.header, self.prefix, self.keys = check_path, header, prefix, keys
        self.login_path, self.login_type, self.login_prefix = login_path, login_type, login_prefix
        self.logins, self.login_expect = logins, login_expect
        self.revoke = None  # fn(connection, line) -> status, set below

    def wait_up(self, probe):
        deadline = time.time() + 60
        while time.time() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"{self.label} exited with {self.process.returncode}")
            try:
                connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                connection.request("GET", probe)
                connection.getresponse().read()
                return self
            except OSError:
                time.sleep(0.2)
        raise SystemExit(f"{self.label} did not answer within 60 s")


def write_lines(path, lines):
    with open(path, "w") as out:
        out.writelines(line + "\n" for line in lines)
    return path


def usernames(users):
    return [f"user{i:06d}" for i in range(1, users + 1)]


def start_multitoken(cleanup, work, server, name, label, url, load, users, extra_env=None):
    keys = os.path.join(work, f"{name}_keys.tsv")
    if not os.path.exists(keys):
        env = dict(os.environ, LOAD_SEED_DATABASE_URL=url, LOAD_USERS=str(users), LOAD_KEYS_FILE=keys)
        run([load], env=env, cwd=ROOT, stdout=subprocess.DEVNULL)
    port = free_port()
    env = dict(os.environ, DATABASE_URL=url, MULTITOKEN_BIND=f"127.0.0.1:{port}", RUST_LOG="warn",
               TOKEN_TTL="14d", TOKEN_TOUCH_INTERVAL="60s", **(extra_env or {}))
    env.pop("TOKEN_MAX_AGE", None)
    with open(os.path.join(work, f"{name}_{port}.log"), "w") as out:
        process = cleanup.start([server, "serve"], env=env, stdout=out, stderr=out)
    # A client name of its own: a login as `web` would replace a key of the pool.
    logins = write_lines(os.path.join(work, f"{name}_logins.tsv"), [
        json.dumps({"username": u, "password": PASSWORD, "client": "bench-login"}) for u in usernames(users)])
    peer = Peer(name, label, port, process, "/whoami", "Authorization", "Token ", keys,
                "/login", "application/json", None, logins, '"auth_token"')
    peer.revoke = lambda connection, line: request(
        connection, "POST", "/logout", {"Authorization": "Token " + line[0]})
    return peer.wait_up("/healthz")


def start_django(cleanup, work, users):
    python = os.path.join(VENV, "bin", "python")
    env = dict(os.environ, DJANGO_SETTINGS_MODULE="django_peer.settings",
               PEER_DATABASE=os.path.join(work, "django.sqlite3"), PYTHONPATH=HERE)
    log("seeding Django (DRF and knox)")
    run([python, "-m", "django_peer.seed", str(users), PASSWORD, work], env=env, cwd=HERE)
    port = free_port()
    # gunicorn's advice: 2 x cores + 1 workers; gthread keeps connections
    # alive (the sync worker closes each one after one answer).
    workers = 2 * (os.cpu_count() or 1) + 1
    with open(os.path.join(work, "gunicorn.log"), "w") as out:
        process = cleanup.start(
            [os.path.join(VENV, "bin", "gunicorn"), "--bind", f"127.0.0.1:{port}",
             "--worker-class", "gthread", "--workers", str(workers), "--threads", "4",
             "--keep-alive", "60", "--no-control-socket", "--log-level", "warning",
             "django.core.wsgi:get_wsgi_application()"],
            env=env, cwd=HERE, stdout=out, stderr=out)
    names = usernames(users)
    drf = Peer("drf", "DRF TokenAuthentication", port, process, "/drf/whoami", "Authorization", "Token ",
               os.path.join(work, "drf_keys.tsv"), "/drf/login", "application/json", None,
               write_lines(os.path.join(work, "drf_logins.tsv"),
                           [json.dumps({"username": u, "password": PASSWORD}) for u in names]),
               '"token"')
    drf.revoke = lambda connection, line: request(
        connection, "POST", "/drf/logout", {"Authorization": "Token " + line[0]})
    basic = [base64.b64encode(f"{u}:{PASSWORD}".encode()).decode() for u in names]
    knox = Peer("knox", "django-rest-knox", port, process, "/knox/whoami", "Authorization", "Token ",
                os.path.join(work, "knox_keys.tsv"), "/knox/login", None, "Basic ",
                write_lines(os.path.join(work, "knox_logins.tsv"), basic), '"token"')
    knox.revoke = lambda connection, line: request(
        connection, "POST", "/knox/logout", {"Authorization": "Token " + line[0]})
    drf.wait_up("/drf/whoami")
    return drf, knox


def start_better_auth(cleanup, work, users):
    url = create_database(cleanup, f"mt_peers_better_auth_{os.getpid()}")
    env = dict(os.environ, DATABASE_URL=url, NODE_ENV="production")
    server = os.path.join(BETTER_AUTH, "server.mjs")
    keys = os.path.join(work, "better_auth_keys.tsv")
    log("seeding Better Auth")
    run(["node", server, "migrate"], env=env, cwd=BETTER_AUTH)
    run(["node", server, "seed", str(users), keys, PASSWORD], env=env, cwd=BETTER_AUTH)
    port = free_port()
    with open(os.path.join(work, "better_auth.log"), "w") as out:
        process = cleanup.start(["node", server, "serve", str(port)], env=env, cwd=BETTER_AUTH,
                                stdout=out, stderr=out)
    logins = write_lines(os.path.join(work, "better_auth_logins.tsv"), [
        json.dumps({"email": f"{u}@example.com", "password": PASSWORD}) for u in usernames(users)])
    peer = Peer("better_auth", "Better Auth (API keys)", port, process, "/api/auth/get-session",
                "x-api-key", "", keys, "/api/auth/sign-in/email", "application/json", None, logins,
                '"token"')
    origin = f"http://127.0.0.1:{port}"

    def revoke(connection, line):
        # Deleting a key takes its owner's session: sign in first (untimed).
        email = line[1]
        status, headers, _ = request(connection, "POST", "/api/auth/sign-in/email",
                                     {"Content-Type": "application/json"},
                                     json.dumps({"email": email, "password": PASSWORD}))
        cookie = "; ".join(c.split(";", 1)[0] for c in headers.get_all("set-cookie") or [])
        return ("prepared", lambda: request(
            connection, "POST", "/api/auth/api-key/delete",
            {"Content-Type": "application/json", "Cookie": cookie, "Origin": origin},
            json.dumps({"keyId": line[2]})))

    peer.revoke = revoke
    return peer.wait_up("/api/auth/ok")


# ------------------------------------------------------------ measuring


def measure(load, peer, kind, secs, warmup, conns):
    env = dict(os.environ, LOAD_SECS=str(secs), LOAD_WARMUP_SECS=str(warmup),
               LOAD_CONNS=str(conns), LOAD_THREADS="1", LOAD_TARGET_PID=str(peer.process.pid))
    for name in ("LOAD_AUTH_HEADER_PREFIX", "LOAD_TARGET_CONTENT_TYPE", "LOAD_EXPECT",
                 "LOAD_TARGET_METHOD", "LOAD_SEED_DATABASE_URL"):
        env.pop(name, None)
    if kind == "check":
        env.update(LOAD_TARGET=f"http://127.0.0.1:{peer.port}{peer.check_path}",
                   LOAD_KEYS_FILE=peer.keys, LOAD_AUTH_HEADER=peer.header,
                   LOAD_AUTH_HEADER_PREFIX=peer.prefix)
    else:
        env.update(LOAD_TARGET=f"http://127.0.0.1:{peer.port}{peer.login_path}",
                   LOAD_KEYS_FILE=peer.logins, LOAD_TARGET_METHOD="POST",
                   LOAD_EXPECT=peer.login_expect)
        if peer.login_type:
            env["LOAD_TARGET_CONTENT_TYPE"] = peer.login_type
        else:
            env.update(LOAD_AUTH_HEADER="Authorization", LOAD_AUTH_HEADER_PREFIX=peer.login_prefix)
    out = subprocess.run([load], env=env, cwd=ROOT, check=True, stdout=subprocess.PIPE, text=True).stdout
    figures = json.loads(out.strip().splitlines()[-1])
    log(f"{peer.label:<28} {kind:<5} {figures['rps']:9.1f}/s  p99 {figures['p99_ms']:8.2f} ms  "
        f"CPU {figures['server_cpu_us_per_request'] or 0:9.1f} us  PSS {figures['server_max_pss_mib']:6.1f} MiB  "
        f"(refused {figures['refused']}, wrong body {figures['wrong_body']}, I/O errors {figures['io_errors']})")
    return figures


def request(connection, method, path, headers, body=None):
    connection.request(method, path, body=body, headers=headers)
    response = connection.getresponse()
    return response.status, response.headers, response.read()


def read_keys(path):
    with open(path) as keys:
        return [line.rstrip("\n").split("\t") for line in keys if line.strip()]


def revocation(revoking, polled, lines, header, prefix, check_path, polled_port, revoking_port, limit=5.0):
    """Per key: the check accepted on the polled instance (warming any cache),
    the key revoked on the revoking one, then checks until the first refusal.
    Returns the milliseconds from the revoking answer to that refusal, and
    how many checks were still accepted in between."""
    delays, accepted_after = [], 0
    for line in lines:
        poll = http.client.HTTPConnection("127.0.0.1", polled_port, timeout=10)
        act = http.client.HTTPConnection("127.0.0.1", revoking_port, timeout=10)
        check = {header: prefix + line[0]}
        status, _, _ = request(poll, "GET", check_path, check)
        if status != 200:
            raise SystemExit(f"{revoking.label}: a key to revoke was refused before ({status})")
        prepared = revoking.revoke(act, line)
        status = prepared[1]()[0] if prepared[0] == "prepared" else prepared[0]
        revoked_at = time.perf_counter()
        if status not in (200, 204):
            raise SystemExit(f"{revoking.label}: revoking answered {status}")
        while True:
            status, _, _ = request(poll, "GET", check_path, check)
            if status != 200:
                delays.append((time.perf_counter() - revoked_at) * 1000)
                break
            accepted_after += 1
            if time.perf_counter() - revoked_at > limit:
                delays.append(float("inf"))
                break
        poll.close()
        act.close()
    return delays, accepted_after


def start_nginx(cleanup, work, nginx, upstream_port):
    front, app = free_port(), free_port()
    folder = os.path.join(work, "nginx")
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(ROOT, "tests", "proxies", "nginx.conf.template")) as template:
        site = (template.read().replace("{{MULTITOKEN}}", f"127.0.0.1:{upstream_port}")
                .replace("{{APP}}", f"127.0.0.1:{app}").replace("{{LISTEN}}", f"127.0.0.1:{front}"))
    with open(os.path.join(folder, "site.conf"), "w") as out:
        out.write(site)
    temp = "\n".join(f"    {kind}_temp_path {folder}/{kind};" for kind in
                     ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    config = f"""daemon off;
worker_processes 1;
pid {folder}/nginx.pid;
error_log {folder}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
{temp}
    server {{
        listen 127.0.0.1:{app};
        location / {{ return 200 "user=$http_x_auth_request_user\\n"; }}
    }}
    include {folder}/site.conf;
}}
"""
    with open(os.path.join(folder, "nginx.conf"), "w") as out:
        out.write(config)
    process = cleanup.start([nginx, "-p", folder, "-c", os.path.join(folder, "nginx.conf")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 10
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", front), timeout=1).close()
            return front
        except OSError:
            time.sleep(0.1)
    raise SystemExit("nginx did not listen within 10 s")


# ------------------------------------------------------------ the page


def start_resource_server(cleanup, work, multitoken, caching_seconds):
    """tests/resource_server: DRF with django-oauth-toolkit's resource-server
    mode, which introspects each key at multitoken's `/introspect` (with the
    seeded service user's key, the keys file's first) and keeps an active
    answer `caching_seconds`; `runserver` from the tests' virtualenv."""
    python = os.environ.get("RESOURCE_SERVER_PYTHON", os.path.join(ROOT, ".venv-tests", "bin", "python"))
    if not os.path.exists(python):
        return None, f"no resource server: {python} not found (`.ci/run` makes .venv-tests)"
    folder = os.path.join(work, f"resource_server_{caching_seconds}")
    os.makedirs(folder, exist_ok=True)
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1",
               RESOURCE_SERVER_DATABASE=os.path.join(folder, "db.sqlite3"),
               RESOURCE_SERVER_INTROSPECTION_URL=f"http://127.0.0.1:{multitoken.port}/introspect",
               RESOURCE_SERVER_AUTH_TOKEN=read_keys(multitoken.keys)[0][0],
               RESOURCE_SERVER_TOKEN_CACHING_SECONDS=str(caching_seconds))
    here = os.path.join(ROOT, "tests", "resource_server")
    run([python, "manage.py", "migrate", "--no-input", "--verbosity", "0"], env=env, cwd=here)
    port = free_port()
    with open(os.path.join(folder, "server.log"), "w") as out:
        process = cleanup.start([python, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"],
                                env=env, cwd=here, stdout=out, stderr=out)
    server = Peer("resource_server", "DRF resource server", port, process, "/orders/", "Authorization",
                  "Bearer ", None, None, None, None, None, None)
    return server.wait_up("/orders/"), None


def start_jwt_verifier(cleanup, work, multitoken_port, secret, port):
    """benches/peers/jwt_verifier.py: the webhooks guide's JWT verifier
    (PyJWT from the JWKS, Standard Webhooks), from the tests' virtualenv."""
    python = os.environ.get("RESOURCE_SERVER_PYTHON", os.path.join(ROOT, ".venv-tests", "bin", "python"))
    if not os.path.exists(python):
        return None, f"no JWT verifier: {python} not found (`.ci/run` makes .venv-tests)"
    with open(os.path.join(work, "jwt_verifier.log"), "w") as out:
        process = cleanup.start(
            [python, os.path.join(HERE, "jwt_verifier.py"), str(port),
             f"http://127.0.0.1:{multitoken_port}/.well-known/jwks.json"],
            env=dict(os.environ, WEBHOOK_SECRET=secret), stdout=out, stderr=out)
    verifier = Peer("jwt_verifier", "JWT verifier", port, process, "/check", "Authorization",
                    "Bearer ", None, None, None, None, None, None)
    return verifier.wait_up("/check"), None


def multitoken_revocations(cleanup, work, server, load, users, mt, mt_pg, pg_url, nginx, take):
    """multitoken's revocation latencies beyond the same instance: another
    PostgreSQL instance, through nginx, at a resource server by
    introspection, at a JWT verifier told by webhook."""
    rows = []

    def record(label, where, how, measured, **extra):
        delays, after = measured
        rows.append({"label": label, "where": where, "how": how, "delays": delays,
                     "accepted_after": after, **extra})
        log(f"revocation {label}, {where}: {[round(d, 2) for d in delays]} ms, {after} accepted after")

    # Each cell revokes keys of its own, from the end of the pool.
    cells = iter(range(2, 100))

    def keys_of(peer):
        n = next(cells)
        return read_keys(peer.keys)[-n * take:-(n - 1) * take]

    other = start_multitoken(cleanup, work, server, "mt_postgres", "multitoken (PostgreSQL)", pg_url, load, users)
    record("multitoken (PostgreSQL)", "another instance (token cache on)", "`POST /logout`",
           revocation(mt_pg, other, keys_of(mt_pg), "Authorization", "Token ", "/whoami", other.port, mt_pg.port))
    cleanup.stop(other.process)
    if nginx:
        front = start_nginx(cleanup, work, nginx, mt.port)
        record("multitoken (SQLite)", "through nginx `auth_request`", "`POST /logout`",
               revocation(mt, mt, keys_of(mt), "Authorization", "Token ", "/notes", front, mt.port))
    else:
        rows.append({"label": "multitoken (SQLite)", "where": "through nginx `auth_request`",
                     "how": "`POST /logout`", "reason": "nginx is not installed on this machine"})
    # 5 s, the tests' default: with 0, django-oauth-toolkit takes each
    # introspected token as expired at once and refuses every key.
    for caching in (5,):
        where = (f"at a DRF resource server by introspection (django-oauth-toolkit, "
                 f"`RESOURCE_SERVER_TOKEN_CACHING_SECONDS={caching}`)")
        resource, reason = start_resource_server(cleanup, work, mt, caching)
        if resource is None:
            rows.append({"label": "multitoken (SQLite)", "where": where, "how": "`POST /logout`",
                         "reason": reason})
            continue
        record("multitoken (SQLite)", where, "`POST /logout`",
               revocation(mt, resource, keys_of(mt), "Authorization", "Bearer ", "/orders/",
                          resource.port, mt.port, limit=caching + 10.0))
        cleanup.stop(resource.process)
    # A JWT verifier: an instance of its own that sends webhooks to it.
    where = "at a JWT verifier told by webhook (`sid` of the `logout` event)"
    secret = "whsec_" + base64.b64encode(os.urandom(32)).decode()
    verifier_port = free_port()
    hooked = start_multitoken(cleanup, work, server, "mt_sqlite", "multitoken (SQLite)", mt_sqlite_url(work),
                              load, users, extra_env={
                                  "WEBHOOK_URLS": f"http://127.0.0.1:{verifier_port}/hooks/multitoken",
                                  "WEBHOOK_SECRET": secret})
    verifier, reason = start_jwt_verifier(cleanup, work, hooked.port, secret, verifier_port)
    if verifier is None:
        rows.append({"label": "multitoken (SQLite)", "where": where, "how": "`POST /logout`",
                     "reason": reason})
        return rows
    lines = []
    for key, _ in keys_of(mt):
        act = http.client.HTTPConnection("127.0.0.1", hooked.port, timeout=10)
        status, _, body = request(act, "POST", "/token/refresh", {"Content-Type": "application/json"},
                                  json.dumps({"refresh": key}))
        act.close()
        if status != 200:
            raise SystemExit(f"/token/refresh answered {status}")
        lines.append([json.loads(body)["access"], key])
    revoking = Peer("mt_sqlite", "multitoken (SQLite)", hooked.port, hooked.process, None, None, None,
                    None, None, None, None, None, None)
    revoking.revoke = lambda connection, line: request(
        connection, "POST", "/logout", {"Authorization": "Token " + line[1]})
    record("multitoken (SQLite)", where, "`POST /logout`",
           revocation(revoking, verifier, lines, "Authorization", "Bearer ", "/check", verifier.port,
                      hooked.port, limit=30.0))
    return rows


def mt_sqlite_url(work):
    return os.path.join(work, "multitoken.db")


def fmt(value, digits=0):
    if value is None:
        return "n/a"
    if value == float("inf"):
        return "> 5,000"
    return f"{value:,.{digits}f}"


def ratio(a, b):
    if not a or not b:
        return "n/a"
    return f"{a / b:.1f}×" if a / b >= 1.95 else f"{a / b:.2f}×"


def median_of(rounds, peer, kind, field):
    values = [r[peer][kind][field] for r in rounds if r.get(peer, {}).get(kind)
              and r[peer][kind][field] is not None]
    return statistics.median(values) if values else None


def page(context):
    m, v, s = context["machine"], context["versions"], context["settings"]
    peers, rounds, revocations = context["peers"], context["rounds"], context["revocations"]
    base = "mt_sqlite"
    lines = [
        "# Benchmarks: multitoken and its peers",
        "",
        "<!-- Written by benches/peers/run.py; run it again rather than editing. -->",
        "",
        f"Measured {context['date']} on {m['cores']} cores ({m['cpu']}, Linux {m['kernel']}), "
        f"1-minute load average {m.get('load at start', 'not recorded')} when the run began; "
        f"the load generator shares the cores: absolute figures hold for this "
        f"machine and that moment only; the **ratios** are the result, since every peer ran "
        f"within the same run, in {s['rounds']} alternating rounds (each peer once per round, "
        f"in a rotated order), and each figure is the median of its rounds.",
        "",
        f"Versions: multitoken {v['multitoken']} (commit {v['multitoken commit']}, release build), "
        f"Django {v['Django']}, djangorestframework {v['djangorestframework']}, "
        f"django-rest-knox {v['django-rest-knox']}, gunicorn {v['gunicorn']} (Python {v['Python']}), "
        f"better-auth {v['better-auth']} with @better-auth/api-key {v['@better-auth/api-key']} and "
        f"pg {v['pg']} (node {v['node']}), PostgreSQL {v['PostgreSQL']}"
        + (f", nginx {v['nginx']}" if "nginx" in v else "") + ".",
        "",
        f"Shape: {s['users']:,} users × 3 keys each (DRF: 1 key per user, the most it allows), "
        f"one password for all, hashed by each peer's default hasher. Load: the load bench's "
        f"external mode (`benches/load.rs`, `LOAD_TARGET`), one generator thread, "
        f"{s['conns']} keep-alive connections for key checks and {s['login_conns']} for logins, "
        f"{s['secs']:g} s per measurement after {s['warmup']:g} s of warm-up, a random key of "
        f"the pool per request, every answer checked for the key's user.",
        "",
        "## Key checks and logins",
        "",
        "| peer | checks/s | multitoken's ratio | p99 | server CPU per check | "
        "multitoken's CPU saving | memory (PSS) | logins/s |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    base_rps = median_of(rounds, base, "check", "rps")
    base_cpu = median_of(rounds, base, "check", "server_cpu_us_per_request")
    for key, peer in peers.items():
        rps = median_of(rounds, key, "check", "rps")
        cpu = median_of(rounds, key, "check", "server_cpu_us_per_request")
        lines.append(
            f"| {peer['label']} | {fmt(rps)} | {'1 (base)' if key == base else ratio(base_rps, rps)} | "
            f"{fmt(median_of(rounds, key, 'check', 'p99_ms'), 1)} ms | {fmt(cpu, 1)} µs | "
            f"{'1 (base)' if key == base else ratio(cpu, base_cpu)} | "
            f"{fmt(median_of(rounds, key, 'check', 'server_max_pss_mib'), 1)} MiB | "
            f"{fmt(median_of(rounds, key, 'login', 'rps'), 1)} |")
    lines += [
        "",
        "- **checks/s** and **p99**: `GET` of the peer's cheapest authenticated answer that names "
        "the user: multitoken's `/whoami` (`Authorization: Token`), a DRF `APIView` returning "
        "`request.user.username` with DRF's or knox's `TokenAuthentication`, Better Auth's "
        "`/api/auth/get-session` with `x-api-key` (the API-key plugin's "
        "`enableSessionForAPIKeys`). *multitoken's ratio*: multitoken on SQLite's checks/s "
        "over the peer's.",
        "- **server CPU per check**: user + system time of the server's whole process tree "
        "(gunicorn's and node's workers included) from `/proc`, over the answers; the fairest "
        "figure on a shared machine, since the load generator and the other jobs take cores "
        "too. *multitoken's CPU saving*: the peer's CPU per check over multitoken on SQLite's. "
        "The PostgreSQL server's own CPU is not in it (multitoken on PostgreSQL, Better Auth); "
        "SQLite's is, being in the server's process.",
        "- **memory**: the peak proportional set size of the process tree under that load "
        "(forked workers' shared pages counted once, unlike summed RSS).",
        "- **logins/s**: `POST` of a right password with each peer's default hasher: "
        "multitoken's `/login` (argon2id), DRF's `obtain_auth_token` and knox's `LoginView` "
        "(HTTP Basic; Django's PBKDF2-SHA256, 1,000,000 rounds), Better Auth's "
        "`/api/auth/sign-in/email` (scrypt).",
        "",
        "## Revocation latency",
        "",
        "From the revoking request's answer to the first refusal of the revoked key, each key "
        "checked once on the polled instance first (so that a cache holds it), then checked "
        "back to back after the revocation. Median of "
        f"{s['revocation_keys']} keys; *accepted after* counts checks still accepted "
        "after the revoking answer (all keys together).",
        "",
    ]
    if context.get("revocation_run"):
        r = context["revocation_run"]
        rm = r["machine"]
        lines += [
            f"multitoken's rows were measured again on their own (`run.py --revocation`, "
            f"{r['revocation_keys']} keys each) on {r['date']}, commit {r['commit']}, on "
            f"{rm['cores']} cores ({rm['cpu']}), 1-minute load average {rm['load at start']} "
            f"when it began; the peers' rows are the full run's above.",
            "",
        ]
    lines += [
        "| peer | where the key is checked | revoked by | latency (median) | worst | accepted after |",
        "| --- | --- | --- | ---: | ---: | ---: |",
    ]
    for row in revocations:
        if row.get("delays"):
            lines.append(
                f"| {row['label']} | {row['where']} | {row['how']} | "
                f"{fmt(statistics.median(row['delays']), 2)} ms | {fmt(max(row['delays']), 2)} ms | "
                f"{row['accepted_after']} |")
        else:
            lines.append(f"| {row['label']} | {row['where']} | {row['how']} | n/a¹ | n/a¹ | n/a¹ |")
    notes = [row["reason"] for row in revocations if not row.get("delays")]
    if notes:
        lines += ["", "¹ " + "; ".join(notes) + "."]
    lines += [
        "",
        "## How they ran",
        "",
        f"- multitoken: the release binary, `serve`, defaults (SQLite file; PostgreSQL "
        "with the token cache on), keys seeded by the load bench as logged-in devices.",
        f"- DRF and knox: one Django project (`benches/peers/django_peer/`) on SQLite, `DEBUG` "
        f"off, under gunicorn with {2 * m['cores'] + 1} `gthread` workers (gunicorn's advice of "
        "2 × cores + 1) of 4 threads; users by `bulk_create`, knox keys by "
        "`AuthToken.objects.create`; DRF has no logout view, so the key is revoked by a view "
        "that deletes `request.auth`, knox by its `LogoutView`.",
        f"- Better Auth: `benches/peers/better_auth/server.mjs`, `node:cluster` with one worker "
        "per core, PostgreSQL through `pg` in a database of its own; its own and the plugin's "
        "rate limits off (the load comes from one address); the plugin writes the key's row "
        "(`updatedAt`) on every check, its default, where multitoken writes a key's last use at "
        "most once a minute; users written through Better "
        "Auth's internal adapter with one hash of the password (one sign-up per user would "
        "spend minutes hashing), keys made by the plugin's `createApiKey`; a key is revoked by "
        "`POST /api/auth/api-key/delete` with its owner's session. Node's request becomes a "
        "fetch `Request` and back, as Better Auth's own `toNodeHandler` does; that hand-over "
        "alone cost about 0.5 ms of CPU per request on this machine, a tenth of a check.",
        "- Run it: `python3 benches/peers/run.py` (about six minutes once built; `--smoke` "
        "for a short check); see [Benchmarks](contributing/benchmarks.md) for the other benches.",
        "",
    ]
    return "\n".join(lines)


def readme_block(context):
    rounds, peers = context["rounds"], context["peers"]
    base_rps = median_of(rounds, "mt_sqlite", "check", "rps")
    base_cpu = median_of(rounds, "mt_sqlite", "check", "server_cpu_us_per_request")
    rows = []
    for key in ("drf", "knox", "better_auth"):
        if key not in peers:
            continue
        rps = median_of(rounds, key, "check", "rps")
        cpu = median_of(rounds, key, "check", "server_cpu_us_per_request")
        rows.append(f"- {peers[key]['label']}: multitoken answers {ratio(base_rps, rps)} its key "
                    f"checks per second, and spends 1/{cpu / base_cpu:.0f} of its server CPU per check"
                    if rps and cpu and base_cpu else f"- {peers[key]['label']}: n/a")
    return "\n".join([
        MARKERS[0],
        f"Against its peers, multitoken (SQLite, one run on {context['machine']['cores']} shared "
        f"cores, {context['date']}; ratios, not absolute figures, are the point):",
        "",
        *rows,
        "",
        "All figures, logins and revocation latency: [Benchmarks](docs/src/benchmarks.md).",
        MARKERS[1],
    ])


def update_readme(block):
    with open(README) as current:
        text = current.read()
    start, end = text.find(MARKERS[0]), text.find(MARKERS[1])
    if start < 0 or end < 0:
        log("README has no peers-benchmark markers: left as it is")
        return
    with open(README, "w") as out:
        out.write(text[:start] + block + text[end + len(MARKERS[1]):])


# ------------------------------------------------------------ main


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--smoke", action="store_true",
                        help="50 users, one round of 1 s measurements; the page goes to the temporary folder")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--secs", type=float, default=5.0, help="seconds per measurement")
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (logs)")
    parser.add_argument("--revocation", action="store_true",
                        help="only multitoken's revocation latencies (no peers, no throughput), "
                             "put into the last run's page with their own date and machine")
    parser.add_argument("--rewrite", action="store_true",
                        help="only write the page and the README again from the last run's figures")
    args = parser.parse_args()
    if args.rewrite:
        with open(os.path.join(HERE, "last-run.json")) as raw:
            publish(json.load(raw))
        return
    settings = {"rounds": args.rounds, "secs": args.secs, "warmup": 1.0, "users": args.users,
                "conns": 64, "login_conns": 8, "revocation_keys": 5}
    if args.smoke:
        settings.update(rounds=1, secs=1.0, warmup=0.5, users=50, revocation_keys=2)

    cleanup = Cleanup()
    work = tempfile.mkdtemp(prefix="mt-peers-")
    if not args.keep:
        cleanup.folders.append(work)
    log(f"working in {work}")
    if args.revocation:
        return revocation_only(cleanup, work, settings)
    load, server = build()
    found, nginx = versions(server)
    users = settings["users"]

    sqlite_url = mt_sqlite_url(work)
    pg_url = create_database(cleanup, f"mt_peers_multitoken_{os.getpid()}")
    peers = {}
    log("seeding and starting multitoken (SQLite, PostgreSQL)")
    peers["mt_sqlite"] = start_multitoken(cleanup, work, server, "mt_sqlite", "multitoken (SQLite)",
                                          sqlite_url, load, users)
    peers["mt_postgres"] = start_multitoken(cleanup, work, server, "mt_postgres",
                                            "multitoken (PostgreSQL)", pg_url, load, users)
    peers["drf"], peers["knox"] = start_django(cleanup, work, users)
    peers["better_auth"] = start_better_auth(cleanup, work, users)

    order = list(peers)
    rounds = []
    for number in range(settings["rounds"]):
        log(f"round {number + 1} of {settings['rounds']}")
        turn = order[number % len(order):] + order[:number % len(order)]
        figures = {key: {} for key in order}
        for key in turn:
            figures[key]["check"] = measure(load, peers[key], "check", settings["secs"],
                                            settings["warmup"], settings["conns"])
        for key in turn:
            figures[key]["login"] = measure(load, peers[key], "login", settings["secs"],
                                            settings["warmup"], settings["login_conns"])
        rounds.append(figures)

    # The keys of the last users, never revoked by the loads above (logins
    # add keys, none replaces one of the pool).
    take = settings["revocation_keys"]
    revocations = []
    for key in order:
        peer = peers[key]
        lines = read_keys(peer.keys)[-take:]
        delays, after = revocation(peer, peer, lines, peer.header, peer.prefix, peer.check_path,
                                   peer.port, peer.port)
        how = {"drf": "a view deleting `request.auth`", "knox": "`POST /knox/logout`",
               "better_auth": "`POST /api/auth/api-key/delete`"}.get(key, "`POST /logout`")
        revocations.append({"label": peer.label, "where": "same instance", "how": how,
                            "delays": delays, "accepted_after": after})
        log(f"revocation {peer.label}: {[round(d, 2) for d in delays]} ms, {after} accepted after")
    revocations += multitoken_revocations(cleanup, work, server, load, users, peers["mt_sqlite"],
                                          peers["mt_postgres"], pg_url, nginx, take)

    context = {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine(), "versions": found, "settings": settings, "rounds": rounds,
        "peers": {key: {"label": peer.label} for key, peer in peers.items()},
        "revocations": revocations,
    }
    text = page(context)
    if args.smoke:
        out = os.path.join(work, "benchmarks.md")
        with open(out, "w") as written:
            written.write(text)
        print(text)
        print(readme_block(context))
        log("smoke run: the page above was not written to docs/")
    else:
        with open(os.path.join(HERE, "last-run.json"), "w") as raw:
            json.dump(context, raw, indent=1, default=str)
        publish(context)


def revocation_only(cleanup, work, settings):
    """`--revocation`: multitoken's revocation rows measured again (the
    peers' own rows stay the last full run's), written into last-run.json
    and the page, which states their date and machine apart."""
    load, server = build(peers=False)
    users, take = settings["users"], settings["revocation_keys"]
    pg_url = create_database(cleanup, f"mt_peers_multitoken_{os.getpid()}")
    log("seeding and starting multitoken (SQLite, PostgreSQL)")
    mt = start_multitoken(cleanup, work, server, "mt_sqlite", "multitoken (SQLite)", mt_sqlite_url(work),
                          load, users)
    mt_pg = start_multitoken(cleanup, work, server, "mt_postgres", "multitoken (PostgreSQL)", pg_url,
                             load, users)
    rows = []
    for peer in (mt, mt_pg):
        delays, after = revocation(peer, peer, read_keys(peer.keys)[-take:], "Authorization", "Token ",
                                   "/whoami", peer.port, peer.port)
        rows.append({"label": peer.label, "where": "same instance", "how": "`POST /logout`",
                     "delays": delays, "accepted_after": after})
        log(f"revocation {peer.label}: {[round(d, 2) for d in delays]} ms, {after} accepted after")
    rows += multitoken_revocations(cleanup, work, server, load, users, mt, mt_pg, pg_url,
                                   find_nginx(), take)
    with open(os.path.join(HERE, "last-run.json")) as raw:
        context = json.load(raw)
    kept = [row for row in context["revocations"] if not row["label"].startswith("multitoken")]
    context["revocations"] = kept + rows
    context["revocation_run"] = {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine(), "commit": commit(), "revocation_keys": take}
    with open(os.path.join(HERE, "last-run.json"), "w") as raw:
        json.dump(context, raw, indent=1, default=str)
    publish(context)


def publish(context):
    with open(PAGE, "w") as written:
        written.write(page(context))
    update_readme(readme_block(context))
    log(f"wrote {os.path.relpath(PAGE, ROOT)} and the README's headline")


if __name__ == "__main__":
    main()
