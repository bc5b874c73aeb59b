//! Login flood: `cargo bench --bench flood` builds the release binary, starts
//! it on a fresh SQLite file (or on `FLOOD_DATABASE_URL`), and for
//! `FLOOD_SECONDS` (30) keeps `FLOOD_CONNECTIONS` (500) connections posting
//! logins, while a separate thread checks a token with `GET /whoami` every
//! 20 ms. It prints the server's peak memory (VmHWM), the token checks'
//! latency percentiles, and what the logins were answered.
//!
//! Targets: peak RSS under 256 MiB; p99 of token checks under 50 ms; logins
//! past the hashing queue answered 503 with `Retry-After`. The throttle is
//! set out of the way (every flood login comes from 127.0.0.1) so that the
//! flood reaches the password hashing. `PASSWORD_HASH_THREADS` and every
//! other setting in the environment are passed on to the server.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use reqwest::{Client, StatusCode};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const PASSWORD: &str = "flood-password-2931";

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn binary() -> Command {
    Command::new(env!("CARGO_BIN_EXE_multitoken"))
}

fn start_server(database_url: &str) -> (Child, String) {
    let mut child = binary()
        .arg("serve")
        .env("DATABASE_URL", database_url)
        .env("MULTITOKEN_BIND", "127.0.0.1:0")
        .env("RUST_LOG", "warn,multitoken::startup=info")
        .env("LOGIN_THROTTLE", "4000000000/1s")
        .env("MAX_CLIENTS_PER_USER", "100000")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start multitoken");
    let mut lines = BufReader::new(child.stderr.take().expect("stderr")).lines();
    let address = loop {
        let line = lines.next().expect("server output").expect("line");
        if let Some((_, rest)) = line.split_once("serving on http://") {
            break rest.split_whitespace().next().unwrap_or("").to_owned();
        }
    };
    // Keep draining the log so the server never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    (child, format!("http://{address}"))
}

fn status_kib(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find(|line| line.starts_with(field))
        .and_then(|line| line.split_whitespace().nth(1))
        .and_then(|kib| kib.parse().ok())
        .unwrap_or(0)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn main() {
    // `cargo bench` passes `--bench`; a filter that is not "flood" skips us.
    if std::env::args()
        .skip(1)
        .any(|a| !a.starts_with('-') && a != "flood")
    {
        return;
    }
    let seconds = env_number("FLOOD_SECONDS", 30);
    let connections = env_number("FLOOD_CONNECTIONS", 500) as usize;
    let dir = tempfile::tempdir().expect("temp dir");
    let database_url = std::env::var("FLOOD_DATABASE_URL")
        .unwrap_or_else(|_| dir.path().join("flood.db").to_string_lossy().into_owned());

    let mut create = binary()
        .args(["user", "create", "flood", "--password-stdin"])
        .env("DATABASE_URL", &database_url)
        .stdin(Stdio::piped())
        .spawn()
        .expect("create user");
    writeln!(create.stdin.take().expect("stdin"), "{PASSWORD}").expect("password");
    assert!(create.wait().expect("wait").success(), "user create failed");

    let (mut server, base) = start_server(&database_url);
    let pid = server.id();
    let rss_before = status_kib(pid, "VmRSS:");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");

    let key = runtime.block_on(async {
        let body: Value = Client::new()
            .post(format!("{base}/login"))
            .json(&json!({"username": "flood", "password": PASSWORD, "client": "checker"}))
            .send()
            .await
            .expect("login")
            .json()
            .await
            .expect("json");
        body["auth_token"].as_str().expect("key").to_owned()
    });

    let deadline = Instant::now() + Duration::from_secs(seconds);

    // Token checks on a thread of their own, so that the flood's client
    // side does not delay them.
    let checker = {
        let base = base.clone();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async move {
                let http = Client::new();
                let mut latencies = Vec::new();
                let mut failures = 0;
                // Let the flood build up first.
                tokio::time::sleep(Duration::from_secs(2)).await;
                while Instant::now() < deadline {
                    let started = Instant::now();
                    let response = http
                        .get(format!("{base}/whoami"))
                        .header("Authorization", format!("Token {key}"))
                        .send()
                        .await;
                    latencies.push(started.elapsed());
                    if !matches!(&response, Ok(r) if r.status() == StatusCode::OK) {
                        failures += 1;
                    }
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                (latencies, failures)
            })
        })
    };

    let answers: Arc<Mutex<BTreeMap<String, u64>>> = Arc::default();
    let retry_after_missing = Arc::new(Mutex::new(0u64));
    let peak_sampled = Arc::new(Mutex::new(0u64));
    runtime.block_on(async {
        let local = tokio::task::LocalSet::new();
        local
            .run_until(async {
                let mut flooders = Vec::new();
                for n in 0..connections {
                    let base = base.clone();
                    let answers = answers.clone();
                    let retry_after_missing = retry_after_missing.clone();
                    flooders.push(tokio::task::spawn_local(async move {
                        // One client per task: one connection each.
                        let http = Client::builder()
                            .pool_max_idle_per_host(1)
                            .timeout(Duration::from_secs(60))
                            .build()
                            .expect("client");
                        let body = json!({"username": "flood", "password": PASSWORD, "client": format!("c{n}")});
                        while Instant::now() < deadline {
                            let answer = match http.post(format!("{base}/login")).json(&body).send().await {
                                Ok(response) => {
                                    if response.status() == StatusCode::SERVICE_UNAVAILABLE
                                        && response.headers().get("retry-after").is_none()
                                    {
                                        *retry_after_missing.lock().unwrap() += 1;
                                    }
                                    let status = response.status().as_u16().to_string();
                                    let _ = response.bytes().await;
                                    status
                                }
                                Err(error) if error.is_timeout() => "timeout".to_owned(),
                                Err(_) => "connection error".to_owned(),
                            };
                            *answers.lock().unwrap().entry(answer).or_default() += 1;
                        }
                    }));
                }
                let sampler = {
                    let peak = peak_sampled.clone();
                    tokio::task::spawn_local(async move {
                        while Instant::now() < deadline {
                            let rss = status_kib(pid, "VmRSS:");
                            {
                                let mut peak = peak.lock().unwrap();
                                *peak = (*peak).max(rss);
                            }
                            tokio::time::sleep(Duration::from_millis(100)).await;
                        }
                    })
                };
                for flooder in flooders {
                    let _ = flooder.await;
                }
                let _ = sampler.await;
            })
            .await;
    });
    let (mut latencies, check_failures) = checker.join().expect("checker");
    let hwm = status_kib(pid, "VmHWM:");
    let _ = server.kill();
    let _ = server.wait();

    latencies.sort();
    let answers = answers.lock().unwrap();
    let total: u64 = answers.values().sum();
    let p99 = percentile(&latencies, 99.0);
    println!("login flood: {connections} connections for {seconds}s against the release build");
    println!(
        "  logins answered: {total} ({:.0}/s)",
        total as f64 / seconds as f64
    );
    for (answer, count) in answers.iter() {
        println!("    {answer}: {count}");
    }
    println!(
        "  503 without Retry-After: {}",
        retry_after_missing.lock().unwrap()
    );
    println!(
        "  server memory: {} MiB before, peak sampled RSS {} MiB, VmHWM {} MiB (target < 256 MiB)",
        rss_before / 1024,
        *peak_sampled.lock().unwrap() / 1024,
        hwm / 1024
    );
    println!(
        "  token checks during the flood: {} (not 200: {check_failures}), p50 {:?}, p90 {:?}, p99 {:?}, max {:?} (target p99 < 50 ms)",
        latencies.len(),
        percentile(&latencies, 50.0),
        percentile(&latencies, 90.0),
        p99,
        latencies.last().copied().unwrap_or_default()
    );
    let verdict = |ok: bool| if ok { "met" } else { "MISSED" };
    println!(
        "  memory target {}; latency target {}",
        verdict(hwm < 256 * 1024),
        verdict(p99 < Duration::from_millis(50))
    );
}
