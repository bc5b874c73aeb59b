#!/usr/bin/env bash
# Property-based test of the live API against its own OpenAPI document:
# Schemathesis generates requests (valid and invalid) for every operation of
# GET /openapi.json and fails on a 5xx, a status code the document does not
# list for that operation, or a body whose content type or shape does not
# match what it documents.
#
#   bash tests/schemathesis/run.sh
#
# Environment:
#   MULTITOKEN_BIN          server binary, from the repository's root (default
#                           $CARGO_TARGET_DIR (or target)/debug/multitoken, built with `cargo build`
#                           when missing or older than the sources)
#   SCHEMATHESIS_EXAMPLES   test cases per operation and phase (default 25)
#   SCHEMATHESIS_SEED       random seed (default 1), for a reproducible run
#   SCHEMATHESIS_PHASES     default examples,coverage,fuzzing,stateful
#   SCHEMATHESIS_TIMEOUT    seconds before the run is stopped as failed (600)
#   SCHEMATHESIS_ARGS       more options for `schemathesis run`, split on
#                           spaces (e.g. "--report har --report-dir /tmp/st")
#   SCHEMATHESIS_VALIDATOR_PYTHON  the Python that runs openapi-spec-validator
#                           on the live document first (default .venv-tests/bin/python)
#   SCHEMATHESIS_POSTGRES   a postgres://… URL: run on PostgreSQL instead, in a
#                           database of the run's own made on that server
#                           (and dropped on exit); unset: SQLite
#
# The server runs on a fresh database (SQLite in a temporary folder, or
# PostgreSQL) with an admin (whose token the hooks send) and a normal
# user, and trusts an OpenID provider of the run's own (fake_oidc.py); both, the database and the folder, go away on exit. Exits non-zero when Schemathesis reports a failure.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/../.."
repo="$(pwd)"

SCHEMATHESIS_VERSION="4.32.5"
BIN="${MULTITOKEN_BIN:-${CARGO_TARGET_DIR:-target}/debug/multitoken}"
EXAMPLES="${SCHEMATHESIS_EXAMPLES:-25}"
SEED="${SCHEMATHESIS_SEED:-1}"
PHASES="${SCHEMATHESIS_PHASES:-examples,coverage,fuzzing,stateful}"
TIMEOUT="${SCHEMATHESIS_TIMEOUT:-600}"
PASSWORD="a-long-password-1"
CLIENT="schemathesis"

installed_version() {
    python3 -c 'import importlib.metadata as m; print(m.version("schemathesis"))' 2>/dev/null || true
}
if [[ "$(installed_version)" != "${SCHEMATHESIS_VERSION}" ]]; then
    echo "installing schemathesis ${SCHEMATHESIS_VERSION} from PyPI"
    python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore \
        "schemathesis==${SCHEMATHESIS_VERSION}"
fi
# Run as a module: no dependence on PATH or pyenv's shims.
python3 -m schemathesis.cli --version
VALIDATOR_PYTHON="${SCHEMATHESIS_VALIDATOR_PYTHON:-${repo}/.venv-tests/bin/python}"
if ! "${VALIDATOR_PYTHON}" -c 'import openapi_spec_validator' 2>/dev/null; then
    echo "${VALIDATOR_PYTHON} cannot import openapi_spec_validator: run .ci/run, or install" \
        "tests/resource_server/requirements.txt into .venv-tests" >&2
    exit 1
fi

if [[ ! -x "${BIN}" ]]; then
    echo "${BIN} not found: cargo build"
    cargo build --locked --bin multitoken
elif [[ -z "${MULTITOKEN_BIN:-}" ]] &&
    [[ -n "$(find src migrations build.rs Cargo.toml Cargo.lock -newer "${BIN}" -print -quit)" ]]; then
    echo "${BIN} is older than the sources: cargo build"
    cargo build --locked --bin multitoken
fi

work="$(mktemp -d)"
server_pid=""
provider_pid=""
postgres_database=""
cleanup() {
    if [[ -n "${server_pid}" ]] && kill -0 "${server_pid}" 2>/dev/null; then
        kill "${server_pid}" 2>/dev/null || true
        wait "${server_pid}" 2>/dev/null || true
    fi
    if [[ -n "${provider_pid}" ]] && kill -0 "${provider_pid}" 2>/dev/null; then
        kill "${provider_pid}" 2>/dev/null || true
        wait "${provider_pid}" 2>/dev/null || true
    fi
    if [[ -n "${postgres_database}" ]]; then
        psql "${SCHEMATHESIS_POSTGRES}" -qc "DROP DATABASE IF EXISTS ${postgres_database}" >/dev/null || true
    fi
    rm -rf "${work}"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
base="http://127.0.0.1:${port}"
if [[ -n "${SCHEMATHESIS_POSTGRES:-}" ]]; then
    postgres_database="schemathesis_$$"
    psql "${SCHEMATHESIS_POSTGRES}" -qc "CREATE DATABASE ${postgres_database}" >/dev/null
    DATABASE_URL="$(python3 -c 'import sys, urllib.parse as u; p = u.urlsplit(sys.argv[1]); print(u.urlunsplit(p._replace(path="/" + sys.argv[2])))' \
        "${SCHEMATHESIS_POSTGRES}" "${postgres_database}")"
    export DATABASE_URL
    echo "on PostgreSQL: database ${postgres_database}"
else
    export DATABASE_URL="${work}/mt.db"
    echo "on SQLite"
fi
export MULTITOKEN_BIND="127.0.0.1:${port}"
export RUST_LOG=warn
# Schemathesis sends many failed logins from one address; never throttle them.
export LOGIN_THROTTLE=100000/1m
export REGISTER_THROTTLE=100000/1m
export PASSWORD_RESET_THROTTLE=100000/1m
export REVOKE_THROTTLE=100000/1m
# POST /tokens/rotate retires the run's token, which then stands for its
# device only for ROTATION_GRACE and revokes the device when used after it:
# a grace longer than the run keeps the token, and rotation stays tested.
export ROTATION_GRACE=2h
export MAIL="file:${work}/mail"

# A provider for POST /login/oidc/{provider}: the hooks have it sign ID
# tokens whose claims are the generated text (schemathesis_hooks.py).
provider_port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
python3 "${repo}/tests/schemathesis/fake_oidc.py" "${provider_port}" >"${work}/provider.log" 2>&1 &
provider_pid=$!
for _ in $(seq 1 300); do
    if grep -q '^issuer ' "${work}/provider.log" 2>/dev/null; then
        break
    fi
    sleep 0.1
done
export OIDC_PROVIDERS=fake
export OIDC_FAKE_ISSUER="http://127.0.0.1:${provider_port}"
export OIDC_FAKE_CLIENT_ID=multitoken
export OIDC_FAKE_CLIENT_SECRET=schemathesis-client-secret
export OIDC_LINK_BY_EMAIL=verified
curl -fsS "${OIDC_FAKE_ISSUER}/.well-known/openid-configuration" >/dev/null

"${BIN}" migrate >/dev/null
echo "${PASSWORD}" | "${BIN}" user create admin --admin --password-stdin >/dev/null
echo "${PASSWORD}" | "${BIN}" user create alice --password-stdin >/dev/null

"${BIN}" serve >"${work}/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 1 100); do
    if curl -fsS "${base}/healthz" >/dev/null 2>&1; then
        break
    fi
    if ! kill -0 "${server_pid}" 2>/dev/null; then
        echo "the server exited:" >&2
        cat "${work}/server.log" >&2
        exit 1
    fi
    sleep 0.1
done
curl -fsS "${base}/healthz" >/dev/null

# The document as generators read it must be valid OpenAPI before anything
# is generated from it (openapi-spec-validator, pinned in
# tests/resource_server/requirements.txt, from the venv .ci/run makes).
curl -fsS "${base}/openapi.json" -o "${work}/openapi.json"
"${VALIDATOR_PYTHON}" -m openapi_spec_validator "${work}/openapi.json" | sed "s|${work}/||"

token="$(curl -fsS -X POST "${base}/login" -H 'Content-Type: application/json' \
    -d "{\"username\": \"admin\", \"password\": \"${PASSWORD}\", \"client\": \"${CLIENT}\"}" |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["auth_token"])')"
admin_id="$(curl -fsS "${base}/whoami" -H "Authorization: Token ${token}" |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["id"])')"

# From the temporary folder, so that Schemathesis' and Hypothesis' caches
# (.schemathesis/, .hypothesis/) start empty and stay out of the work tree;
# bounded in time whatever happens to the server.
status=0
(
    cd "${work}"
    export SCHEMATHESIS_HOOKS=schemathesis_hooks
    export PYTHONPATH="${repo}/tests/schemathesis${PYTHONPATH:+:${PYTHONPATH}}"
    export PYTHONDONTWRITEBYTECODE=1
    export SCHEMATHESIS_ADMIN_ID="${admin_id}"
    export SCHEMATHESIS_CLIENT="${CLIENT}"
    export SCHEMATHESIS_TOKEN="${token}"
    export SCHEMATHESIS_OIDC_ISSUER="${OIDC_FAKE_ISSUER}"
    export SCHEMATHESIS_OIDC_PROVIDER=fake
    # One worker: with the seed, the same requests in the same order each run.
    # shellcheck disable=SC2086 # SCHEMATHESIS_ARGS is split on purpose.
    exec timeout --kill-after=10 "${TIMEOUT}" python3 -m schemathesis.cli run "${base}/openapi.json" \
        --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance \
        --phases "${PHASES}" \
        --max-examples "${EXAMPLES}" \
        --seed "${SEED}" \
        --generation-database none \
        --exclude-operation-id logout \
        --exclude-operation-id logout_all \
        --request-timeout 10 \
        --workers 1 \
        --no-color \
        ${SCHEMATHESIS_ARGS:-}
) || status=$?
if [[ "${status}" -eq 124 || "${status}" -eq 137 ]]; then
    echo "schemathesis did not finish within ${TIMEOUT}s" >&2
fi

# The token must have lasted the whole run, or the later operations were
# only ever answered 401 and tested nothing.
if ! curl -fsS "${base}/whoami" -H "Authorization: Token ${token}" >/dev/null; then
    echo "the run's admin token was revoked during the run" >&2
    status=1
fi
if grep -q 'panicked' "${work}/server.log"; then
    echo "the server panicked" >&2
    status=1
fi
if [[ "${status}" -ne 0 && -s "${work}/server.log" ]]; then
    echo "last lines of the server's log:" >&2
    tail -n 40 "${work}/server.log" >&2
fi
exit "${status}"
