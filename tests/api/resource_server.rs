//! multitoken as the authorization server of a Django REST Framework API.
//!
//! `tests/resource_server/` is a DRF project whose only authentication is
//! django-oauth-toolkit's resource-server mode: it sends each key it does not
//! hold to `POST /introspect` (as `Authorization: Bearer <service key>`,
//! form field `token`) and trusts an active answer for at most
//! `RESOURCE_SERVER_TOKEN_CACHING_SECONDS`, which is therefore how late it
//! sees a revocation. Its `GET /orders/` answers with the `username` and
//! `scope` django-oauth-toolkit made of the introspection; `GET /orders/read/`
//! also needs the scope `orders:read` (DOT's `TokenHasScope`).
//!
//! Needs a Python with `tests/resource_server/requirements.txt`:
//! `RESOURCE_SERVER_PYTHON`, or `.venv-tests/bin/python`, which `.ci/run`
//! makes. `build.rs` looks for it as `cargo test` builds: without one the
//! tests are built as ignored; under CI (`CI` set) they always run.

use crate::helpers::{Backend, TestApp, PASSWORD};
use crate::on_both_backends;
use reqwest::{Client, Response, StatusCode};
use serde_json::{json, Value};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tempfile::TempDir;

/// How long django-oauth-toolkit trusts an active introspection.
const CACHING_SECONDS: u64 = 2;
/// What a revocation may take on top of that: the polling interval and a
/// request or two on a loaded machine.
const MARGIN: Duration = Duration::from_millis(1500);
const NO_PYTHON: &str = "no Python for the Django resource server (run .ci/run, which makes \
                         .venv-tests/, or set RESOURCE_SERVER_PYTHON)";

on_both_backends!(
    needs django_tests, "no Python for the Django resource server";
    drf_sees_the_user_and_scope_of_a_key_and_refuses_an_unknown_one,
    drf_refuses_a_revoked_key_once_its_cached_introspection_runs_out,
);

pub(crate) fn python() -> PathBuf {
    std::env::var_os("RESOURCE_SERVER_PYTHON")
        .filter(|path| !path.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("MULTITOKEN_REPOSITORY")).join(".venv-tests/bin/python"))
}

/// The Django project under `tests/resource_server/`, served by
/// `runserver` on a free port with its own SQLite file; stopped when dropped.
pub(crate) struct ResourceServer {
    child: Child,
    address: String,
    http: Client,
    dir: TempDir,
}

impl ResourceServer {
    /// Migrates a fresh database, then serves, introspecting at
    /// `introspection_url` with `service_key`; waits until it listens.
    fn start(introspection_url: &str, service_key: &str) -> ResourceServer {
        Self::start_with(introspection_url, service_key, &[])
    }

    /// [`ResourceServer::start`] with more environment for its settings
    /// (the JWT ones of `tests/api/jwt_verifiers.rs`).
    pub(crate) fn start_with(
        introspection_url: &str,
        service_key: &str,
        extra_env: &[(&str, &str)],
    ) -> ResourceServer {
        let python = python();
        assert!(
            python.is_file(),
            "{NO_PYTHON}: {} not found",
            python.display()
        );
        let dir = tempfile::tempdir().expect("temp dir");
        let manage = |args: &[&str]| {
            let mut command = Command::new(&python);
            command
                .current_dir(Path::new(env!("MULTITOKEN_REPOSITORY")).join("tests/resource_server"))
                .arg("manage.py")
                .args(args)
                .env_clear()
                .env("PYTHONUNBUFFERED", "1")
                .env("PYTHONDONTWRITEBYTECODE", "1")
                .env("RESOURCE_SERVER_DATABASE", dir.path().join("db.sqlite3"))
                .env("RESOURCE_SERVER_INTROSPECTION_URL", introspection_url)
                .env("RESOURCE_SERVER_AUTH_TOKEN", service_key)
                .env(
                    "RESOURCE_SERVER_TOKEN_CACHING_SECONDS",
                    CACHING_SECONDS.to_string(),
                )
                .envs(extra_env.iter().copied())
                .stdin(Stdio::null());
            command
        };
        let migrated = manage(&["migrate", "--no-input", "--verbosity", "0"])
            .output()
            .expect("run manage.py migrate");
        assert!(
            migrated.status.success(),
            "manage.py migrate: {}\n{}",
            migrated.status,
            String::from_utf8_lossy(&migrated.stderr)
        );

        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("a free port")
            .port();
        let log = std::fs::File::create(dir.path().join("server.log")).expect("log file");
        let child = manage(&["runserver", &format!("127.0.0.1:{port}"), "--noreload"])
            .stdout(log.try_clone().expect("log file"))
            .stderr(log)
            .spawn()
            .expect("run manage.py runserver");
        let mut server = ResourceServer {
            child,
            address: format!("http://127.0.0.1:{port}"),
            http: Client::new(),
            dir,
        };
        let started = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(status)) = server.child.try_wait() {
                panic!("runserver exited with {status}:\n{}", server.log());
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "runserver did not listen on port {port}:\n{}",
                server.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        server
    }

    /// What runserver and django-oauth-toolkit logged so far.
    pub(crate) fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }

    /// `GET path` with `Authorization: Bearer <key>`, the one scheme
    /// django-oauth-toolkit reads.
    pub(crate) async fn get(&self, path: &str, key: &str) -> Response {
        self.http
            .get(format!("{}{path}", self.address))
            .bearer_auth(key)
            .send()
            .await
            .expect("request to the resource server")
    }

    /// Asserts a 200 and returns its JSON body.
    async fn get_ok(&self, path: &str, key: &str) -> Value {
        let response = self.get(path, key).await;
        assert_eq!(response.status(), StatusCode::OK, "{path}:\n{}", self.log());
        response.json().await.expect("json")
    }

    async fn status(&self, path: &str, key: &str) -> StatusCode {
        self.get(path, key).await.status()
    }
}

impl Drop for ResourceServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The resource server's identity in multitoken: a service user made as the
/// README says, logged in on a client of its own. Returns its key.
async fn service_key(app: &TestApp) -> String {
    let created = app.cli(
        &[
            "user",
            "create",
            "orders-api",
            "--service",
            "--password-stdin",
        ],
        &format!("{PASSWORD}\n"),
    );
    assert!(
        created.status.success(),
        "user create --service: {}",
        String::from_utf8_lossy(&created.stderr)
    );
    app.login("orders-api", "orders-api").await
}

async fn drf_sees_the_user_and_scope_of_a_key_and_refuses_an_unknown_one(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let service = service_key(&app).await;
    app.create_user("alice", "alice@example.com", false);
    let web = app.login("alice", "web").await;
    let cli = app
        .login_with_scopes("alice", "cli", json!(["orders:read", "reports"]))
        .await;
    let django = ResourceServer::start(&app.url("/introspect"), &service);

    assert_eq!(
        django.get_ok("/orders/", &web).await,
        json!({"username": "alice", "scope": ""})
    );
    assert_eq!(
        django.get_ok("/orders/", &cli).await,
        json!({"username": "alice", "scope": "orders:read reports"})
    );
    assert_eq!(
        django.get_ok("/orders/read/", &cli).await,
        json!({"username": "alice", "scope": "orders:read reports"})
    );
    // multitoken's unrestricted key holds every scope, but its introspection
    // lists none, and django-oauth-toolkit's `TokenHasScope` reads that as
    // holding none.
    assert_eq!(
        django.status("/orders/read/", &web).await,
        StatusCode::FORBIDDEN
    );

    let unknown = django.get("/orders/", "not-a-multitoken-key").await;
    assert_eq!(
        unknown.status(),
        StatusCode::UNAUTHORIZED,
        "{}",
        django.log()
    );
    assert_eq!(
        unknown
            .headers()
            .get("www-authenticate")
            .and_then(|value| value.to_str().ok()),
        Some(
            "Bearer realm=\"api\",error=\"invalid_token\",\
             error_description=\"The access token is invalid.\""
        )
    );
}

async fn drf_refuses_a_revoked_key_once_its_cached_introspection_runs_out(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let service = service_key(&app).await;
    app.create_user("alice", "alice@example.com", false);
    let phone = app.login("alice", "phone").await;
    let laptop = app.login("alice", "laptop").await;
    let django = ResourceServer::start(&app.url("/introspect"), &service);
    assert_eq!(django.get_ok("/orders/", &phone).await["username"], "alice");

    let revoked = app.delete_with_token("/tokens/phone", &laptop).await;
    assert_eq!(revoked.status(), StatusCode::NO_CONTENT);
    let since = Instant::now();
    // Cached for at most CACHING_SECONDS from the introspection above, which
    // came before the revocation.
    let deadline = Duration::from_secs(CACHING_SECONDS) + MARGIN;
    loop {
        let status = django.status("/orders/", &phone).await;
        if status == StatusCode::UNAUTHORIZED {
            break;
        }
        assert_eq!(status, StatusCode::OK, "{}", django.log());
        assert!(
            since.elapsed() < deadline,
            "the revoked key was still accepted {:?} after DELETE /tokens/phone",
            since.elapsed()
        );
        actix_web::rt::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        since.elapsed() < deadline,
        "refused only {:?} after DELETE /tokens/phone",
        since.elapsed()
    );
    assert_eq!(
        django.get_ok("/orders/", &laptop).await["username"],
        "alice",
        "the other device goes on"
    );
}
