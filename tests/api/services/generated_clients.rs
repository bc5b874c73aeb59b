//! The live `/openapi.json` as client generators read it: it passes
//! `openapi-spec-validator`, and the clients that `openapi-python-client`
//! (PyPI) and `openapi-typescript` + `openapi-fetch` (npm) generate from it
//! log in, list the devices and revoke one (`tests/generated_clients/`).
//!
//! Each run generates its client afresh from the server under test into a
//! folder of its own under `tests/generated_clients/runs/` (git-ignored,
//! removed afterwards), so a change of the document that breaks a generated
//! client fails here.

use crate::helpers::resource_server::python;
use crate::helpers::{on_both_backends, Backend, TestApp};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn folder() -> PathBuf {
    Path::new(env!("MULTITOKEN_REPOSITORY")).join("tests/generated_clients")
}

/// A folder for one run's generated client, removed when dropped.
fn run_folder(prefix: &str) -> tempfile::TempDir {
    let runs = folder().join("runs");
    std::fs::create_dir_all(&runs).expect("create tests/generated_clients/runs");
    tempfile::Builder::new()
        .prefix(prefix)
        .tempdir_in(runs)
        .expect("a run folder")
}

/// Runs `command` to its end off the async workers (the server under test
/// answers on them); panics with its output unless it succeeds.
async fn succeeds(what: &'static str, mut command: Command) -> Output {
    let output = actix_web::rt::task::spawn_blocking(move || command.output())
        .await
        .expect("the blocking task")
        .unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        output.status.success(),
        "{what}: {}\n{}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// An app with alice signed in on `phone`, the device the clients revoke;
/// and that key.
async fn app_with_a_phone(backend: Backend) -> (TestApp, String) {
    let app = TestApp::spawn(backend).await;
    app.create_user("alice", "", false);
    let phone = app.login("alice", "phone").await;
    (app, phone)
}

/// The driver's arguments: the server, alice's credentials, the client it
/// signs in as, and the device it revokes with that device's key.
fn driver_args<'a>(app: &'a TestApp, client: &'a str, phone: &'a str) -> [&'a str; 6] {
    [
        &app.address,
        "alice",
        crate::helpers::PASSWORD,
        client,
        "phone",
        phone,
    ]
}

/// What a driver printed last: one JSON line.
fn report(output: &Output) -> Value {
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line = stdout.lines().last().unwrap_or_default();
    serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

/// What both drivers must have seen, signed in as `client`: alice's two
/// devices, the phone revoked (`204`) and gone from the list, its key
/// refused as any unknown key is.
async fn assert_signed_in_listed_and_revoked(
    app: &TestApp,
    report: &Value,
    client: &str,
    phone: &str,
) {
    assert_eq!(
        report,
        &json!({
            "client": client,
            "before": [
                {"client": "phone", "current": false},
                {"client": client, "current": true},
            ],
            "revoke_status": 204,
            "after": [{"client": client, "current": true}],
            "revoked_key": {"status": 401, "detail": "Invalid token."},
        })
    );
    let refused = app.get_with_token("/whoami", phone).await;
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
}

/// The number of operations of the document the app serves.
async fn operations(app: &TestApp) -> usize {
    let document: Value = app
        .get_expecting("/openapi.json", "application/json")
        .await
        .json()
        .await
        .expect("json");
    document["paths"]
        .as_object()
        .expect("paths")
        .values()
        .map(|item| {
            let methods = ["get", "put", "post", "delete", "patch", "head", "options"];
            methods
                .iter()
                .filter(|method| item.get(**method).is_some())
                .count()
        })
        .sum()
}

#[on_both_backends(needs openapi_python_tests, "no openapi-spec-validator or openapi-python-client in .venv-tests (run .ci/run)")]
async fn the_document_passes_openapi_spec_validator(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let run = run_folder("validator-");
    let document = run.path().join("openapi.json");
    let body = app
        .get_expecting("/openapi.json", "application/json")
        .await
        .bytes()
        .await
        .expect("the document");
    std::fs::write(&document, body).expect("write the document");
    let mut validator = Command::new(python());
    validator
        .args(["-m", "openapi_spec_validator"])
        .arg(&document);
    let output = succeeds("openapi-spec-validator", validator).await;
    assert_eq!(
        String::from_utf8_lossy(&output.stdout).trim(),
        format!("{}: OK", document.display())
    );
}

#[on_both_backends(needs openapi_python_tests, "no openapi-spec-validator or openapi-python-client in .venv-tests (run .ci/run)")]
async fn a_client_generated_by_openapi_python_client_signs_in_lists_and_revokes(backend: Backend) {
    let (app, phone) = app_with_a_phone(backend).await;
    let run = run_folder("python-");
    let mut generate = Command::new(python());
    generate
        .args(["-m", "openapi_python_client", "generate", "--meta", "none"])
        .arg("--url")
        .arg(app.url("/openapi.json"))
        .arg("--config")
        .arg(folder().join("python-client.yaml"))
        .arg("--output-path")
        .arg(run.path().join("multitoken_client"));
    let generated = succeeds("openapi-python-client generate", generate).await;
    // It warns, and still succeeds, about what it could not generate.
    let said = String::from_utf8_lossy(&generated.stdout);
    assert!(!said.contains("Warning"), "{said}");

    let mut driver = Command::new(python());
    driver
        .arg(folder().join("driver.py"))
        .args(driver_args(&app, "python", &phone))
        .env("PYTHONPATH", run.path());
    let mut report = report(&succeeds("driver.py", driver).await);
    let imported = report
        .as_object_mut()
        .and_then(|report| report.remove("operations"));
    assert_eq!(
        imported,
        Some(json!(operations(&app).await)),
        "every operation's module imports"
    );
    assert_signed_in_listed_and_revoked(&app, &report, "python", &phone).await;
}

#[on_both_backends(needs openapi_typescript_tests, "tests/generated_clients is not installed (npm ci there, or run .ci/run)")]
async fn a_client_generated_by_openapi_typescript_signs_in_lists_and_revokes(backend: Backend) {
    let (app, phone) = app_with_a_phone(backend).await;
    let run = run_folder("typescript-");
    let modules = folder().join("node_modules");
    let mut generate = Command::new("node");
    generate
        .arg(modules.join("openapi-typescript/bin/cli.js"))
        .arg(app.url("/openapi.json"))
        .arg("--output")
        .arg(run.path().join("schema.d.ts"));
    succeeds("openapi-typescript", generate).await;

    // The driver is checked against the generated types, then run.
    std::fs::copy(folder().join("driver.ts"), run.path().join("driver.ts")).expect("copy");
    std::fs::write(
        run.path().join("tsconfig.json"),
        r#"{"extends": "../../tsconfig.json", "files": ["driver.ts"]}"#,
    )
    .expect("write tsconfig.json");
    let mut compile = Command::new("node");
    compile
        .arg(modules.join("typescript/bin/tsc"))
        .arg("--project")
        .arg(run.path());
    succeeds("tsc", compile).await;

    let mut driver = Command::new("node");
    driver
        .arg(run.path().join("driver.js"))
        .args(driver_args(&app, "typescript", &phone));
    let report = report(&succeeds("driver.js", driver).await);
    assert_signed_in_listed_and_revoked(&app, &report, "typescript", &phone).await;
}
