//! The real `multitoken` binary as a child process, for what only a process
//! shows: its log output, and surviving SIGKILL.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub struct ServerProcess {
    child: Child,
    pub address: String,
    log: Arc<Mutex<String>>,
}

impl ServerProcess {
    /// Starts `multitoken serve` on a free port with `DATABASE_URL` and the
    /// given extra variables, and waits until it says it is serving (so
    /// `RUST_LOG` must let `multitoken::startup` log at `info`).
    pub fn start(database_url: &str, env: &[(&str, &str)]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_multitoken"))
            .arg("serve")
            .env_clear()
            .env("DATABASE_URL", database_url)
            .env("MULTITOKEN_BIND", "127.0.0.1:0")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start multitoken");
        let stderr = child.stderr.take().expect("stderr");
        let log = Arc::new(Mutex::new(String::new()));
        let (address_tx, address_rx) = mpsc::channel();
        let collected = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if let Some((_, rest)) = line.split_once("serving on http://") {
                    let address = rest.split_whitespace().next().unwrap_or("").to_owned();
                    let _ = address_tx.send(address);
                }
                let mut log = collected.lock().expect("log");
                log.push_str(&line);
                log.push('\n');
            }
        });
        let address = match address_rx.recv_timeout(Duration::from_secs(30)) {
            Ok(address) => address,
            Err(_) => {
                let _ = child.kill();
                panic!(
                    "multitoken did not start:\n{}",
                    log.lock().expect("log").as_str()
                );
            }
        };
        ServerProcess {
            child,
            address: format!("http://{address}"),
            log,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    /// Everything the process wrote to standard error so far.
    pub fn log(&self) -> String {
        self.log.lock().expect("log").clone()
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
