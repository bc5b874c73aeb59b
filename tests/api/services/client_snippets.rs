//! The book's client snippets ("Use it from your app"), run as a developer
//! would run them: `docs/snippets/python/app.py` with requests and
//! `docs/snippets/javascript/app.mjs` with Node's fetch, one command at a
//! time against a live server, the key kept in their file between
//! commands. The tests check what they print and what the server then
//! holds; `the_book_shows_the_snippets_these_tests_run` checks that the
//! page includes these very files.
//!
//! Needs `.venv-tests/` with requests, and Node 18 or later; without them
//! the tests are built as ignored (see `build.rs`).

use crate::helpers::{
    assert_unauthorized, on_both_backends, sliding_expiry, throttle, Backend, TestApp, PASSWORD,
};
use reqwest::StatusCode;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

/// The page, and where it is (its `{{#include}}`s are relative to it).
const PAGE: &str = include_str!("../../../docs/src/guides/from-your-app.md");
const PAGE_FOLDER: &str = "docs/src/guides";
const PYTHON: &str = "docs/snippets/python/app.py";
const JAVASCRIPT: &str = "docs/snippets/javascript/app.mjs";

/// The user agent the snippets send, so the user recognises the device.
const USER_AGENT: &str = "example-app/1.0";

#[derive(Clone, Copy)]
enum Language {
    Python,
    JavaScript,
}

/// One of the snippets' apps, with a key file of its own.
struct ExampleApp {
    program: PathBuf,
    script: PathBuf,
    base_url: String,
    folder: tempfile::TempDir,
}

/// What one command of the app did.
struct Ran {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Ran {
    #[track_caller]
    fn assert_printed(&self, stdout: &str) {
        assert_eq!(
            (self.code, self.stdout.as_str()),
            (Some(0), stdout),
            "standard error: {}",
            self.stderr
        );
    }

    /// Failed with exit status 1 and this message on standard error.
    #[track_caller]
    fn assert_failed_with(&self, message: &str) {
        assert_eq!(
            (self.code, self.messages().as_str(), self.stdout.as_str()),
            (Some(1), message, "")
        );
    }

    /// Standard error but the waits for a busy server (`503`), which a
    /// loaded test machine may cause and the app rightly waits out.
    fn messages(&self) -> String {
        self.stderr
            .lines()
            .filter(|line| !line.starts_with("busy (503): "))
            .map(|line| format!("{line}\n"))
            .collect()
    }
}

impl ExampleApp {
    fn new(language: Language, app: &TestApp) -> Self {
        let repository = Path::new(env!("MULTITOKEN_REPOSITORY"));
        let (program, script) = match language {
            Language::Python => (repository.join(".venv-tests/bin/python"), PYTHON),
            Language::JavaScript => (PathBuf::from("node"), JAVASCRIPT),
        };
        ExampleApp {
            program,
            script: repository.join(script),
            base_url: app.address.clone(),
            folder: tempfile::tempdir().expect("a temporary folder"),
        }
    }

    /// In a folder that does not exist yet: the app makes it.
    fn key_file(&self) -> PathBuf {
        self.folder.path().join("example-app/multitoken-key")
    }

    /// Runs `app args` with `stdin`, off the test's runtime thread, which
    /// serves multitoken.
    async fn run(&self, args: &[&str], stdin: &str) -> Ran {
        let mut command = Command::new(&self.program);
        command
            .arg(&self.script)
            .args(args)
            .env("MULTITOKEN_URL", &self.base_url)
            .env("MULTITOKEN_KEY_FILE", self.key_file())
            .env("NO_PROXY", "127.0.0.1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let stdin = format!("{stdin}\n");
        let output = actix_web::rt::task::spawn_blocking(move || {
            let mut child = command.spawn()?;
            if let Some(mut input) = child.stdin.take() {
                // A command that reads nothing may have exited already: a
                // broken pipe here is no failure of the test.
                let _ = input.write_all(stdin.as_bytes());
            }
            child.wait_with_output()
        })
        .await
        .expect("the app's thread")
        .unwrap_or_else(|e| panic!("run {}: {e}", self.program.display()));
        Ran {
            code: output.status.code(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// The key the app stored, after checking that only its user may read
    /// it (and its folder).
    fn stored_key(&self) -> String {
        let file = self.key_file();
        let mode = |path: &Path| {
            std::fs::metadata(path)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
                .permissions()
                .mode()
                & 0o777
        };
        assert_eq!(mode(&file), 0o600, "the key file's mode");
        assert_eq!(mode(file.parent().expect("a folder")), 0o700);
        std::fs::read_to_string(&file).expect("the key file")
    }

    fn has_key(&self) -> bool {
        self.key_file().exists()
    }

    async fn sign_in(&self, password: &str) -> Ran {
        self.run(&["sign-in", "alice", "laptop"], password).await
    }
}

async fn signs_in_lists_devices_signs_one_out_and_logs_out(language: Language, backend: Backend) {
    let app = TestApp::spawn_with_alice(backend).await;
    let phone = app.login("alice", "phone").await;
    let tablet = app.login("alice", "tablet").await;
    let example = ExampleApp::new(language, &app);

    example
        .sign_in(PASSWORD)
        .await
        .assert_printed("signed in as alice on laptop\n");
    let laptop = example.stored_key();
    let me: serde_json::Value = app.whoami(&laptop).await.json().await.expect("json");
    assert_eq!(
        (&me["username"], &me["client"]),
        (&"alice".into(), &"laptop".into())
    );

    example
        .run(&["whoami"], "")
        .await
        .assert_printed("alice on laptop\n");

    let listed = example.run(&["devices"], "").await;
    assert_eq!(listed.code, Some(0), "{}", listed.stderr);
    let mut rows: Vec<Vec<&str>> = listed
        .stdout
        .lines()
        .map(|line| line.split('\t').collect())
        .collect();
    rows.sort();
    let server = app.devices(&tablet).await;
    let phone_used = server
        .iter()
        .find(|device| device["client"] == "phone")
        .and_then(|device| device["last_used_at"].as_str())
        .expect("the phone's last use");
    let laptop_agent = server
        .iter()
        .find(|device| device["client"] == "laptop")
        .map(|device| device["user_agent"].clone());
    assert_eq!(laptop_agent, Some(USER_AGENT.into()));
    assert_eq!(rows.len(), 3, "{}", listed.stdout);
    assert_eq!(
        rows.iter()
            .map(|row| (row[0], row[1], row[3]))
            .collect::<Vec<_>>(),
        [
            ("laptop", "this device", USER_AGENT),
            ("phone", "", ""),
            ("tablet", "", "")
        ]
    );
    assert_eq!(
        rows[1][2], phone_used,
        "the phone's last use as the server has it"
    );

    example
        .run(&["sign-out-device", "phone"], "")
        .await
        .assert_printed("signed out phone\n");
    assert_unauthorized(app.whoami(&phone).await, "Invalid token.").await;
    app.assert_whoami(&tablet, StatusCode::OK, "the other devices stay signed in")
        .await;
    app.assert_whoami(&laptop, StatusCode::OK, "and so does this one")
        .await;
    example
        .run(&["sign-out-device", "phone"], "")
        .await
        .assert_failed_with("no device named phone\n");

    example
        .run(&["logout"], "")
        .await
        .assert_printed("signed out of this device\n");
    assert!(!example.has_key(), "the key is forgotten");
    assert_unauthorized(app.whoami(&laptop).await, "Invalid token.").await;
    app.assert_whoami(&tablet, StatusCode::OK, "logout signs out this device only")
        .await;
    example
        .run(&["whoami"], "")
        .await
        .assert_failed_with("Not signed in.\n");
}

async fn forgets_a_revoked_or_expired_key(language: Language, backend: Backend) {
    let app = TestApp::spawn_with(backend, sliding_expiry(Duration::from_secs(3))).await;
    app.create_user("alice", "", false);
    let example = ExampleApp::new(language, &app);

    example
        .sign_in(PASSWORD)
        .await
        .assert_printed("signed in as alice on laptop\n");
    let tablet = app.login("alice", "tablet").await;
    let revoked = app.delete_with_token("/tokens/laptop", &tablet).await;
    assert_eq!(revoked.status(), StatusCode::NO_CONTENT);
    example
        .run(&["whoami"], "")
        .await
        .assert_failed_with("This device was signed out. Sign in again.\n");
    assert!(!example.has_key(), "a revoked key is forgotten");

    example
        .sign_in(PASSWORD)
        .await
        .assert_printed("signed in as alice on laptop\n");
    let laptop = example.stored_key();
    actix_web::rt::time::sleep(Duration::from_millis(3500)).await;
    assert_unauthorized(app.whoami(&laptop).await, "Token has expired.").await;
    example
        .run(&["whoami"], "")
        .await
        .assert_failed_with("Your session has expired. Sign in again.\n");
    assert!(!example.has_key(), "an expired key is forgotten");
}

async fn reports_wrong_credentials_and_waits_out_the_throttle(
    language: Language,
    backend: Backend,
) {
    // Long enough to outlast a slow start of the app on a busy machine.
    let app = TestApp::spawn_with(backend, |settings| {
        settings.throttles.login_throttle = throttle("2/8s");
    })
    .await;
    app.create_user("alice", "", false);
    let example = ExampleApp::new(language, &app);

    example
        .sign_in("not-her-password")
        .await
        .assert_failed_with("Unable to log in with provided credentials.\n");
    assert!(!example.has_key());
    let second = app.login_status("alice", "not-her-password", "phone").await;
    assert_eq!(second, StatusCode::BAD_REQUEST);
    let signed_in = example.sign_in(PASSWORD).await;
    signed_in.assert_printed("signed in as alice on laptop\n");
    let waits: Vec<u64> = signed_in
        .messages()
        .lines()
        .map(|line| {
            line.strip_prefix("busy (429): retrying in ")
                .and_then(|rest| rest.strip_suffix(" s"))
                .and_then(|seconds| seconds.parse().ok())
                .unwrap_or_else(|| panic!("not a wait: {line:?}"))
        })
        .collect();
    assert!(
        matches!(waits.as_slice(), [1..=8]),
        "one wait, as long as Retry-After said: {waits:?}"
    );
    app.assert_whoami(
        &example.stored_key(),
        StatusCode::OK,
        "the key after the wait",
    )
    .await;
}

/// Declares, for each `async fn scenario(language, backend)`, its test with
/// the Python app and its test with the JavaScript app.
macro_rules! in_each_language {
    ($($scenario:ident => $python:ident, $javascript:ident;)+) => {$(
        #[on_both_backends(needs snippets_python_tests, "requests is not in .venv-tests (pip install -r tests/resource_server/requirements.txt, or run .ci/run)")]
        async fn $python(backend: Backend) {
            $scenario(Language::Python, backend).await
        }

        #[on_both_backends(needs snippets_node_tests, "node 18 or later is not on the PATH")]
        async fn $javascript(backend: Backend) {
            $scenario(Language::JavaScript, backend).await
        }
    )+};
}

in_each_language! {
    signs_in_lists_devices_signs_one_out_and_logs_out =>
        the_python_app_signs_in_lists_devices_signs_one_out_and_logs_out,
        the_javascript_app_signs_in_lists_devices_signs_one_out_and_logs_out;
    forgets_a_revoked_or_expired_key =>
        the_python_app_forgets_a_revoked_or_expired_key,
        the_javascript_app_forgets_a_revoked_or_expired_key;
    reports_wrong_credentials_and_waits_out_the_throttle =>
        the_python_app_reports_wrong_credentials_and_waits_out_the_throttle,
        the_javascript_app_reports_wrong_credentials_and_waits_out_the_throttle;
}

/// Every `ANCHOR: name` of each snippet is shown on the page with
/// `{{#include …:name}}`, and ends with `ANCHOR_END: name` (mdBook shows
/// nothing, silently, for an anchor it does not find).
#[test]
fn the_book_shows_the_snippets_these_tests_run() {
    let repository = Path::new(env!("MULTITOKEN_REPOSITORY"));
    for path in [PYTHON, JAVASCRIPT] {
        let from_page = relative_to_page(path);
        let source = std::fs::read_to_string(repository.join(path)).expect("the snippet");
        let anchors: Vec<&str> = source
            .lines()
            .filter_map(|line| line.split_once("ANCHOR: "))
            .map(|(_, name)| name.trim())
            .collect();
        assert!(anchors.len() >= 7, "{path}: {anchors:?}");
        for anchor in anchors {
            assert!(
                source
                    .lines()
                    .any(|line| line.trim_end().ends_with(&format!("ANCHOR_END: {anchor}"))),
                "{path}: ANCHOR: {anchor} has no ANCHOR_END"
            );
            let include = format!("{{{{#include {from_page}:{anchor}}}}}");
            assert!(
                PAGE.contains(&include),
                "{PAGE_FOLDER}/from-your-app.md should show {path}'s {anchor} with `{include}`"
            );
        }
    }
}

/// `path` (from the repository's root) as the page reaches it: up to the
/// folder they share, then down.
fn relative_to_page(path: &str) -> String {
    let page: Vec<&str> = PAGE_FOLDER.split('/').collect();
    let file: Vec<&str> = path.split('/').collect();
    let shared = page.iter().zip(&file).take_while(|(a, b)| a == b).count();
    format!(
        "{}{}",
        "../".repeat(page.len() - shared),
        file[shared..].join("/")
    )
}
