//! Tells the HTTP tests what this machine can run, as cfgs, so that a test
//! that cannot run here is reported as ignored instead of passing unseen.
//! It lives in this package, not the service's, because it watches `PATH`
//! and installed tools: a change there rebuilds the tests, never the
//! service's binary.
//! - `postgres_tests` when `TEST_DATABASE_URL` is set (the PostgreSQL twins
//!   of the HTTP tests, and the PostgreSQL-only tests);
//! - `browser_tests` when chromedriver is found (`CHROMEDRIVER`, or on the
//!   `PATH`), or under CI (`CI` set), where the browser test must run;
//! - `nginx_tests` and `caddy_tests` when that binary is found on the `PATH`
//!   or in `/usr/sbin` (where Debian puts nginx), or under CI, where the
//!   tests of `tests/api/services/proxies.rs` must run;
//! - `django_tests` when the resource server's Python is chosen
//!   (`RESOURCE_SERVER_PYTHON`) or found (`.venv-tests/bin/python`, which
//!   `.ci/run` makes), or under CI, where the Django resource-server test
//!   and the import from a Django-built database must run.
//!   A venv made later is seen after `cargo clean` or a change to this file.
//!
//! Paths below are the repository's (`MULTITOKEN_REPOSITORY`, also given to
//! the tests), two folders above this package.
//! - `smtp_tests` when `.venv-tests/bin/python` can import aiosmtpd (the
//!   SMTP server of `tests/api/ops/smtp_tls.rs`), or under CI.
//! - `oidc_tests` when the OpenID provider of `tests/oidc_provider/` is
//!   installed (`node_modules/oidc-provider`, which `.ci/run` installs with
//!   npm), or under CI, where the social-login tests must run.
//! - `axe_tests` when axe-core is installed in `tests/console_browser/`
//!   (`node_modules/axe-core/axe.min.js`, which `.ci/run` installs with
//!   npm), or under CI, where the console's accessibility checks must run
//!   (the browser tests that need it also need `browser_tests`).
//! - `dpop_client_tests` when panva's `dpop` is installed in
//!   `tests/dpop_client/` (which `.ci/run` installs with npm) and `node` is
//!   on the `PATH`, or under CI: the end-to-end tests of keys bound to
//!   devices (`tests/api/services/dpop_proxies.rs`, which also need nginx
//!   or Caddy).
//! - `device_client_tests` when oauth4webapi is installed in
//!   `tests/device_client/` (`npm ci` there, which `.ci/run` does), or under
//!   CI, where the device grant driven by that OAuth client must run.
//! - `oauthlib_tests` when `.venv-tests/bin/python` can import oauthlib (the
//!   device grant driven by its `DeviceClient`), or under CI.
//! - `webhook_python_tests` when `.venv-tests/bin/python` can import
//!   standardwebhooks (the PyPI verifier of `tests/api/services/webhooks.rs`,
//!   `tests/webhooks_client/verify.py`), or under CI.
//! - `webhook_node_tests` when the npm standardwebhooks is installed in
//!   `tests/webhooks_client/` (`.ci/run` installs it), or under CI.
//! - `webhook_express_tests` when Express is installed in
//!   `tests/webhooks_express/` (with jose and standardwebhooks: what the
//!   book's Express webhook receiver imports, `.ci/run` installs them), or
//!   under CI.
//! - `key_checker_tests` when both `python3` and `node` are on the `PATH`
//!   (the guide's key checkers, `tests/api/auth/key_format.rs`), or under CI.
//! - `docs_tests` when `python3`, `bash`, `curl` and `jq` are on the `PATH`
//!   and `.venv-tests/bin/python` can import django (`tests/docs/run.py`
//!   runs the README's and the book's shell samples with them, and builds a
//!   Django database for the import guide; `tests/api/ops/docs.rs`), or
//!   under CI.
//! - `pty_tests` when `python3` is on the `PATH` (its `pty` module gives
//!   `user create` a terminal to ask for the password on,
//!   `tests/api/ops/password_prompt.rs`), or under CI.
//! - `detect_secrets_tests` when `.venv-tests/bin/python` can import
//!   detect_secrets (the secret-scanner test of `tests/api/auth/key_format.rs`),
//!   or under CI.
//! - `snippets_python_tests` when `.venv-tests/bin/python` can import
//!   requests (the book's Python client snippets, `docs/snippets/python/`),
//!   or under CI.
//! - `snippets_node_tests` when `node` on the `PATH` is version 18 or later
//!   (the first with `fetch`: the book's JavaScript client snippets,
//!   `docs/snippets/javascript/`), or under CI.
//! - `openapi_python_tests` when `.venv-tests/bin/python` can import
//!   openapi_spec_validator and openapi_python_client (the validator and the
//!   generated Python client of `tests/api/services/generated_clients.rs`),
//!   or under CI.
//! - `openapi_typescript_tests` when openapi-typescript, openapi-fetch and
//!   TypeScript are installed in `tests/generated_clients/` (`.ci/run`
//!   installs them) and `node` is on the `PATH`, or under CI.
use std::env;
use std::path::{Path, PathBuf};

fn main() {
    let repository = repository();
    println!(
        "cargo::rustc-env=MULTITOKEN_REPOSITORY={}",
        repository.display()
    );

    println!("cargo::rustc-check-cfg=cfg(postgres_tests)");
    println!("cargo::rerun-if-env-changed=TEST_DATABASE_URL");
    if env::var_os("TEST_DATABASE_URL").is_some_and(|url| !url.is_empty()) {
        println!("cargo::rustc-cfg=postgres_tests");
    }

    for variable in ["CHROMEDRIVER", "PATH", "CI"] {
        println!("cargo::rerun-if-env-changed={variable}");
    }
    let driver = chromedriver();
    if let Some(driver) = driver.as_ref().filter(|driver| driver.is_file()) {
        // Rerun if it is removed; a driver installed later is seen when
        // `PATH` or `CHROMEDRIVER` changes, or after `cargo clean`.
        println!("cargo::rerun-if-changed={}", driver.display());
    }
    found_or_ci("browser_tests", driver.is_some());

    println!("cargo::rerun-if-env-changed=RESOURCE_SERVER_PYTHON");
    let python = resource_server_python();
    if python.is_file() {
        // Rerun if it is removed.
        println!("cargo::rerun-if-changed={}", python.display());
    }
    let chosen = env::var_os("RESOURCE_SERVER_PYTHON").is_some_and(|path| !path.is_empty());
    found_or_ci("django_tests", chosen || python.is_file());

    // The SMTP server of tests/api/ops/smtp_tls.rs is aiosmtpd in that venv.
    let venv_python = repository.join(".venv-tests/bin/python");
    found_or_ci("smtp_tests", imports(&venv_python, "aiosmtpd"));
    // The npm folders under tests/ whose one package a test needs.
    for (cfg, folder, file) in [
        (
            "oidc_tests",
            "tests/oidc_provider",
            "oidc-provider/package.json",
        ),
        ("axe_tests", "tests/console_browser", "axe-core/axe.min.js"),
        (
            "device_client_tests",
            "tests/device_client",
            "oauth4webapi/package.json",
        ),
        (
            "webhook_node_tests",
            "tests/webhooks_client",
            "standardwebhooks/package.json",
        ),
        (
            "webhook_express_tests",
            "tests/webhooks_express",
            "express/package.json",
        ),
    ] {
        found_or_ci(cfg, npm_installed(&repository.join(folder), file));
    }
    found_or_ci(
        "dpop_client_tests",
        npm_installed(&repository.join("tests/dpop_client"), "dpop/package.json")
            && program("node").is_some(),
    );
    found_or_ci("oauthlib_tests", imports(&venv_python, "oauthlib.oauth2"));
    found_or_ci(
        "webhook_python_tests",
        imports(&venv_python, "standardwebhooks"),
    );
    found_or_ci(
        "detect_secrets_tests",
        imports(&venv_python, "detect_secrets"),
    );

    found_or_ci(
        "openapi_python_tests",
        imports(
            &venv_python,
            "openapi_spec_validator, openapi_python_client",
        ),
    );
    let generated_clients = repository.join("tests/generated_clients");
    found_or_ci(
        "openapi_typescript_tests",
        [
            "openapi-typescript/package.json",
            "openapi-fetch/package.json",
            "typescript/package.json",
        ]
        .iter()
        .all(|file| npm_installed(&generated_clients, file))
            && program("node").is_some(),
    );

    let python = program("python3");
    let node = program("node");
    for found in [&python, &node].into_iter().flatten() {
        println!("cargo::rerun-if-changed={}", found.display());
    }
    found_or_ci("key_checker_tests", python.is_some() && node.is_some());
    found_or_ci("snippets_python_tests", imports(&venv_python, "requests"));
    found_or_ci(
        "snippets_node_tests",
        node.as_deref()
            .is_some_and(|node| major_version(node) >= Some(18)),
    );

    let docs_tools = ["bash", "curl", "jq"].map(program);
    for found in docs_tools.iter().flatten() {
        println!("cargo::rerun-if-changed={}", found.display());
    }
    found_or_ci(
        "docs_tests",
        python.is_some()
            && docs_tools.iter().all(Option::is_some)
            && imports(&venv_python, "django"),
    );
    found_or_ci("pty_tests", python.is_some());

    for (binary, cfg) in [("nginx", "nginx_tests"), ("caddy", "caddy_tests")] {
        let found = program(binary);
        if let Some(found) = &found {
            println!("cargo::rerun-if-changed={}", found.display());
        }
        found_or_ci(cfg, found.is_some());
    }
}

/// Declares `cfg(name)`, and sets it when what its tests need was `found`,
/// or under CI (`CI` set), where a missing tool must fail them.
fn found_or_ci(name: &str, found: bool) {
    println!("cargo::rustc-check-cfg=cfg({name})");
    if found || env::var_os("CI").is_some() {
        println!("cargo::rustc-cfg={name}");
    }
}

/// Whether `python` (the tests' venv's) can import `module`.
fn imports(python: &Path, module: &str) -> bool {
    std::process::Command::new(python)
        .args(["-c", &format!("import {module}")])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

/// The major version that `program --version` prints (`v20.11.1` gives 20).
fn major_version(program: &Path) -> Option<u32> {
    let output = std::process::Command::new(program)
        .arg("--version")
        .output()
        .ok()?;
    let version = String::from_utf8_lossy(&output.stdout);
    version
        .trim()
        .trim_start_matches('v')
        .split('.')
        .next()?
        .parse()
        .ok()
}

/// Whether `file` of `folder`'s `node_modules` is installed (by `npm ci`).
/// Reruns when it is installed or removed: `node_modules` while it is
/// there, else `folder`, which changes when npm creates it. (A watched
/// path that does not exist would rebuild the tests on every run.)
fn npm_installed(folder: &Path, file: &str) -> bool {
    let modules = folder.join("node_modules");
    let watched = if modules.exists() {
        modules.as_path()
    } else {
        folder
    };
    println!("cargo::rerun-if-changed={}", watched.display());
    modules.join(file).is_file()
}

/// Where `tests/api/services/resource_server.rs` will look for the interpreter.
fn resource_server_python() -> PathBuf {
    env::var_os("RESOURCE_SERVER_PYTHON")
        .filter(|path| !path.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| repository().join(".venv-tests/bin/python"))
}

/// The repository's root, where `.venv-tests/` and the fixtures under
/// `tests/` live.
fn repository() -> PathBuf {
    let package = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let root = package.join("../..");
    root.canonicalize().unwrap_or(root)
}

/// Where `tests/api/services/proxies.rs` will look for a proxy's binary: the `PATH`,
/// then `/usr/sbin` (often not on a user's `PATH`).
fn program(name: &str) -> Option<PathBuf> {
    let path = env::var_os("PATH").unwrap_or_default();
    env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin")])
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

/// Where `tests/api/admin/browser/harness.rs` will look for the driver.
fn chromedriver() -> Option<PathBuf> {
    env::var_os("CHROMEDRIVER")
        .filter(|path| !path.is_empty())
        .map(PathBuf::from)
        .or_else(|| {
            env::split_paths(&env::var_os("PATH")?)
                .map(|dir| dir.join("chromedriver"))
                .find(|candidate| candidate.is_file())
        })
}
