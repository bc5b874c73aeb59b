//! The real `multitoken` binary as a child process, for what only a process
//! shows: its log output, its command line, and surviving SIGKILL.

use super::Sent;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The service's binary: `src/main.rs`, which this package builds as
/// `multitoken-under-test`, started under the name a user types so that
/// its usage and error lines read as theirs would.
pub fn multitoken() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_multitoken-under-test"));
    command.arg0("multitoken");
    command
}

/// Waits until a child process listens on 127.0.0.1:`port`, at most
/// `limit`; otherwise why not (it exited, or the time ran out), for the
/// caller's failure message.
pub fn wait_until_listening(child: &mut Child, port: u16, limit: Duration) -> Result<(), String> {
    let started = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("exited with {status}"));
        }
        if started.elapsed() >= limit {
            return Err(format!("did not listen on port {port}"));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(())
}

/// `multitoken serve` on a random port with only `DATABASE_URL`,
/// `RUST_LOG=info`, the run's `TOKEN_CACHE` and `env` (which may override
/// them) in its environment, and nothing on its standard input; the caller
/// chooses where its output goes.
pub fn serve_command(database_url: &str, env: &[(&str, &str)]) -> Command {
    let mut command = multitoken();
    command
        .arg("serve")
        .env_clear()
        .env("DATABASE_URL", database_url)
        .env("MULTITOKEN_BIND", "127.0.0.1:0")
        .env("RUST_LOG", "info")
        .envs(std::env::var("TOKEN_CACHE").map(|cache| ("TOKEN_CACHE", cache)))
        .envs(env.iter().copied())
        .stdin(Stdio::null());
    command
}

/// The lines `output` writes, as they come: read on a thread of their own,
/// so that a test can wait for the next one with a time limit.
pub fn lines_of(output: impl Read + Send + 'static) -> Receiver<String> {
    let (send, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(output).lines().map_while(Result::ok) {
            if send.send(line).is_err() {
                break;
            }
        }
    });
    lines
}

/// How long `wait_for_log` waits for a line before it fails the test.
const LOG_WAIT: Duration = Duration::from_secs(30);

/// `multitoken serve` on a random port, its standard error collected as it
/// goes; killed when dropped.
pub struct ServerProcess {
    child: Child,
    /// The base URL, as in `http://127.0.0.1:PORT`.
    pub address: String,
    log: Arc<Mutex<String>>,
}

impl ServerProcess {
    /// Starts `multitoken serve` on a free port with `DATABASE_URL`,
    /// `RUST_LOG=info` and the given extra variables (which may override
    /// `RUST_LOG`), and waits until it logs `serving on http://…`. That line
    /// comes from `multitoken::startup` at `info`, so a `RUST_LOG` given here
    /// must let it through.
    pub fn start(database_url: &str, env: &[(&str, &str)]) -> Self {
        let mut child = serve_command(database_url, env)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run multitoken serve");
        let stderr = child.stderr.take().expect("stderr");
        let log = Arc::new(Mutex::new(String::new()));
        let collected = log.clone();
        std::thread::spawn(move || {
            // Line by line, each decoded on its own: a stray invalid byte
            // costs one character, never the rest of the log.
            let mut reader = BufReader::new(stderr);
            let mut line = Vec::new();
            while reader
                .read_until(b'\n', &mut line)
                .is_ok_and(|read| read > 0)
            {
                collected
                    .lock()
                    .expect("log")
                    .push_str(&String::from_utf8_lossy(&line));
                line.clear();
            }
        });
        let mut server = ServerProcess {
            child,
            address: String::new(),
            log,
        };
        // "serving on http://127.0.0.1:PORT with ..."
        let line = server.wait_for_log("serving on http://");
        let address = line
            .split("serving on ")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .expect("address in the log")
            .to_owned();
        server.address = address;
        server
    }

    /// The process id, for signals (`kill -STOP`).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    /// Asks the process for a password-reset mail to `email`; the answer is
    /// 200 whether or not the mail can go.
    pub async fn request_password_reset(&self, email: &str) {
        let response = reqwest::Client::new()
            .post(self.url("/password/reset"))
            .json(&serde_json::json!({ "email": email }))
            .sent()
            .await;
        assert_eq!(response.status(), reqwest::StatusCode::OK);
    }

    /// Everything the process wrote to standard error so far.
    pub fn log(&self) -> String {
        self.log.lock().expect("log").clone()
    }

    /// Waits for a log line containing `needle` and returns it; fails the
    /// test, showing the log, if the process exits or the wait runs out.
    pub fn wait_for_log(&mut self, needle: &str) -> String {
        let deadline = Instant::now() + LOG_WAIT;
        loop {
            if let Some(line) = self.log().lines().find(|line| line.contains(needle)) {
                return line.to_owned();
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("the server exited with {status}:\n{}", self.log());
            }
            assert!(
                Instant::now() < deadline,
                "no log line with {needle:?} in:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits until the console mail backend (`MAIL=console`) logged the
    /// mail whose line contains `sent`, checks the mail's subject, and
    /// returns the log.
    pub fn console_mail(&mut self, sent: &str, subject: &str) -> String {
        self.wait_for_log(sent);
        let log = self.log();
        assert!(log.contains("mail (MAIL=console)"), "{log}");
        assert!(log.contains(&format!("Subject: {subject}")), "{log}");
        log
    }

    /// SIGTERM, then waits up to `patience` for the process to exit:
    /// how long it took and how it ended (`None`: still running).
    pub fn terminate(&mut self, patience: Duration) -> (Duration, Option<ExitStatus>) {
        let started = Instant::now();
        let sent = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(sent.success(), "kill -TERM: {sent}");
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return (started.elapsed(), Some(status));
            }
            if started.elapsed() > patience {
                return (started.elapsed(), None);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGKILL: no shutdown, no flushing, no goodbye.
    pub fn kill(&mut self) {
        self.child.kill().expect("SIGKILL");
        self.child.wait().expect("reap");
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Creates the user `name` with `email` and the default password through
/// the command line, on a database no server runs on yet; panics unless it
/// succeeds.
pub fn create_user_by_cli(database_url: &str, name: &str, email: &str) {
    let created = run_cli(
        database_url,
        &["user", "create", name, "--email", email, "--password-stdin"],
        &format!("{}\n", super::PASSWORD),
    );
    assert!(created.status.success(), "{created:?}");
}

/// Runs a program the tests lean on (a checker, a script, a setup step) to
/// its end and returns what it printed; panics with its status and
/// standard error unless it succeeded.
pub fn stdout_of(command: &mut Command, what: &str) -> Vec<u8> {
    let output = command
        .output()
        .unwrap_or_else(|error| panic!("run {what}: {error}"));
    assert!(
        output.status.success(),
        "{what}: {}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    output.stdout
}

/// Asserts that a command failed as the command line fails on bad input:
/// exit status 1, `message` on standard error, and no panic.
pub fn assert_failed_with(output: &Output, message: &str) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    assert!(
        stderr.contains(message),
        "stderr {stderr:?} lacks {message:?}"
    );
    assert!(!stderr.contains("panicked"), "{output:?}");
}

/// Runs the `multitoken` binary with `args` on `database_url`, feeding it
/// `stdin`, and returns what it did.
pub fn run_cli(database_url: &str, args: &[&str], stdin: &str) -> Output {
    let mut child = multitoken()
        .args(args)
        .env_clear()
        .env("DATABASE_URL", database_url)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run multitoken");
    // A command that fails before reading its input closes the pipe early:
    // its exit status and message are what the test checks, not this write.
    if let Err(error) = child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin.as_bytes())
    {
        assert_eq!(error.kind(), std::io::ErrorKind::BrokenPipe, "write stdin");
    }
    child.wait_with_output().expect("wait for multitoken")
}
