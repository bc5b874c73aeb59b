//! `user create` and `user set-password` ask for the password twice on a
//! terminal (a real one: a pseudo-terminal made by Python's `pty` module),
//! read it from standard input with `--password-stdin`, and refuse to run
//! without either.

use crate::helpers::on_both_backends;
use crate::helpers::{Backend, TestApp, PASSWORD};
use reqwest::StatusCode;
use std::process::{Command, Output};

/// Runs the binary with `args` on a pseudo-terminal, answers its two
/// prompts with `first` and `second` once each is shown (after a pause, so
/// the answer comes once echo is off, as a person's would), and prints
/// everything the terminal showed. Exits with the command's status.
const ON_A_TERMINAL: &str = r#"
import os, pty, select, sys, time
pid, fd = pty.fork()
if pid == 0:
    env = {name: os.environ[name] for name in ("DATABASE_URL", "RUST_LOG", "PATH")}
    os.execve(sys.argv[1], ["multitoken"] + sys.argv[2:], env)
shown = b""
def more():
    global shown
    ready, _, _ = select.select([fd], [], [], 30)
    try:
        chunk = os.read(fd, 1024) if ready else b""
    except OSError:
        chunk = b""
    shown += chunk
    return chunk
def wait_for(prompt):
    while prompt not in shown:
        if not more():
            sys.stdout.buffer.write(shown)
            sys.exit(90)
for prompt, answer in [(b"Password: ", "FIRST"), (b"Password (again): ", "SECOND")]:
    wait_for(prompt)
    time.sleep(0.3)
    os.write(fd, os.environ[answer].encode() + b"\n")
while more():
    pass
_, status = os.waitpid(pid, 0)
sys.stdout.buffer.write(shown)
sys.exit(os.waitstatus_to_exitcode(status))
"#;

fn on_a_terminal(app: &TestApp, args: &[&str], first: &str, second: &str) -> (Option<i32>, String) {
    let output = Command::new("python3")
        .arg("-c")
        .arg(ON_A_TERMINAL)
        .arg(env!("CARGO_BIN_EXE_multitoken-under-test"))
        .args(args)
        // Python keeps its own environment (pyenv's shims need theirs); the
        // command gets only these three.
        .env("DATABASE_URL", app.db.url())
        .env("RUST_LOG", "warn")
        .env("FIRST", first)
        .env("SECOND", second)
        .output()
        .expect("run python3");
    let shown = String::from_utf8_lossy(&output.stdout).into_owned();
    assert_ne!(
        output.status.code(),
        Some(90),
        "a prompt never came: {shown:?}"
    );
    (output.status.code(), shown)
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[on_both_backends(needs pty_tests, "python3 is not on the PATH")]
async fn on_a_terminal_the_password_is_asked_for_twice_without_echo(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let password = "typed-Twice-Harbour-5";
    let (status, shown) = on_a_terminal(&app, &["user", "create", "carol"], password, password);
    assert_eq!(status, Some(0), "{shown}");
    assert!(shown.contains("created user carol (id "), "{shown}");
    assert!(
        !shown.contains(password),
        "the password is not echoed: {shown:?}"
    );
    app.login_as("carol", password, "web").await;
    // Mistyped: nothing is created.
    let (status, shown) = on_a_terminal(
        &app,
        &["user", "create", "dave"],
        password,
        "typed-Twice-Harbour-6",
    );
    assert_eq!(status, Some(1), "{shown}");
    assert!(shown.contains("error: passwords do not match"), "{shown}");
    assert_eq!(
        app.login_status("dave", password, "web").await,
        StatusCode::BAD_REQUEST
    );
    // The rules apply to a typed password as to any other.
    let (status, shown) = on_a_terminal(&app, &["user", "create", "erin"], "1234", "1234");
    assert_eq!(status, Some(1), "{shown}");
    assert!(shown.contains("This password is too short."), "{shown}");
    // set-password has the same shape.
    let new = "second-Typed-Harbour-7";
    let (status, shown) = on_a_terminal(&app, &["user", "set-password", "carol"], new, new);
    assert_eq!(status, Some(0), "{shown}");
    assert!(shown.contains("password of carol changed"), "{shown}");
    app.login_as("carol", new, "web").await;
    let (status, shown) = on_a_terminal(&app, &["user", "set-password", "carol"], new, password);
    assert_eq!(
        (status, shown.contains("passwords do not match")),
        (Some(1), true),
        "{shown}"
    );
    app.login_as("carol", new, "web").await;
}

#[on_both_backends]
async fn without_a_terminal_the_password_comes_from_stdin_with_the_flag_only(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let created = app.cli(
        &["user", "create", "bob", "--password-stdin"],
        &format!("{PASSWORD}\n"),
    );
    assert!(created.status.success(), "{created:?}");
    app.login_as("bob", PASSWORD, "web").await;
    let other = "other-Piped-Harbour-3";
    for args in [
        &["user", "create", "carl"][..],
        &["user", "set-password", "bob"][..],
    ] {
        let refused = app.cli(args, &format!("{other}\n"));
        assert_eq!(refused.status.code(), Some(1), "{refused:?}");
        let message = stderr(&refused);
        assert!(
            message.contains("standard input is not a terminal to ask for the password on")
                && message.contains("--password-stdin"),
            "{args:?}: {message}"
        );
    }
    assert_eq!(
        app.login_status("carl", other, "web").await,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        app.login_status("bob", other, "web").await,
        StatusCode::BAD_REQUEST
    );
    app.login_as("bob", PASSWORD, "web").await;
}
