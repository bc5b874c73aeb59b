//! The load bench's external mode: the same load generator against any
//! HTTP server, so that benches/peers/run.py can hold multitoken against
//! its peers (DRF, knox, Better Auth) with one generator and one key pool.
//!
//! `LOAD_TARGET=http://127.0.0.1:PORT/path` sends requests there, one key of
//! `LOAD_KEYS_FILE` picked at random for each (lines `credential<TAB>text`:
//! every response must be 2xx and contain `text`, e.g. the key's username;
//! `LOAD_EXPECT` stands in for a missing second column). The credential goes
//! into `LOAD_AUTH_HEADER` (default `Authorization`) after
//! `LOAD_AUTH_HEADER_PREFIX` (e.g. `Token `, `Bearer `, `Basic `), or, when
//! `LOAD_TARGET_CONTENT_TYPE` is set, it is the request's body.
//! `LOAD_TARGET_METHOD` (default `GET`, or `POST` with a body).
//! `LOAD_TARGET_PID`: the server's process; its CPU and memory are read from
//! /proc for it and every process under it (gunicorn's and node's workers).
//! `LOAD_SECS`, `LOAD_WARMUP_SECS`, `LOAD_CONNS`, `LOAD_THREADS` as usual.
//! The last line printed is the phase's figures as JSON, for the script.
//!
//! `LOAD_SEED_DATABASE_URL=<SQLite path or postgres://…>` instead seeds a
//! multitoken database as the bench does (the first of `LOAD_USERS` users ×
//! 3 clients, one argon2 hash of the bench's password for all) and writes
//! its keys to `LOAD_KEYS_FILE` as `key<TAB>username` lines.

use super::{
    contains, cpu_ticks, hash_blocking, percentile, seed, username, BoxError, Config, HttpConn,
    Password, Result, XorShift, CLIENTS, PASSWORD, REQUEST_TIMEOUT,
};
use multitoken::db::Database;
use std::collections::HashMap;
use std::fs;
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// `Some` when the environment asks for the external mode (or its seeding).
pub fn run_if_asked(config: &Config) -> Option<Result<()>> {
    if let Ok(database_url) = std::env::var("LOAD_SEED_DATABASE_URL") {
        return Some(seed_keys_file(&database_url, config));
    }
    let target = std::env::var("LOAD_TARGET").ok()?;
    Some(Target::from_env(&target).and_then(|target| target.measure(config)))
}

fn required(name: &str) -> Result<String> {
    std::env::var(name).map_err(|_| format!("{name} is required with LOAD_TARGET").into())
}

fn seed_keys_file(database_url: &str, config: &Config) -> Result<()> {
    let users = config.sizes.first().copied().unwrap_or(1_000);
    let out = required("LOAD_KEYS_FILE")?;
    let database =
        if database_url.starts_with("postgres://") || database_url.starts_with("postgresql://") {
            Database::Postgres {
                url: database_url.to_owned(),
            }
        } else {
            Database::Sqlite {
                path: database_url.trim_start_matches("sqlite://").to_owned(),
            }
        };
    let hash = hash_blocking(&Password::new(PASSWORD.to_owned()))?;
    let seeded = seed(&database, users, &hash, false)?;
    let lines: String = seeded
        .keys
        .iter()
        .enumerate()
        .map(|(t, key)| format!("{key}\t{}\n", username(t / CLIENTS.len())))
        .collect();
    fs::write(&out, lines)?;
    Ok(())
}

struct Target {
    address: SocketAddr,
    /// One whole HTTP/1.1 request per key, and what its answer must contain.
    requests: Vec<(Vec<u8>, String)>,
    pid: Option<u32>,
}

impl Target {
    fn from_env(url: &str) -> Result<Self> {
        let rest = url
            .strip_prefix("http://")
            .ok_or("LOAD_TARGET: expected http://HOST:PORT/PATH")?;
        let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        let path = if path.is_empty() { "/" } else { path };
        let address = authority
            .to_socket_addrs()?
            .next()
            .ok_or("LOAD_TARGET: no address")?;
        let method = std::env::var("LOAD_TARGET_METHOD").unwrap_or_else(|_| "GET".into());
        let header = std::env::var("LOAD_AUTH_HEADER").unwrap_or_else(|_| "Authorization".into());
        let prefix = std::env::var("LOAD_AUTH_HEADER_PREFIX").unwrap_or_default();
        let content_type = std::env::var("LOAD_TARGET_CONTENT_TYPE").ok();
        let expect = std::env::var("LOAD_EXPECT").unwrap_or_default();
        let keys = fs::read_to_string(required("LOAD_KEYS_FILE")?)?;
        let requests: Vec<(Vec<u8>, String)> = keys
            .lines()
            .filter(|line| !line.is_empty())
            .map(|line| {
                let mut columns = line.split('\t');
                let credential = columns.next().unwrap_or_default();
                let wanted = columns.next().unwrap_or(expect.as_str()).to_owned();
                let request = match &content_type {
                    Some(content_type) => format!(
                        "{method} {path} HTTP/1.1\r\nHost: {authority}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\r\n{credential}",
                        credential.len()
                    ),
                    // A POST without a body still says so (knox's login).
                    None if method != "GET" => format!(
                        "{method} {path} HTTP/1.1\r\nHost: {authority}\r\n{header}: {prefix}{credential}\r\nContent-Length: 0\r\n\r\n"
                    ),
                    None => format!(
                        "{method} {path} HTTP/1.1\r\nHost: {authority}\r\n{header}: {prefix}{credential}\r\n\r\n"
                    ),
                };
                (request.into_bytes(), wanted)
            })
            .collect();
        if requests.is_empty() {
            return Err("LOAD_KEYS_FILE has no keys".into());
        }
        let pid = std::env::var("LOAD_TARGET_PID")
            .ok()
            .and_then(|pid| pid.parse().ok());
        Ok(Target {
            address,
            requests,
            pid,
        })
    }

    fn measure(self, config: &Config) -> Result<()> {
        let ticks = super::clock_ticks_per_second();
        let target = Arc::new(self);
        let conns = config.conns;
        target.load(conns, config.threads, config.warmup)?;
        let cpu_before = target.pid.map_or(0, tree_cpu_ticks);
        let sampler = target.pid.map(PssSampler::start);
        let (mut outcome, elapsed) = target.load(conns, config.threads, config.phase)?;
        let cpu_ticks_used = target
            .pid
            .map_or(0, tree_cpu_ticks)
            .saturating_sub(cpu_before);
        let max_pss_kib = sampler.map_or(0, PssSampler::finish);
        outcome.latencies_us.sort_unstable();
        let answered = outcome.latencies_us.len();
        let good = answered as u64 - outcome.refused - outcome.wrong_body;
        let cpu_us = match target.pid {
            Some(_) => {
                serde_json::json!(cpu_ticks_used as f64 / ticks * 1e6 / (answered.max(1) as f64))
            }
            None => serde_json::Value::Null,
        };
        let figures = serde_json::json!({
            "requests": answered,
            "rps": answered as f64 / elapsed.as_secs_f64(),
            "good": good,
            "refused": outcome.refused,
            "wrong_body": outcome.wrong_body,
            "io_errors": outcome.io_errors,
            "p50_ms": percentile(&outcome.latencies_us, 0.50).as_secs_f64() * 1e3,
            "p99_ms": percentile(&outcome.latencies_us, 0.99).as_secs_f64() * 1e3,
            "server_cpu_us_per_request": cpu_us,
            "server_max_pss_mib": max_pss_kib as f64 / 1024.0,
            "conns": conns,
            "secs": elapsed.as_secs_f64(),
        });
        println!("{figures}");
        Ok(())
    }

    /// `conns` keep-alive connections over `threads` runtimes for `duration`.
    fn load(
        self: &Arc<Self>,
        conns: usize,
        threads: usize,
        duration: Duration,
    ) -> Result<(Outcome, Duration)> {
        let started = Instant::now();
        let deadline = started + duration;
        let threads = threads.clamp(1, conns.max(1));
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let target = self.clone();
                let mine = conns / threads + usize::from(t < conns % threads);
                std::thread::spawn(move || -> Result<Outcome> {
                    let runtime = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()?;
                    runtime.block_on(async move {
                        let tasks: Vec<_> = (0..mine)
                            .map(|_| tokio::spawn(target.clone().drive(deadline, rand::random())))
                            .collect();
                        let mut outcome = Outcome::default();
                        for task in tasks {
                            outcome.add(task.await?);
                        }
                        Ok::<_, BoxError>(outcome)
                    })
                })
            })
            .collect();
        let mut outcome = Outcome::default();
        for handle in handles {
            outcome.add(handle.join().map_err(|_| "a load thread panicked")??);
        }
        Ok((outcome, started.elapsed()))
    }

    async fn drive(self: Arc<Self>, deadline: Instant, seed: u64) -> Outcome {
        let mut outcome = Outcome::default();
        let mut rng = XorShift(seed | 1);
        let mut conn: Option<HttpConn> = None;
        while Instant::now() < deadline {
            if conn.is_none() {
                match HttpConn::connect(self.address).await {
                    Ok(fresh) => conn = Some(fresh),
                    Err(_) => {
                        outcome.io_errors += 1;
                        tokio::time::sleep(Duration::from_millis(10)).await;
                        continue;
                    }
                }
            }
            let Some(open) = conn.as_mut() else { continue };
            let (request, wanted) = &self.requests[rng.below(self.requests.len())];
            let sent = Instant::now();
            let answer = tokio::time::timeout(
                REQUEST_TIMEOUT,
                open.exchange(request, |response| {
                    wanted.is_empty() || contains(response, wanted.as_bytes())
                }),
            )
            .await;
            match answer {
                Ok(Ok((status, found))) => {
                    let took = u32::try_from(sent.elapsed().as_micros()).unwrap_or(u32::MAX);
                    outcome.latencies_us.push(took);
                    if !(200..300).contains(&status) {
                        outcome.refused += 1;
                    } else if !found {
                        outcome.wrong_body += 1;
                    }
                }
                // A server that closes kept-alive connections costs a
                // reconnect, counted here; the request is sent again.
                Ok(Err(_)) | Err(_) => {
                    outcome.io_errors += 1;
                    conn = None;
                }
            }
        }
        outcome
    }
}

#[derive(Default)]
struct Outcome {
    latencies_us: Vec<u32>,
    refused: u64,
    wrong_body: u64,
    io_errors: u64,
}

impl Outcome {
    fn add(&mut self, other: Outcome) {
        self.latencies_us.extend(other.latencies_us);
        self.refused += other.refused;
        self.wrong_body += other.wrong_body;
        self.io_errors += other.io_errors;
    }
}

/// `root` and every process under it, from each process's parent in /proc.
fn process_tree(root: u32) -> Vec<u32> {
    let mut children: HashMap<u32, Vec<u32>> = HashMap::new();
    for entry in fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let parent = stat
            .rfind(')')
            .and_then(|close| stat[close + 2..].split_whitespace().nth(1))
            .and_then(|ppid| ppid.parse::<u32>().ok());
        if let Some(parent) = parent {
            children.entry(parent).or_default().push(pid);
        }
    }
    let mut tree = vec![root];
    let mut next = 0;
    while next < tree.len() {
        tree.extend(children.get(&tree[next]).cloned().unwrap_or_default());
        next += 1;
    }
    tree
}

/// CPU ticks of the living processes of the tree (a worker that exits
/// mid-phase takes its share with it; gunicorn's and node's do not).
fn tree_cpu_ticks(root: u32) -> u64 {
    process_tree(root)
        .into_iter()
        .filter_map(|pid| cpu_ticks(&format!("/proc/{pid}/stat")).map(|(_, t)| t))
        .sum()
}

/// Proportional set size of the tree: forked workers' shared pages counted
/// once, unlike a sum of their RSS.
fn tree_pss_kib(root: u32) -> u64 {
    process_tree(root)
        .into_iter()
        .filter_map(|pid| fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).ok())
        .filter_map(|rollup| {
            rollup
                .lines()
                .find_map(|line| line.strip_prefix("Pss:"))
                .and_then(|rest| rest.split_whitespace().next()?.parse::<u64>().ok())
        })
        .sum()
}

/// The tree's peak PSS, sampled every 200 ms until finished.
struct PssSampler {
    stop: Arc<AtomicBool>,
    handle: std::thread::JoinHandle<u64>,
}

impl PssSampler {
    fn start(root: u32) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let handle = std::thread::spawn(move || {
            let mut peak = 0;
            while !flag.load(Ordering::Relaxed) {
                peak = peak.max(tree_pss_kib(root));
                std::thread::sleep(Duration::from_millis(200));
            }
            peak
        });
        PssSampler { stop, handle }
    }

    fn finish(self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        self.handle.join().unwrap_or(0)
    }
}
