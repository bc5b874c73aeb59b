//! The guides' code samples in Python and JavaScript, run as a reader would
//! run them against a live server: the files under `docs/snippets/<guide>/`
//! that the pages include (`the_guides_show_the_samples_these_tests_run`
//! checks the includes). Each test checks what the sample printed and what
//! the server then holds. The Simple JWT settings of "Short-lived JWTs" are
//! run by `jwt_verifiers.rs`, in the Django project of
//! `tests/resource_server/`, which also serves the webhook receiver here.
//! The Swift sample of "Rotating keys" is the one left out: there is no
//! Swift toolchain here.
//!
//! A sample that imports an npm package runs from a temporary folder whose
//! `node_modules` is the test folder's that pins it (`tests/device_client`,
//! `tests/dpop_client`): Node resolves an `import` from the file's folder.

use crate::auth::device_grant::{app_for_real_clients, approve};
use crate::helpers::resource_server::ResourceServer;
use crate::helpers::{lines_of, on_both_backends, Backend, TestApp, PASSWORD};
use multitoken::domain::webhook::{WebhookSecret, WebhookUrls};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, TryRecvError};
use std::time::{Duration, Instant};

/// Each page, with the sample files it includes (path from the
/// repository's root, anchor).
const INCLUDES: &[(&str, &str, &str)] = &[
    (
        "docs/src/guides/jwt.md",
        "docs/snippets/jwt/simple_jwt_settings.py",
        "settings",
    ),
    (
        "docs/src/guides/leaked-keys.md",
        "docs/snippets/leaked-keys/checker.py",
        "checker",
    ),
    (
        "docs/src/guides/leaked-keys.md",
        "docs/snippets/leaked-keys/checker.js",
        "checker",
    ),
    (
        "docs/src/guides/sign-in-a-cli-or-tv.md",
        "docs/snippets/sign-in-a-cli-or-tv/device_sign_in.py",
        "sample",
    ),
    (
        "docs/src/guides/sign-in-a-cli-or-tv.md",
        "docs/snippets/sign-in-a-cli-or-tv/device_sign_in.mjs",
        "sample",
    ),
    (
        "docs/src/guides/binding-keys.md",
        "docs/snippets/binding-keys/dpop_cli.mjs",
        "sample",
    ),
    (
        "docs/src/guides/webhooks.md",
        "docs/snippets/webhooks/hooks/views.py",
        "views",
    ),
    (
        "docs/src/guides/webhooks.md",
        "docs/snippets/webhooks/hooks/authentication.py",
        "authentication",
    ),
];

fn repository() -> &'static Path {
    Path::new(env!("MULTITOKEN_REPOSITORY"))
}

fn read(path: &str) -> String {
    std::fs::read_to_string(repository().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[test]
fn the_guides_show_the_samples_these_tests_run() {
    for (page, file, anchor) in INCLUDES {
        // The pages are in docs/src/guides/, two folders below docs/.
        let relative = file.replace("docs/", "../../");
        let include = format!("{{{{#include {relative}:{anchor}}}}}");
        assert!(read(page).contains(&include), "{page} has no {include}");
        let sample = read(file);
        for marker in [
            format!("ANCHOR: {anchor}\n"),
            format!("ANCHOR_END: {anchor}\n"),
        ] {
            assert_eq!(sample.matches(&marker).count(), 1, "{file}: {marker}");
        }
    }
}

/// A sample run as a process: its standard output line by line, read off
/// the test's runtime, which serves multitoken.
struct Sample {
    child: Child,
    lines: Receiver<String>,
    /// Where an npm sample runs from; removed when the sample is dropped.
    _folder: Option<tempfile::TempDir>,
}

impl Sample {
    /// `program file args` with `env` added, `stdin` written to it.
    fn start(
        program: &Path,
        file: &Path,
        args: &[&str],
        env: &[(&str, &str)],
        stdin: &str,
    ) -> Self {
        let mut child = Command::new(program)
            .arg(file)
            .args(args)
            .envs(env.iter().copied())
            .env("NO_PROXY", "127.0.0.1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("run {}: {e}", program.display()));
        if let Some(mut input) = child.stdin.take() {
            // A sample that reads nothing may have exited already.
            let _ = input.write_all(stdin.as_bytes());
        }
        let stdout = child.stdout.take().expect("stdout");
        let lines = lines_of(stdout);
        Sample {
            child,
            lines,
            _folder: None,
        }
    }

    fn python(sample: &str, args: &[&str], env: &[(&str, &str)], stdin: &str) -> Self {
        let python = repository().join(".venv-tests/bin/python");
        Self::start(&python, &repository().join(sample), args, env, stdin)
    }

    /// A JavaScript sample that imports packages of `npm_folder`'s
    /// `node_modules`.
    fn node(
        sample: &str,
        npm_folder: &str,
        args: &[&str],
        env: &[(&str, &str)],
        stdin: &str,
    ) -> Self {
        let folder = tempfile::tempdir().expect("a temporary folder");
        std::os::unix::fs::symlink(
            repository().join(npm_folder).join("node_modules"),
            folder.path().join("node_modules"),
        )
        .expect("link node_modules");
        let name = Path::new(sample).file_name().expect("a file name");
        let copy = folder.path().join(name);
        std::fs::copy(repository().join(sample), &copy).expect("copy the sample");
        let mut started = Self::start(&PathBuf::from("node"), &copy, args, env, stdin);
        started._folder = Some(folder);
        started
    }

    /// The next line it prints, waiting at most `within`.
    async fn line(&self, within: Duration) -> String {
        let deadline = Instant::now() + within;
        loop {
            match self.lines.try_recv() {
                Ok(line) => return line,
                Err(TryRecvError::Disconnected) => panic!("the sample ended without a line"),
                Err(TryRecvError::Empty) => {}
            }
            assert!(Instant::now() < deadline, "no line from the sample");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Everything else it prints, once it has exited successfully.
    async fn rest(mut self, within: Duration) -> String {
        let deadline = Instant::now() + within;
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("the sample's status") {
                break status;
            }
            assert!(Instant::now() < deadline, "the sample did not end");
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        assert!(status.success(), "the sample failed: {status}");
        // The reader thread ends with the pipe; collect what it read.
        let mut rest = Vec::new();
        while let Ok(line) = self.lines.recv_timeout(Duration::from_secs(5)) {
            rest.push(line);
        }
        rest.join("\n")
    }
}

impl Drop for Sample {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// "Leaked keys": the offline checkers.

/// `program checker keys…` prints, for each key, `yes` or `no` (each
/// language's spelling of true and false): the server's own answer.
async fn checkers_agree_with_the_server(
    backend: Backend,
    program: &str,
    checker: &str,
    [yes, no]: [&str; 2],
) {
    let app = TestApp::spawn_with_alice(backend).await;
    let web = app.login("alice", "web").await;
    let ios = app.login("alice", "ios").await;
    let flipped = crate::auth::key_format::flip_checksum(&web);
    let swapped = format!("{}{}", &ios[..46], &web[46..]);
    let earlier = format!("mt_{}", "A".repeat(43));
    let keys = [web.as_str(), &ios, &flipped, &swapped, &earlier];

    let run = Sample::start(
        &PathBuf::from(program),
        &repository().join(checker),
        &keys,
        &[],
        "",
    );
    let printed = run.rest(Duration::from_secs(20)).await;
    assert_eq!(printed, format!("{yes} {yes} {no} {no} {no}"));
    // The server agrees: the keys it accepts are the ones the checker does.
    for (key, expected) in [
        (web.as_str(), StatusCode::OK),
        (&ios, StatusCode::OK),
        (&flipped, StatusCode::UNAUTHORIZED),
        (&swapped, StatusCode::UNAUTHORIZED),
        (&earlier, StatusCode::UNAUTHORIZED),
    ] {
        assert_eq!(app.whoami_status(key).await, expected, "{key}");
    }
}

#[on_both_backends(needs key_checker_tests, "python3 or node is not on the PATH")]
async fn the_python_key_checker_accepts_real_keys_and_refuses_look_alikes(backend: Backend) {
    let checker = "docs/snippets/leaked-keys/checker.py";
    checkers_agree_with_the_server(backend, "python3", checker, ["True", "False"]).await;
}

#[on_both_backends(needs key_checker_tests, "python3 or node is not on the PATH")]
async fn the_javascript_key_checker_accepts_real_keys_and_refuses_look_alikes(backend: Backend) {
    let checker = "docs/snippets/leaked-keys/checker.js";
    checkers_agree_with_the_server(backend, "node", checker, ["true", "false"]).await;
}

// "Sign in a CLI or a TV": the device grant's command-line side.

/// Runs a device sample, made by `sample` for the server's URL: it prints
/// the code to enter, alice approves it from her phone, the sample prints
/// what `/whoami` says of its key, in which each of `printed` must stand
/// (each language prints the JSON in its own way). Checks the device the
/// server then holds.
async fn a_device_sample_signs_in(
    backend: Backend,
    sample: impl FnOnce(&str) -> Sample,
    printed: [&str; 3],
) {
    let app = app_for_real_clients(backend).await;
    let sample = sample(&app.address);
    let phone = app.login("alice", "phone").await;
    let prompt = sample.line(Duration::from_secs(20)).await;
    let expected_start = format!("Open {} and enter ", app.url("/device"));
    let user_code = prompt
        .strip_prefix(&expected_start)
        .unwrap_or_else(|| panic!("{prompt}"));
    let approved = approve(&app, &phone, user_code, json!({})).await;
    assert_eq!(approved.status(), StatusCode::OK);
    let whoami = sample.rest(Duration::from_secs(30)).await;
    for part in printed {
        assert!(whoami.contains(part), "{part} in {whoami}");
    }

    let devices = app.devices(&phone).await;
    let cli = devices
        .iter()
        .find(|device| device["client"] == "my-cli")
        .unwrap_or_else(|| panic!("no my-cli in {devices:?}"));
    assert_eq!(cli["scopes"], json!(["orders:read"]), "{cli}");
}

#[on_both_backends(needs oauthlib_tests, "no oauthlib in .venv-tests (run .ci/run)")]
async fn the_python_device_sample_signs_a_cli_in(backend: Backend) {
    let sample = |url: &str| {
        Sample::python(
            "docs/snippets/sign-in-a-cli-or-tv/device_sign_in.py",
            &[],
            &[("MULTITOKEN_URL", url)],
            "",
        )
    };
    // Python prints the dict of /whoami's JSON.
    let printed = [
        "'username': 'alice'",
        "'client': 'my-cli'",
        "'scopes': ['orders:read']",
    ];
    a_device_sample_signs_in(backend, sample, printed).await;
}

#[on_both_backends(needs device_client_tests, "tests/device_client is not installed (npm ci there, or run .ci/run)")]
async fn the_javascript_device_sample_signs_a_cli_in(backend: Backend) {
    let sample = |url: &str| {
        Sample::node(
            "docs/snippets/sign-in-a-cli-or-tv/device_sign_in.mjs",
            "tests/device_client",
            &[],
            &[("MULTITOKEN_URL", url)],
            "",
        )
    };
    // Node prints the object of /whoami's JSON.
    let printed = [
        "username: 'alice'",
        "client: 'my-cli'",
        "scopes: [ 'orders:read' ]",
    ];
    a_device_sample_signs_in(backend, sample, printed).await;
}

// "Binding keys to devices": a command-line tool with DPoP.

#[on_both_backends(needs dpop_client_tests, "tests/dpop_client is not installed (npm ci there, or run .ci/run)")]
async fn the_dpop_sample_binds_its_key_and_uses_it_with_proofs(backend: Backend) {
    let app = TestApp::spawn_with_alice(backend).await;
    let sample = Sample::node(
        "docs/snippets/binding-keys/dpop_cli.mjs",
        "tests/dpop_client",
        &["alice"],
        &[("MULTITOKEN_URL", app.address.as_str())],
        PASSWORD,
    );
    let printed = sample.rest(Duration::from_secs(30)).await;
    let (token_type, rest) = printed.split_once(' ').expect("three fields");
    let (status, me) = rest.split_once(' ').expect("three fields");
    assert_eq!((token_type, status), ("DPoP", "200"), "{printed}");
    let me: Value = serde_json::from_str(me).expect("JSON");
    assert_eq!(
        (&me["username"], &me["client"]),
        (&json!("alice"), &json!("cli"))
    );

    let phone = app.login("alice", "phone").await;
    let devices = app.devices(&phone).await;
    let cli = devices
        .iter()
        .find(|device| device["client"] == "cli")
        .unwrap_or_else(|| panic!("no cli in {devices:?}"));
    assert_eq!(cli["dpop"], json!(true), "{cli}");
}

// "Drop a revoked device's JWTs at once": the Django and Express receivers.

const WEBHOOK_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// A receiver of the guide: where it takes webhooks, and an API route
/// behind the guide's authentication.
enum WebhookReceiver {
    Django(ResourceServer),
    Express { sample: Sample, base: String },
}

impl WebhookReceiver {
    fn hooks_url(&self) -> String {
        match self {
            WebhookReceiver::Django(server) => server.url("/hooks/multitoken"),
            WebhookReceiver::Express { base, .. } => format!("{base}/hooks/multitoken"),
        }
    }

    /// The status of the API route for `jwt`, and the body of a refusal.
    async fn orders(&self, jwt: &str) -> (StatusCode, String) {
        let response = match self {
            WebhookReceiver::Django(server) => server.get("/jwt/orders/hooked/", jwt).await,
            WebhookReceiver::Express { base, .. } => reqwest::Client::new()
                .get(format!("{base}/orders"))
                .bearer_auth(jwt)
                .send()
                .await
                .expect("request to the receiver"),
        };
        (response.status(), response.text().await.expect("a body"))
    }

    fn log(&self) -> String {
        match self {
            WebhookReceiver::Django(server) => server.log(),
            WebhookReceiver::Express { sample, .. } => format!("(node, pid {})", sample.child.id()),
        }
    }
}

/// A device signs out; the receiver hears it from a webhook and refuses
/// that device's JWT, still within its lifetime, and takes the others'.
/// Returns the refusal's body and that JWT.
async fn a_signed_out_devices_jwts_are_refused(
    app: &TestApp,
    receiver: &WebhookReceiver,
) -> (String, String) {
    // A second instance on the same database sends the webhooks to it.
    let hooks_to = receiver.hooks_url();
    let sender = app.spawn_on_same_database(|settings| {
        let hooks = &mut settings.webhooks;
        hooks.webhook_urls = Some(WebhookUrls::parse(&hooks_to).expect("urls"));
        hooks.webhook_secret = Some(WebhookSecret::parse(WEBHOOK_SECRET).expect("secret"));
        hooks.webhook_retry_base = Duration::from_millis(200);
    });

    let (phone_key, phone_jwt) = app.obtain_jwt("alice", "phone").await;
    let (_, laptop_jwt) = app.obtain_jwt("alice", "laptop").await;
    for (jwt, client) in [(&phone_jwt, "phone"), (&laptop_jwt, "laptop")] {
        let (status, body) = receiver.orders(jwt).await;
        assert_eq!(status, StatusCode::OK, "{body}\n{}", receiver.log());
        let body: Value = serde_json::from_str(&body).expect("JSON");
        assert_eq!(body["client"], client, "{body}");
    }

    let logout = reqwest::Client::new()
        .post(format!("{sender}/logout"))
        .header("Authorization", format!("Token {phone_key}"))
        .send()
        .await
        .expect("logout");
    assert!(logout.status().is_success(), "{}", logout.status());

    let deadline = Instant::now() + Duration::from_secs(20);
    let refusal = loop {
        let (status, body) = receiver.orders(&phone_jwt).await;
        if status == StatusCode::UNAUTHORIZED {
            break body;
        }
        assert_eq!(status, StatusCode::OK, "{body}");
        assert!(
            Instant::now() < deadline,
            "no webhook received:\n{}",
            receiver.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(receiver.orders(&laptop_jwt).await.0, StatusCode::OK);
    (refusal, phone_jwt)
}

#[on_both_backends(needs webhook_python_tests, "no standardwebhooks in .venv-tests (run .ci/run)")]
async fn the_django_receiver_refuses_the_jwts_of_a_device_signed_out(backend: Backend) {
    let app = TestApp::spawn_with_alice(backend).await;
    let jwks = app.url("/.well-known/jwks.json");
    let server = ResourceServer::start_with(
        &app.url("/introspect"),
        "unused",
        &[
            ("RESOURCE_SERVER_JWKS_URL", jwks.as_str()),
            ("RESOURCE_SERVER_WEBHOOK_SECRET", WEBHOOK_SECRET),
        ],
    );
    let receiver = WebhookReceiver::Django(server);
    let (refusal, phone_jwt) = a_signed_out_devices_jwts_are_refused(&app, &receiver).await;
    let body: Value = serde_json::from_str(&refusal).expect("JSON");
    assert_eq!(body["detail"], "This device was signed out.", "{body}");
    // The same JWT at the view without the guide's class: still accepted,
    // so the refusal was the webhook's doing, not the signature's or the
    // expiry's.
    let WebhookReceiver::Django(server) = &receiver else {
        unreachable!("a Django receiver")
    };
    assert_eq!(
        server.status("/jwt/orders/", &phone_jwt).await,
        StatusCode::OK
    );
}

#[on_both_backends(needs webhook_express_tests, "tests/webhooks_express is not installed (npm ci there, or run .ci/run)")]
async fn the_express_receiver_refuses_the_jwts_of_a_device_signed_out(backend: Backend) {
    let app = TestApp::spawn_with_alice(backend).await;
    let sample = Sample::node(
        "docs/snippets/webhooks/receiver.mjs",
        "tests/webhooks_express",
        &[],
        &[
            ("MULTITOKEN_URL", app.address.as_str()),
            ("MULTITOKEN_WEBHOOK_SECRET", WEBHOOK_SECRET),
        ],
        "",
    );
    let port = sample.line(Duration::from_secs(30)).await;
    let receiver = WebhookReceiver::Express {
        sample,
        base: format!("http://127.0.0.1:{port}"),
    };
    let (refusal, _) = a_signed_out_devices_jwts_are_refused(&app, &receiver).await;
    assert_eq!(refusal, "Unauthorized");
}
