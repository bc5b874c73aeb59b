//! The Django REST Framework project of `tests/resource_server/`, served by
//! the `.venv-tests/` Python (or `RESOURCE_SERVER_PYTHON`) as a resource
//! server that asks multitoken's `POST /introspect` about each key.

use super::{stdout_of, wait_until_listening};
use reqwest::{Client, Response, StatusCode};
use serde_json::Value;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use tempfile::TempDir;

/// How long django-oauth-toolkit trusts an active introspection.
pub const CACHING_SECONDS: u64 = 2;
/// What a revocation may take on top of that: the polling interval and a
/// request or two on a loaded machine.
pub const MARGIN: Duration = Duration::from_millis(1500);
pub const NO_PYTHON: &str = "no Python for the Django resource server (run .ci/run, which makes \
                         .venv-tests/, or set RESOURCE_SERVER_PYTHON)";

pub fn python() -> PathBuf {
    std::env::var_os("RESOURCE_SERVER_PYTHON")
        .filter(|path| !path.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("MULTITOKEN_REPOSITORY")).join(".venv-tests/bin/python"))
}

/// The Django project under `tests/resource_server/`, served by
/// `runserver` on a free port with its own SQLite file; stopped when dropped.
pub struct ResourceServer {
    child: Child,
    address: String,
    http: Client,
    dir: TempDir,
}

impl ResourceServer {
    /// Migrates a fresh database, then serves, introspecting at
    /// `introspection_url` with `service_key`; waits until it listens.
    pub fn start(introspection_url: &str, service_key: &str) -> ResourceServer {
        Self::start_with(introspection_url, service_key, &[])
    }

    /// [`ResourceServer::start`] with more environment for its settings
    /// (the JWT ones of `tests/api/services/jwt_verifiers.rs`).
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
        stdout_of(
            &mut manage(&["migrate", "--no-input", "--verbosity", "0"]),
            "manage.py migrate",
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
        if let Err(why) = wait_until_listening(&mut server.child, port, Duration::from_secs(30)) {
            panic!("runserver {why}:\n{}", server.log());
        }
        server
    }

    /// What runserver and django-oauth-toolkit logged so far.
    pub(crate) fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }

    /// The URL of `path` on it (where multitoken sends webhooks, in
    /// `tests/api/services/guide_samples.rs`).
    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
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
    pub async fn get_ok(&self, path: &str, key: &str) -> Value {
        let response = self.get(path, key).await;
        assert_eq!(response.status(), StatusCode::OK, "{path}:\n{}", self.log());
        response.json().await.expect("json")
    }

    pub async fn status(&self, path: &str, key: &str) -> StatusCode {
        self.get(path, key).await.status()
    }
}

impl Drop for ResourceServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
