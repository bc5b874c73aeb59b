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
//! - `webhook_python_tests` when `.venv-tests/bin/python` can import
//!   standardwebhooks (the PyPI verifier of `tests/api/services/webhooks.rs`,
//!   `tests/webhooks_client/verify.py`), or under CI.
//! - `webhook_node_tests` when the npm standardwebhooks is installed in
//!   `tests/webhooks_client/` (`.ci/run` installs it), or under CI.
//! - `key_checker_tests` when both `python3` and `node` are on the `PATH`
//!   (the guide's key checkers, `tests/api/auth/key_format.rs`), or under CI.
//! - `detect_secrets_tests` when `.venv-tests/bin/python` can import
//!   detect_secrets (the secret-scanner test of `tests/api/auth/key_format.rs`),
//!   or under CI.
use std::env;
use std::path::PathBuf;

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

    println!("cargo::rustc-check-cfg=cfg(browser_tests)");
    for variable in ["CHROMEDRIVER", "PATH", "CI"] {
        println!("cargo::rerun-if-env-changed={variable}");
    }
    let driver = chromedriver();
    if let Some(driver) = driver.as_ref().filter(|driver| driver.is_file()) {
        // Rerun if it is removed; a driver installed later is seen when
        // `PATH` or `CHROMEDRIVER` changes, or after `cargo clean`.
        println!("cargo::rerun-if-changed={}", driver.display());
    }
    if driver.is_some() || env::var_os("CI").is_some() {
        println!("cargo::rustc-cfg=browser_tests");
    }

    println!("cargo::rustc-check-cfg=cfg(django_tests)");
    println!("cargo::rerun-if-env-changed=RESOURCE_SERVER_PYTHON");
    let python = resource_server_python();
    if python.is_file() {
        // Rerun if it is removed.
        println!("cargo::rerun-if-changed={}", python.display());
    }
    let chosen = env::var_os("RESOURCE_SERVER_PYTHON").is_some_and(|path| !path.is_empty());
    if chosen || python.is_file() || env::var_os("CI").is_some() {
        println!("cargo::rustc-cfg=django_tests");
    }

    // The SMTP server of tests/api/ops/smtp_tls.rs is aiosmtpd in that venv.
    println!("cargo::rustc-check-cfg=cfg(smtp_tests)");
    let venv_python = repository.join(".venv-tests/bin/python");
    let has_aiosmtpd = std::process::Command::new(&venv_python)
        .args(["-c", "import aiosmtpd"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|status| status.success());
    if has_aiosmtpd || env::var_os("CI").is_some() {
        println!("cargo::rustc-cfg=smtp_tests");
    }

    println!("cargo::rustc-check-cfg=cfg(oidc_tests)");
    let provider = repository.join("tests/oidc_provider/node_modules/oidc-provider/package.json");
    // Rerun when it is installed or removed: node_modules while it is there,
    // else its parent folder, which changes when npm creates it. (A watched
    // path that does not exist would rebuild the tests on every run.)
    let modules = repository.join("tests/oidc_provider/node_modules");
    let watched = if modules.exists() {
        modules
    } else {
        repository.join("tests/oidc_provider")
    };
    println!("cargo::rerun-if-changed={}", watched.display());
    if provider.is_file() || env::var_os("CI").is_some() {
        println!("cargo::rustc-cfg=oidc_tests");
    }

    println!("cargo::rustc-check-cfg=cfg(axe_tests)");
    let axe = repository.join("tests/console_browser/node_modules/axe-core/axe.min.js");
    // As for the OpenID provider: node_modules while it is there, else the
    // folder npm creates it in.
    let modules = repository.join("tests/console_browser/node_modules");
    let watched = if modules.exists() {
        modules
    } else {
        repository.join("tests/console_browser")
    };
    println!("cargo::rerun-if-changed={}", watched.display());
    if axe.is_file() || env::var_os("CI").is_some() {
        println!("cargo::rustc-cfg=axe_tests");
    }

    println!("cargo::rustc-check-cfg=cfg(detect_secrets_tests)");
    let has_detect_secrets = std::process::Command::new(&venv_python)
        .args(["-c", "import detect_secrets"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|status| status.success());
    if has_detect_secrets || env::var_os("CI").is_some() {
        println!("cargo::rustc-cfg=detect_secrets_tests");
    }

    println!("cargo::rustc-check-cfg=cfg(webhook_python_tests)");
    println!("cargo::rerun-if-env-changed=PYTHONPATH");
    let has_standardwebhooks = std::process::Command::new(&venv_python)
        .args(["-c", "import standardwebhooks"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|status| status.success());
    if has_standardwebhooks || env::var_os("CI").is_some() {
        println!("cargo::rustc-cfg=webhook_python_tests");
    }

    println!("cargo::rustc-check-cfg=cfg(webhook_node_tests)");
    let library =
        repository.join("tests/webhooks_client/node_modules/standardwebhooks/package.json");
    // As for the OpenID provider: node_modules while it is there, else the
    // folder npm creates it in.
    let modules = repository.join("tests/webhooks_client/node_modules");
    let watched = if modules.exists() {
        modules
    } else {
        repository.join("tests/webhooks_client")
    };
    println!("cargo::rerun-if-changed={}", watched.display());
    if library.is_file() || env::var_os("CI").is_some() {
        println!("cargo::rustc-cfg=webhook_node_tests");
    }

    println!("cargo::rustc-check-cfg=cfg(key_checker_tests)");
    let python = program("python3");
    let node = program("node");
    for found in [&python, &node].into_iter().flatten() {
        println!("cargo::rerun-if-changed={}", found.display());
    }
    if (python.is_some() && node.is_some()) || env::var_os("CI").is_some() {
        println!("cargo::rustc-cfg=key_checker_tests");
    }

    for (binary, cfg) in [("nginx", "nginx_tests"), ("caddy", "caddy_tests")] {
        println!("cargo::rustc-check-cfg=cfg({cfg})");
        let found = program(binary);
        if let Some(found) = &found {
            println!("cargo::rerun-if-changed={}", found.display());
        }
        if found.is_some() || env::var_os("CI").is_some() {
            println!("cargo::rustc-cfg={cfg}");
        }
    }
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
