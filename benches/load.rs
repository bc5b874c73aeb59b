//! Load benchmark of the real server binary over loopback.
//!
//! For each user count (1,000, 100,000 and 1,000,000 by default) it seeds a
//! fresh SQLite file with N users × 3 clients (web, ios, cli), the rows
//! written directly in large multi-row INSERTs in one transaction with one
//! precomputed argon2 hash for all, starts the `multitoken` binary on it, and
//! drives it with many keep-alive HTTP/1.1 connections from a small
//! raw-socket tokio client in this process. The phases that check a key
//! (`/whoami`, `/auth/verify`, `/introspect`, nginx's `auth_request`) run
//! once per key distribution, one after the other: every key as likely
//! (`uniform`, the worst case for any cache) and Zipf's law with s = 1.1
//! (`zipf`: a few devices make most of the requests, as real traffic does).
//!
//! - `GET /healthz`: the framework's own ceiling;
//! - `GET /whoami` with a random seeded token per request (every response
//!   must be 200 for the right user);
//! - `GET /whoami` again with every key bound to one ES256 DPoP key, each
//!   request with `Authorization: DPoP` and a new proof (signed here, by
//!   the load generator), to hold a bound key's cost against a bearer
//!   key's;
//! - `GET /auth/verify` (forward auth) the same way, the user checked in the
//!   `X-Auth-Request-User` header, and `POST /introspect` of a random key by
//!   a service user's key;
//! - when nginx is installed (on the `PATH` or in `/usr/sbin`, or `NGINX`):
//!   nginx in front of a static upstream, once without auth (`/public`) and
//!   once with `auth_request` to `/auth/verify`, with the book's recipe
//!   (`tests/proxies/nginx.conf.template`), the upstream echoing the user
//!   nginx passed it;
//! - `POST /token/refresh` with a random seeded key (an ES256 signature
//!   each), then `GET /whoami` with an access JWT (`Authorization: Bearer`)
//!   of a random seeded device, to hold against `/whoami` with a key: the
//!   JWTs are fetched first, one per device (at most
//!   `JWT_DEVICES`), and each is used many times, as a client would;
//! - `POST /login` with a random user's correct password, client `web`, at
//!   one connection (latency) and at a few (throughput);
//! - `/whoami` again once the hashing threads have been idle long enough to
//!   give their argon2 memory back: the server's RSS under token load after
//!   a burst of logins.
//!
//! It prints requests/s, p50/p99 latency and failures per phase, the server's
//! and the load generator's CPU time per request (the fairest figure, since
//! both share the machine's cores), the server's RSS, the token cache's hit
//! rate (from the server's `/metrics`), one argon2
//! verification's time, and the ratios the performance targets are set on;
//! also, in this process, the CPU cost of one token lookup
//! (`db::tokens::by_digest`) and of one `spawn_blocking` round trip, to tell
//! the database's share of a `/whoami` from the hand-off's. It measures; it
//! never fails on a target.
//!
//! Run: `cargo bench --bench load`. Knobs (environment, or user counts as
//! arguments after `--`): `LOAD_USERS=1000,100000,1000000`,
//! `LOAD_DISTRIBUTION=uniform,zipf`, `LOAD_SECS=8` per phase,
//! `LOAD_WARMUP_SECS=1`, `LOAD_CONNS=64`, `LOAD_LOGIN_CONNS=8`,
//! `LOAD_THREADS=1` (load generator threads),
//! `LOAD_PHASES=healthz,whoami,dpop,jwt,verify,introspect,nginx,login`
//! (a subset, for experiments), `LOAD_SERVER_ENV="NAME=VALUE,..."` (extra
//! environment for the server, e.g. `MALLOC_ARENA_MAX=2`), `LOAD_SERVER_BIN`
//! (another build of the server to run instead, to compare a change),
//! `LOAD_TOUCHES=due` (every key seeded as last used an hour ago, so that
//! each key's first check writes a touch; by default they are seeded as
//! just used, and the phases, shorter than the touch interval, read only).
//!
//! PostgreSQL mode: with `LOAD_DATABASE_URL=postgres://…` (a server this
//! bench may create databases on), each user count is also seeded on a
//! database of its own (created, then dropped), and `/healthz`, and
//! `/whoami` and `/auth/verify` by turns (their ratio printed), run there
//! with the token cache on, then `/whoami` with
//! `TOKEN_CACHE=off`, then (phase `dpop`, on a server of its own)
//! `/whoami` with bearer keys and with bound keys; the summary compares them with SQLite's `/whoami`
//! and counts the database's transactions per 1,000 `/whoami`
//! (`pg_stat_database.xact_commit` around each phase, warm-up included).
//! On SQLite that column says n/a: a read there is an implicit transaction
//! the database counts nowhere (one per token check), and the bench seeds
//! every token as just used, so no touch is written while it runs. Last, a
//! table of every `/whoami` by shape (database, cache, users, keys).
//!
//! The `revocation` phase (PostgreSQL mode only; asked for by name in
//! `LOAD_PHASES`): two instances A and B on one database, `/whoami` load on
//! B while A revokes keys B has cached, one `POST /logout` at a time: the
//! logout's own duration (p50/p99) and B's `/whoami` rate, with B caching
//! (A waits for B's acknowledgement, see "Read-your-revocation" in the
//! architecture page) and with B not caching (nothing to wait for), in
//! alternating rounds; `LOAD_BASELINE_BIN` adds rounds of another build
//! (e.g. main's) with B caching.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
#[path = "peers/external.rs"]
mod external;

use common::with_database;
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::PgConnection;
use multitoken::db::schema::{tokens, users};
use multitoken::db::{self, AnyConnection, Database};
use multitoken::domain::{Password, PlainToken, Timestamp, TokenDigest};
use multitoken::service::shared::passwords::{
    hash_blocking, verify_blocking, MEMORY_KEPT_WHEN_IDLE,
};
use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::io;
use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

type BoxError = Box<dyn std::error::Error + Send + Sync>;
type Result<T, E = BoxError> = std::result::Result<T, E>;

const CLIENTS: [&str; 3] = ["web", "ios", "cli"];
const PASSWORD: &str = "load bench password 42";
const TOKEN_TTL: Duration = Duration::from_secs(14 * 86_400);
const TOUCH_INTERVAL: Duration = Duration::from_secs(60);
/// Seeding that took longer than this stamps every token's last use again
/// at its end (see `seed`).
const SEED_RESTAMP_AFTER_MS: i64 = 10_000;
/// With `LOAD_TOUCHES=due`, how long before the run the keys were last
/// used (and made): well past the touch interval, well within their life.
const DUE_LAST_USE_AGO: Duration = Duration::from_secs(3_600);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Rows per INSERT: as many as SQLite's 32,766 bound values allow (users
/// have 9 columns, tokens 6); PostgreSQL allows 65,535.
const SEED_USERS_BATCH: usize = 3_000;
const SEED_TOKENS_BATCH: usize = 5_000;
/// The seeding connection's SQLite page cache, in KiB: the tables' last
/// pages and the indexes' upper levels stay in memory while a million rows go in.
const SEED_CACHE_KIB: u64 = 512 * 1024;

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("load bench failed: {error}");
            ExitCode::FAILURE
        }
    }
}

struct Config {
    sizes: Vec<usize>,
    distributions: Vec<KeyDistribution>,
    phase: Duration,
    warmup: Duration,
    conns: usize,
    login_conns: usize,
    threads: usize,
    phases: Vec<String>,
    server_env: Vec<(String, String)>,
    postgres: Option<String>,
    /// `LOAD_TOUCHES=due`: every key's first check writes a touch.
    touches_due: bool,
}

impl Config {
    fn from_env() -> Result<Self> {
        let from_args: Vec<usize> = std::env::args()
            .skip(1)
            .filter_map(|arg| arg.replace('_', "").parse().ok())
            .collect();
        let sizes = match std::env::var("LOAD_USERS") {
            Ok(list) => list
                .split(',')
                .map(|n| n.trim().replace('_', "").parse::<usize>())
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| format!("LOAD_USERS: {e}"))?,
            Err(_) if !from_args.is_empty() => from_args,
            Err(_) => vec![1_000, 100_000, 1_000_000],
        };
        if sizes.contains(&0) {
            return Err("user counts must be at least 1".into());
        }
        let number = |name: &str, default: f64| -> Result<f64> {
            match std::env::var(name) {
                Ok(text) => text
                    .parse::<f64>()
                    .ok()
                    .filter(|v| *v > 0.0)
                    .ok_or_else(|| format!("{name}: expected a positive number").into()),
                Err(_) => Ok(default),
            }
        };
        let distributions = std::env::var("LOAD_DISTRIBUTION")
            .unwrap_or_else(|_| "uniform,zipf".into())
            .split(',')
            .map(|name| KeyDistribution::parse(name.trim()))
            .collect::<Result<Vec<_>, _>>()?;
        if distributions.is_empty() {
            return Err("LOAD_DISTRIBUTION: name uniform, zipf or both".into());
        }
        let touches_due = match std::env::var("LOAD_TOUCHES").as_deref().map(str::trim) {
            Err(_) | Ok("none") => false,
            Ok("due") => true,
            Ok(other) => {
                return Err(format!("LOAD_TOUCHES: unknown {other:?} (none or due)").into())
            }
        };
        Ok(Config {
            sizes,
            distributions,
            phase: Duration::from_secs_f64(number("LOAD_SECS", 8.0)?),
            warmup: Duration::from_secs_f64(number("LOAD_WARMUP_SECS", 1.0)?),
            conns: number("LOAD_CONNS", 64.0)? as usize,
            login_conns: number("LOAD_LOGIN_CONNS", 8.0)? as usize,
            threads: number("LOAD_THREADS", 1.0)? as usize,
            phases: std::env::var("LOAD_PHASES")
                .unwrap_or_else(|_| "healthz,whoami,dpop,jwt,verify,introspect,nginx,login".into())
                .split(',')
                .map(|phase| phase.trim().to_owned())
                .collect(),
            server_env: std::env::var("LOAD_SERVER_ENV")
                .unwrap_or_default()
                .split(',')
                .filter_map(|pair| pair.split_once('='))
                .map(|(name, value)| (name.trim().to_owned(), value.trim().to_owned()))
                .collect(),
            postgres: std::env::var("LOAD_DATABASE_URL")
                .ok()
                .filter(|url| url.starts_with("postgres://") || url.starts_with("postgresql://")),
            touches_due,
        })
    }

    fn runs(&self, phase: &str) -> bool {
        self.phases.iter().any(|p| p == phase)
    }
}

fn run() -> Result<()> {
    let config = Config::from_env()?;
    // LOAD_TARGET (benches/peers/external.rs): another server, not this one.
    if let Some(outcome) = external::run_if_asked(&config) {
        return outcome;
    }
    let ticks = clock_ticks_per_second();
    println!("multitoken load benchmark");
    println!(
        "  {} core(s); phases {:.0} s after {:.0} s warm-up; {} keep-alive connections ({} for login); {} load-generator thread(s)",
        cores(),
        config.phase.as_secs_f64(),
        config.warmup.as_secs_f64(),
        config.conns,
        config.login_conns,
        config.threads,
    );

    let password = Password::new(PASSWORD.to_owned());
    let started = Instant::now();
    let hash = hash_blocking(&password)?;
    println!(
        "  one argon2 hash for every user: {:.1} ms ({})",
        ms(started.elapsed()),
        hash.split('$').take(4).collect::<Vec<_>>().join("$")
    );
    let verify = argon2_verify_median(&password, &hash, 20, ticks);
    println!(
        "  argon2 verify in this process: median {:.1} ms, min {:.1} ms of 20 (wall); {:.1} ms of CPU on average",
        ms(verify.median),
        ms(verify.min),
        ms(verify.cpu)
    );
    let handoff = blocking_handoff_cost(ticks)?;
    println!(
        "  one spawn_blocking round trip of an empty closure (as web::block does), 64 in flight: {:.1} us of CPU",
        us(handoff)
    );

    let mut reports = Vec::new();
    for &users in &config.sizes {
        println!();
        println!("=== {users} users x {} clients ===", CLIENTS.len());
        reports.extend(bench_size(users, &hash, &config, ticks)?);
    }
    let mut postgres_reports = Vec::new();
    if let Some(url) = &config.postgres {
        for &users in &config.sizes {
            println!();
            println!(
                "=== PostgreSQL: {users} users x {} clients ===",
                CLIENTS.len()
            );
            postgres_reports.extend(bench_postgres(url, users, &hash, &config, ticks)?);
        }
    }
    print_summary(&reports, &verify);
    print_postgres_summary(&postgres_reports, &reports);
    if let (Some(url), true) = (&config.postgres, config.runs("revocation")) {
        bench_revocation(url, &hash, config.phase)?;
    }
    print_shapes_table(&reports, &postgres_reports);
    Ok(())
}

struct VerifyTime {
    median: Duration,
    min: Duration,
    /// Mean CPU time of the verifying thread: unaffected by other processes.
    cpu: Duration,
}

fn argon2_verify_median(password: &Password, hash: &str, rounds: usize, ticks: f64) -> VerifyTime {
    let cpu_before = thread_cpu_ticks();
    let mut times: Vec<Duration> = (0..rounds)
        .map(|_| {
            let started = Instant::now();
            let ok = verify_blocking(password, hash);
            let took = started.elapsed();
            assert!(ok, "the bench password must verify against its own hash");
            took
        })
        .collect();
    let cpu =
        Duration::from_secs_f64((thread_cpu_ticks() - cpu_before) as f64 / ticks / rounds as f64);
    times.sort();
    VerifyTime {
        median: times[times.len() / 2],
        min: times[0],
        cpu,
    }
}

// ---------------------------------------------------------------- seeding

struct Seeded {
    keys: Vec<String>,
}

fn username(index: usize) -> String {
    format!("user{:06}", index + 1)
}

/// Seeds `users_count` users with a key per client. Each key's last use
/// (and its making) is the end of seeding, so that no touch is due for the
/// touch interval and the phases measure reads; with `touches_due` it is
/// an hour earlier, so that each key's first check writes a touch, as
/// when devices come back after a while.
fn seed(database: &Database, users_count: usize, hash: &str, touches_due: bool) -> Result<Seeded> {
    let started = Instant::now();
    db::migrate(database)?;
    let mut any = db::connect_once(database)?;
    if let AnyConnection::Sqlite(sqlite) = &mut any {
        sqlite.batch_execute(&format!("PRAGMA cache_size = -{SEED_CACHE_KIB}"))?;
    }
    let conn = &mut any;
    let last_use_ago = match touches_due {
        true => DUE_LAST_USE_AGO,
        false => Duration::ZERO,
    };
    let now = Timestamp::now();
    let expires_at = now.plus(TOKEN_TTL).millis();
    let now = now.millis();
    let last_use = now - last_use_ago.as_millis() as i64;

    let generated = Instant::now();
    let mut keys = Vec::with_capacity(users_count * CLIENTS.len());
    let mut digests = Vec::with_capacity(users_count * CLIENTS.len());
    for _ in 0..users_count * CLIENTS.len() {
        let key = PlainToken::generate();
        digests.push(key.digest().0);
        keys.push(key.expose().to_owned());
    }
    let generate_time = generated.elapsed();

    let inserted = Instant::now();
    multitoken::db::transaction::<_, diesel::result::Error, _>(conn, |conn| {
        insert_users(conn, users_count, hash, now)?;
        insert_tokens(conn, &digests, last_use, expires_at)
    })?;
    let insert_time = inserted.elapsed();
    // Seeding 1M users takes minutes, longer than the touch interval: had
    // the keys kept the time seeding began as their last use, every first
    // check of one would write a touch, and the phases would measure
    // SQLite's single writer instead of the reads they are for (as the
    // 1M figures of 2026-12-07 did: 107 threads queued on the write lock).
    let restamped = Instant::now();
    if Timestamp::now().millis() - now > SEED_RESTAMP_AFTER_MS {
        let last_use = Timestamp::now().millis() - last_use_ago.as_millis() as i64;
        diesel::update(tokens::table)
            .set((
                tokens::created_at.eq(last_use),
                tokens::last_used_at.eq(last_use),
            ))
            .execute(conn)?;
    }
    let restamp_time = restamped.elapsed();
    let user_rows: i64 = users::table.count().get_result(conn)?;
    let token_rows: i64 = tokens::table.count().get_result(conn)?;
    drop(any);
    println!(
        "seeded {user_rows} users and {token_rows} tokens in {:.2} s (keys {:.2} s, inserts in one transaction {:.2} s, last use set to the end {:.2} s); database {:.1} MiB",
        started.elapsed().as_secs_f64(),
        generate_time.as_secs_f64(),
        insert_time.as_secs_f64(),
        restamp_time.as_secs_f64(),
        database_size_mib(database),
    );
    Ok(Seeded { keys })
}

/// Runs a multi-row insert on the backend's own connection type (diesel's
/// multi-backend connection cannot batch inserts).
macro_rules! on_either {
    ($conn:expr, |$c:ident| $body:expr) => {
        match $conn {
            AnyConnection::Sqlite($c) => $body,
            AnyConnection::Postgresql($c) => $body,
        }
    };
}

fn insert_users(
    conn: &mut AnyConnection,
    users_count: usize,
    hash: &str,
    now: i64,
) -> QueryResult<()> {
    let names: Vec<String> = (0..users_count).map(username).collect();
    let emails: Vec<String> = names.iter().map(|n| format!("{n}@example.com")).collect();
    for start in (0..users_count).step_by(SEED_USERS_BATCH) {
        let end = (start + SEED_USERS_BATCH).min(users_count);
        let rows: Vec<_> = (start..end)
            .map(|i| {
                (
                    users::id.eq(i as i64 + 1),
                    users::username.eq(names[i].as_str()),
                    users::username_key.eq(names[i].as_str()),
                    users::password_hash.eq(hash),
                    users::email.eq(emails[i].as_str()),
                    users::is_active.eq(true),
                    users::is_admin.eq(false),
                    // The first user is the service that introspects the others' keys.
                    users::is_service.eq(i == 0),
                    users::created_at.eq(now),
                )
            })
            .collect();
        on_either!(conn, |c| diesel::insert_into(users::table)
            .values(rows)
            .execute(c))?;
    }
    Ok(())
}

/// Inserts a key per digest, made and last used at `last_use`.
/// Token `t` belongs to user `t / 3` (id `t / 3 + 1`), client `CLIENTS[t % 3]`.
/// The rows go in by digest, so that the digest's unique index grows at its
/// end instead of splitting pages all over the file.
fn insert_tokens(
    conn: &mut AnyConnection,
    digests: &[[u8; 32]],
    last_use: i64,
    expires_at: i64,
) -> QueryResult<()> {
    let mut by_digest: Vec<usize> = (0..digests.len()).collect();
    by_digest.sort_unstable_by_key(|&t| digests[t]);
    for batch in by_digest.chunks(SEED_TOKENS_BATCH) {
        let rows: Vec<_> = batch
            .iter()
            .map(|&t| {
                (
                    tokens::user_id.eq((t / CLIENTS.len()) as i64 + 1),
                    tokens::client.eq(CLIENTS[t % CLIENTS.len()]),
                    tokens::digest.eq(&digests[t][..]),
                    tokens::created_at.eq(last_use),
                    tokens::last_used_at.eq(last_use),
                    tokens::expires_at.eq(expires_at),
                )
            })
            .collect();
        on_either!(conn, |c| diesel::insert_into(tokens::table)
            .values(rows)
            .execute(c))?;
    }
    Ok(())
}

fn database_size_mib(database: &Database) -> f64 {
    let Database::Sqlite { path } = database else {
        return 0.0;
    };
    ["", "-wal", "-shm"]
        .iter()
        .filter_map(|suffix| fs::metadata(format!("{path}{suffix}")).ok())
        .map(|meta| meta.len() as f64 / 1_048_576.0)
        .sum()
}

/// Tokens whose last use was written after seeding, other than by a login
/// (a login sets `created_at` and `last_used_at` together).
fn touched_tokens(database: &Database) -> Result<i64> {
    let mut conn = db::connect_once(database)?;
    Ok(tokens::table
        .filter(tokens::last_used_at.ne(tokens::created_at))
        .count()
        .get_result(&mut conn)?)
}

// ---------------------------------------------------------------- in-process costs

/// CPU time of the calling thread, in clock ticks.
fn thread_cpu_ticks() -> u64 {
    cpu_ticks("/proc/thread-self/stat")
        .map(|(_, t)| t)
        .unwrap_or(0)
}

/// The index that holds every column of a token check's read (SQLite).
const TOKEN_CHECK_INDEX: &str =
    include_str!("../migrations/sqlite/2026-12-10-000100_token_check_index/up.sql");

/// `db::tokens::by_digest` on one connection of this process, for keys
/// drawn at random from all of them (enough that a round rarely draws one
/// twice, so that large databases are read where a check would read them):
/// CPU per call. On SQLite also without the `tokens_check` index, dropped
/// and built again (with, without, with), and how long building it took.
fn direct_lookup_cost(database: &Database, keys: &[String], ticks: f64) -> Result<()> {
    let mut conn = db::connect_once(database)?;
    let mut rng = XorShift(rand::random::<u64>() | 1);
    let digests: Vec<TokenDigest> = (0..200_000)
        .map(|_| TokenDigest::of(&keys[rng.below(keys.len())]))
        .collect();
    let round = |conn: &mut AnyConnection, first: usize| -> Result<f64> {
        let started = Instant::now();
        let cpu_before = thread_cpu_ticks();
        let mut calls = 0u64;
        for digest in digests.iter().cycle().skip(first) {
            if started.elapsed() >= Duration::from_secs(2) {
                break;
            }
            if db::tokens::by_digest(conn, digest.as_bytes())?.is_none() {
                return Err("a seeded token was not found".into());
            }
            calls += 1;
        }
        let cpu = thread_cpu_ticks() - cpu_before;
        Ok(cpu as f64 / ticks / calls as f64 * 1e6)
    };
    let with = round(&mut conn, 0)?;
    let AnyConnection::Sqlite(sqlite) = &mut conn else {
        println!("db::tokens::by_digest called directly on one connection in this process (the database part of a token check): {with:.1} us of CPU per call");
        return Ok(());
    };
    sqlite.batch_execute("DROP INDEX tokens_check")?;
    let without = round(&mut conn, 70_000)?;
    let built = Instant::now();
    conn.batch_execute(TOKEN_CHECK_INDEX)?;
    let build_time = built.elapsed();
    let again = round(&mut conn, 140_000)?;
    println!(
        "db::tokens::by_digest called directly on one connection in this process (the database part of a token check), random keys: {:.1} us of CPU per call ({with:.1} and {again:.1} with the tokens_check index, {without:.1} without it: {:.2} x); building the index took {:.2} s",
        (with + again) / 2.0,
        (with + again) / 2.0 / without,
        build_time.as_secs_f64(),
    );
    Ok(())
}

/// What a bound key's `/whoami` adds, in parts, in this process: checking
/// a proof (`domain::dpop::check_proof`: parsing, the ES256 signature,
/// the claims), and recording its `jti` on `database`, one statement per
/// proof (as every use did before the batcher) and 64 per statement (as
/// under load). Each is CPU per proof, and wall time per proof for the
/// writes (the commit's I/O is no CPU).
fn dpop_part_costs(database: &Database, key: &str, ticks: f64) -> Result<()> {
    use multitoken::db::used_dpop_proofs;
    use multitoken::domain::dpop::{check_proof, ProofTarget};
    let dpop = BenchDpop::new(SocketAddr::from(([127, 0, 0, 1], 1)));
    let proofs: Vec<String> = (0..2000).map(|jti| dpop.proof(key, jti)).collect();
    let now = Timestamp::now().millis() / 1000;
    let target = ProofTarget {
        method: "GET",
        url: &dpop.htu,
        access_token: Some(key),
    };
    let (started, cpu_before, mut checked) = (Instant::now(), thread_cpu_ticks(), 0usize);
    while started.elapsed() < Duration::from_secs(1) {
        for proof in &proofs {
            check_proof(proof, target, now, 60)
                .map_err(|e| format!("bench proof refused: {e:?}"))?;
        }
        checked += proofs.len();
    }
    let check = (thread_cpu_ticks() - cpu_before) as f64 / ticks / checked as f64;
    let mut conn = db::connect_once(database)?;
    let mut next = 0u64;
    let mut write = |per_statement: usize| -> Result<(f64, f64)> {
        let (started, cpu_before) = (Instant::now(), thread_cpu_ticks());
        let mut written = 0usize;
        while started.elapsed() < Duration::from_secs(1) {
            let digests: Vec<[u8; 32]> = (0..per_statement)
                .map(|_| {
                    next += 1;
                    <sha2::Sha256 as sha2::Digest>::digest(next.to_be_bytes()).into()
                })
                .collect();
            let uses: Vec<(&[u8], i64)> = digests.iter().map(|d| (&d[..], 0)).collect();
            match per_statement {
                1 => {
                    used_dpop_proofs::use_once(&mut conn, uses[0].0, 0)?;
                }
                _ => {
                    used_dpop_proofs::use_each_once(&mut conn, &uses)?;
                }
            }
            written += per_statement;
        }
        let cpu = (thread_cpu_ticks() - cpu_before) as f64 / ticks / written as f64;
        Ok((cpu, started.elapsed().as_secs_f64() / written as f64))
    };
    let (one_cpu, one_wall) = write(1)?;
    let (batch_cpu, batch_wall) = write(64)?;
    diesel::delete(db::schema::used_dpop_proofs::table).execute(&mut conn)?;
    println!(
        "a DPoP proof's parts in this process: check_proof (parse, ES256 signature, claims) {:.1} us of CPU; recording its jti one statement each {:.1} us CPU, {:.1} us wall; 64 per statement {:.1} us CPU, {:.1} us wall, per proof",
        check * 1e6,
        one_cpu * 1e6,
        one_wall * 1e6,
        batch_cpu * 1e6,
        batch_wall * 1e6
    );
    Ok(())
}

/// CPU per `spawn_blocking` round trip of an empty closure on a
/// current-thread runtime, 64 at a time: the hand-off every database call of
/// the service pays through `web::block`, without the database.
fn blocking_handoff_cost(ticks: f64) -> Result<Duration> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let before = cpu_ticks("/proc/self/stat").map(|(_, t)| t).unwrap_or(0);
    let trips: u64 = runtime.block_on(async {
        let started = Instant::now();
        let mut trips = 0;
        while started.elapsed() < Duration::from_secs(2) {
            let batch: Vec<_> = (0..64)
                .map(|_| tokio::task::spawn_blocking(|| std::hint::black_box(1)))
                .collect();
            for task in batch {
                trips += task.await?;
            }
        }
        Ok::<_, BoxError>(trips)
    })?;
    drop(runtime);
    let cpu = cpu_ticks("/proc/self/stat").map(|(_, t)| t).unwrap_or(0) - before;
    Ok(Duration::from_secs_f64(cpu as f64 / ticks / trips as f64))
}

// ---------------------------------------------------------------- the server

/// The server child process; killed when dropped, on every path out.
struct Server {
    child: Child,
    address: SocketAddr,
}

impl Server {
    fn start(
        database_url: &std::ffi::OsStr,
        log_path: &Path,
        extra_env: &[(String, String)],
    ) -> Result<Self> {
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let address = SocketAddr::from(([127, 0, 0, 1], port));
        let log = fs::File::create(log_path)?;
        // LOAD_SERVER_BIN runs another build of the server, e.g. to compare a change.
        let binary = std::env::var_os("LOAD_SERVER_BIN")
            .unwrap_or_else(|| env!("CARGO_BIN_EXE_multitoken").into());
        let child = Command::new(binary)
            .arg("serve")
            .env("DATABASE_URL", database_url)
            .env("MULTITOKEN_BIND", address.to_string())
            .env("RUST_LOG", "warn")
            .env("TOKEN_TTL", "14d")
            .env("TOKEN_TOUCH_INTERVAL", "60s")
            .env_remove("TOKEN_MAX_AGE")
            .env_remove("MAX_CLIENTS_PER_USER")
            .envs(extra_env.iter().map(|(name, value)| (name, value)))
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()?;
        let mut server = Server { child, address };
        server.wait_healthy(log_path)?;
        Ok(server)
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn wait_healthy(&mut self, log_path: &Path) -> Result<()> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(30) {
            if let Some(status) = self.child.try_wait()? {
                let log = fs::read_to_string(log_path).unwrap_or_default();
                return Err(format!("the server exited with {status}: {log}").into());
            }
            let address = self.address;
            let status = runtime.block_on(async move {
                let mut conn = HttpConn::connect(address).await?;
                tokio::time::timeout(
                    Duration::from_secs(1),
                    conn.exchange(b"GET /healthz HTTP/1.1\r\nHost: bench\r\n\r\n", |_| true),
                )
                .await
                .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "healthz"))?
            });
            if matches!(status, Ok((200, true))) {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Err("the server did not answer /healthz within 30 s".into())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// nginx in front of a static upstream (a second server block of its
/// own) and of the multitoken server, as the book's recipe sets it up.
struct Nginx {
    child: Child,
    address: SocketAddr,
}

impl Nginx {
    /// `None` when nginx is not installed.
    fn binary() -> Option<std::path::PathBuf> {
        if let Some(path) = std::env::var_os("NGINX") {
            return Some(path.into());
        }
        let path = std::env::var_os("PATH").unwrap_or_default();
        std::env::split_paths(&path)
            .chain([std::path::PathBuf::from("/usr/sbin")])
            .map(|dir| dir.join("nginx"))
            .find(|candidate| candidate.is_file())
    }

    fn start(binary: &Path, dir: &Path, multitoken: SocketAddr) -> Result<Self> {
        let free_port =
            || -> Result<u16> { Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port()) };
        let front = free_port()?;
        let upstream = free_port()?;
        let dir = dir.join("nginx");
        fs::create_dir_all(&dir)?;
        let d = dir.display();
        // The book's recipe as the tests run it, with a static upstream
        // (a second server block of the same nginx) as the app: `/public`
        // has no auth, every other path goes through `auth_request`.
        let site = include_str!("../tests/proxies/nginx.conf.template")
            .replace("{{MULTITOKEN}}", &multitoken.to_string())
            .replace("{{APP}}", &format!("127.0.0.1:{upstream}"))
            .replace("{{LISTEN}}", &format!("127.0.0.1:{front}"));
        fs::write(dir.join("site.conf"), site)?;
        let config = format!(
            r#"daemon off;
worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {d}/body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
    server {{
        listen 127.0.0.1:{upstream};
        location / {{ return 200 "user=$http_x_auth_request_user\n"; }}
    }}
    include {d}/site.conf;
}}
"#
        );
        let config_path = dir.join("nginx.conf");
        fs::write(&config_path, config)?;
        let child = Command::new(binary)
            .arg("-p")
            .arg(&dir)
            .arg("-c")
            .arg(&config_path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(fs::File::create(dir.join("stderr.log"))?)
            .spawn()?;
        let mut nginx = Nginx {
            child,
            address: SocketAddr::from(([127, 0, 0, 1], front)),
        };
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(10) {
            if let Some(status) = nginx.child.try_wait()? {
                let log = fs::read_to_string(dir.join("stderr.log")).unwrap_or_default();
                return Err(format!("nginx exited with {status}: {log}").into());
            }
            if std::net::TcpStream::connect(nginx.address).is_ok() {
                return Ok(nginx);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        nginx.stop();
        Err("nginx did not listen within 10 s".into())
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        self.stop();
    }
}

// ---------------------------------------------------------------- /proc readings

fn clock_ticks_per_second() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|out| String::from_utf8(out.stdout).ok())
        .and_then(|text| text.trim().parse().ok())
        .unwrap_or(100.0)
}

/// utime + stime, in clock ticks, of a process (all its threads, living and
/// exited) or of one thread, from its `stat` file.
fn cpu_ticks(stat_path: &str) -> Option<(String, u64)> {
    let stat = fs::read_to_string(stat_path).ok()?;
    let open = stat.find('(')?;
    let close = stat.rfind(')')?;
    let name = stat[open + 1..close].to_owned();
    let fields: Vec<&str> = stat[close + 2..].split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((name, utime + stime))
}

/// Busy and total jiffies of the whole machine, from `/proc/stat`.
fn machine_ticks() -> (u64, u64) {
    let stat = fs::read_to_string("/proc/stat").unwrap_or_default();
    let fields: Vec<u64> = stat
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .skip(1)
        .filter_map(|field| field.parse().ok())
        .collect();
    let total: u64 = fields.iter().take(8).sum();
    let idle = fields.get(3).copied().unwrap_or(0) + fields.get(4).copied().unwrap_or(0);
    (total.saturating_sub(idle), total)
}

fn status_kib(pid: u32, field: &str) -> Option<u64> {
    proc_kib(pid, "status", field)
}

/// A `Field: N kB` line of `/proc/PID/FILE`.
fn proc_kib(pid: u32, file: &str, field: &str) -> Option<u64> {
    let status = fs::read_to_string(format!("/proc/{pid}/{file}")).ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
}

fn context_switches(status_path: &str) -> u64 {
    fs::read_to_string(status_path)
        .unwrap_or_default()
        .lines()
        .filter(|line| line.contains("ctxt_switches:"))
        .filter_map(|line| line.split_whitespace().nth(1)?.parse::<u64>().ok())
        .sum()
}

/// Per thread of the server: name, CPU ticks, context switches.
#[derive(Default)]
struct ThreadSnapshot(HashMap<String, (String, u64, u64)>);

fn thread_snapshot(pid: u32) -> ThreadSnapshot {
    let mut threads = HashMap::new();
    if let Ok(entries) = fs::read_dir(format!("/proc/{pid}/task")) {
        for entry in entries.flatten() {
            let tid = entry.file_name().to_string_lossy().into_owned();
            let base = format!("/proc/{pid}/task/{tid}");
            if let Some((name, ticks)) = cpu_ticks(&format!("{base}/stat")) {
                let switches = context_switches(&format!("{base}/status"));
                threads.insert(tid, (name, ticks, switches));
            }
        }
    }
    ThreadSnapshot(threads)
}

/// CPU ticks and context switches per thread name over an interval (threads
/// that exited within it are missing here but counted in the process total).
fn thread_deltas(before: &ThreadSnapshot, after: &ThreadSnapshot) -> BTreeMap<String, Usage> {
    let mut groups: BTreeMap<String, Usage> = BTreeMap::new();
    for (tid, (name, ticks, switches)) in &after.0 {
        let (old_ticks, old_switches) = before
            .0
            .get(tid)
            .map(|(_, t, s)| (*t, *s))
            .unwrap_or((0, 0));
        let group = groups.entry(name.clone()).or_default();
        group.threads += 1;
        group.ticks += ticks.saturating_sub(old_ticks);
        group.switches += switches.saturating_sub(old_switches);
    }
    groups
}

#[derive(Default, Clone)]
struct Usage {
    threads: usize,
    ticks: u64,
    switches: u64,
}

/// Samples the server's VmRSS every 100 ms until stopped; returns the max.
struct RssSampler {
    stop: Arc<AtomicBool>,
    handle: std::thread::JoinHandle<u64>,
}

impl RssSampler {
    fn start(pid: u32) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let handle = std::thread::spawn(move || {
            let mut max = 0;
            while !flag.load(Ordering::Relaxed) {
                max = max.max(status_kib(pid, "VmRSS").unwrap_or(0));
                std::thread::sleep(Duration::from_millis(100));
            }
            max.max(status_kib(pid, "VmRSS").unwrap_or(0))
        });
        RssSampler { stop, handle }
    }

    fn finish(self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        self.handle.join().unwrap_or(0)
    }
}

// ---------------------------------------------------------------- the load generator

/// One keep-alive HTTP/1.1 connection; responses must carry a Content-Length.
struct HttpConn {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl HttpConn {
    async fn connect(address: SocketAddr) -> io::Result<Self> {
        let stream = TcpStream::connect(address).await?;
        stream.set_nodelay(true)?;
        Ok(HttpConn {
            stream,
            buf: Vec::with_capacity(4096),
        })
    }

    /// Sends one request and reads its response: the status, and whether
    /// `check` accepts the response (head and body).
    async fn exchange(
        &mut self,
        request: &[u8],
        check: impl Fn(&[u8]) -> bool,
    ) -> io::Result<(u16, bool)> {
        self.stream.write_all(request).await?;
        let (status, head_len, body_len) = loop {
            if let Some(head) = parse_head(&self.buf)? {
                break head;
            }
            self.fill().await?;
        };
        while self.buf.len() < head_len + body_len {
            self.fill().await?;
        }
        let accepted = check(&self.buf[..head_len + body_len]);
        self.buf.drain(..head_len + body_len);
        Ok((status, accepted))
    }

    async fn fill(&mut self) -> io::Result<()> {
        if self.stream.read_buf(&mut self.buf).await? == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        Ok(())
    }
}

/// Status, head length and body length, once the whole head is buffered.
fn parse_head(buf: &[u8]) -> io::Result<Option<(u16, usize, usize)>> {
    let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
        return Ok(None);
    };
    let bad = |what: &str| io::Error::new(io::ErrorKind::InvalidData, what.to_owned());
    let head = std::str::from_utf8(&buf[..end]).map_err(|_| bad("head is not UTF-8"))?;
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|line| line.split(' ').nth(1))
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| bad("bad status line"))?;
    let mut body_len = 0;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        if name.eq_ignore_ascii_case("content-length") {
            body_len = value
                .trim()
                .parse()
                .map_err(|_| bad("bad Content-Length"))?;
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            return Err(bad("chunked responses are not supported"));
        }
    }
    Ok(Some((status, end + 4, body_len)))
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Healthz,
    Whoami,
    Verify,
    Introspect,
    /// Through nginx: `/public/` straight to the static upstream, `/notes`
    /// after `auth_request` to `/auth/verify`.
    NginxOpen,
    NginxAuth,
    Login,
    /// `/whoami` with the keys no login of the bench replaced (not `web`).
    WhoamiAfterLogins,
    /// `POST /token/refresh` with a key: a token check and an ES256 signature.
    Refresh,
    /// `/whoami` with an access JWT.
    WhoamiJwt,
    /// `/whoami` with keys bound to a DPoP key: `Authorization: DPoP` and a
    /// new ES256 proof each (made by the load generator).
    WhoamiDpop,
}

/// The device key every key is bound to in the DPoP phase, and what its
/// proofs share. One key for all: the server's work per request is the
/// same whichever key signs.
struct BenchDpop {
    pair: ring::signature::EcdsaKeyPair,
    /// base64url of the proof's header, with the public JWK.
    header: String,
    /// RFC 7638 thumbprint, stored as the devices' `dpop_jkt`.
    jkt: String,
    htu: String,
}

impl BenchDpop {
    fn new(address: SocketAddr) -> Self {
        use base64::engine::general_purpose::URL_SAFE_NO_PAD;
        use base64::Engine as _;
        use ring::signature::{EcdsaKeyPair, KeyPair as _, ECDSA_P256_SHA256_FIXED_SIGNING};
        use sha2::Digest as _;
        let rng = ring::rand::SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng)
            .unwrap();
        let point = pair.public_key().as_ref();
        let (x, y) = (
            URL_SAFE_NO_PAD.encode(&point[1..33]),
            URL_SAFE_NO_PAD.encode(&point[33..]),
        );
        let header = format!(
            r#"{{"typ":"dpop+jwt","alg":"ES256","jwk":{{"kty":"EC","crv":"P-256","x":"{x}","y":"{y}"}}}}"#
        );
        let canonical = format!(r#"{{"crv":"P-256","kty":"EC","x":"{x}","y":"{y}"}}"#);
        BenchDpop {
            pair,
            header: URL_SAFE_NO_PAD.encode(header),
            jkt: URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(canonical.as_bytes())),
            htu: format!("http://{address}/whoami"),
        }
    }

    /// A proof for `GET /whoami` with `key`, unique by `jti`.
    fn proof(&self, key: &str, jti: u64) -> String {
        use base64::engine::general_purpose::URL_SAFE_NO_PAD;
        use base64::Engine as _;
        use sha2::Digest as _;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let ath = URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(key.as_bytes()));
        let claims = format!(
            r#"{{"jti":"{jti:x}","htm":"GET","htu":"{}","iat":{now},"ath":"{ath}"}}"#,
            self.htu
        );
        let signed = format!("{}.{}", self.header, URL_SAFE_NO_PAD.encode(claims));
        let signature = self
            .pair
            .sign(&ring::rand::SystemRandom::new(), signed.as_bytes())
            .unwrap();
        format!("{signed}.{}", URL_SAFE_NO_PAD.encode(signature.as_ref()))
    }
}

/// Binds every seeded key to `jkt`, or unbinds them all (`None`).
fn bind_all(database: &Database, jkt: Option<&str>) -> Result<()> {
    let mut conn = db::connect_once(database)?;
    diesel::update(tokens::table)
        .set(tokens::dpop_jkt.eq(jkt))
        .execute(&mut conn)?;
    Ok(())
}

/// Devices whose access JWTs the JWT phase uses, at most.
const JWT_DEVICES: usize = 10_000;

/// What every connection of a phase shares.
struct Workload {
    address: SocketAddr,
    kind: Kind,
    keys: Arc<Vec<String>>,
    /// Access JWTs of the first devices of `keys`, in the same order.
    access_tokens: Arc<Vec<String>>,
    users: usize,
    dpop: Arc<BenchDpop>,
    /// How the phases of keys checked by the server draw them.
    picker: Arc<KeyPicker>,
}

/// The introspecting service's key: user 1's `web` token (see `insert_users`).
const SERVICE_KEY_INDEX: usize = 0;

impl Workload {
    /// Writes the next request into `request`; returns the text its
    /// response (head and body) must contain.
    fn next(&self, rng: &mut XorShift, request: &mut Vec<u8>) -> String {
        use std::io::Write as _;
        request.clear();
        match self.kind {
            Kind::Healthz => {
                request.extend_from_slice(b"GET /healthz HTTP/1.1\r\nHost: bench\r\n\r\n");
                "\"ok\"".to_owned()
            }
            Kind::Whoami | Kind::WhoamiAfterLogins => {
                let mut token = self.picker.pick(rng);
                if self.kind == Kind::WhoamiAfterLogins && CLIENTS[token % CLIENTS.len()] == "web" {
                    token += 1;
                }
                let _ = write!(
                    request,
                    "GET /whoami HTTP/1.1\r\nHost: bench\r\nAuthorization: Token {}\r\n\r\n",
                    self.keys[token]
                );
                format!("\"{}\"", username(token / CLIENTS.len()))
            }
            Kind::Refresh => {
                let token = rng.below(self.keys.len());
                let body = format!("refresh={}", self.keys[token]);
                let _ = write!(
                    request,
                    "POST /token/refresh HTTP/1.1\r\nHost: bench\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
                    body.len()
                );
                "\"access\":\"ey".to_owned()
            }
            Kind::WhoamiJwt => {
                let token = rng.below(self.access_tokens.len());
                let _ = write!(
                    request,
                    "GET /whoami HTTP/1.1\r\nHost: bench\r\nAuthorization: Bearer {}\r\n\r\n",
                    self.access_tokens[token]
                );
                format!("\"{}\"", username(token / CLIENTS.len()))
            }
            Kind::WhoamiDpop => {
                let token = rng.below(self.keys.len());
                let key = &self.keys[token];
                let jti = (rng.below(usize::MAX) as u64) ^ (token as u64);
                let _ = write!(
                    request,
                    "GET /whoami HTTP/1.1\r\nHost: bench\r\nAuthorization: DPoP {key}\r\nDPoP: {}\r\n\r\n",
                    self.dpop.proof(key, jti)
                );
                format!("\"{}\"", username(token / CLIENTS.len()))
            }
            Kind::Verify => {
                let token = self.picker.pick(rng);
                let _ = write!(
                    request,
                    "GET /auth/verify HTTP/1.1\r\nHost: bench\r\nAuthorization: Token {}\r\n\r\n",
                    self.keys[token]
                );
                format!(
                    "x-auth-request-user: {}\r\n",
                    username(token / CLIENTS.len())
                )
            }
            Kind::Introspect => {
                let token = self.picker.pick(rng);
                let body = format!("token={}", self.keys[token]);
                let _ = write!(
                    request,
                    "POST /introspect HTTP/1.1\r\nHost: bench\r\nAuthorization: Token {}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
                    self.keys[SERVICE_KEY_INDEX],
                    body.len()
                );
                format!("\"username\":\"{}\"", username(token / CLIENTS.len()))
            }
            Kind::NginxOpen => {
                request.extend_from_slice(b"GET /public/ HTTP/1.1\r\nHost: bench\r\n\r\n");
                "user=\n".to_owned()
            }
            Kind::NginxAuth => {
                let token = self.picker.pick(rng);
                let _ = write!(
                    request,
                    "GET /notes HTTP/1.1\r\nHost: bench\r\nAuthorization: Token {}\r\n\r\n",
                    self.keys[token]
                );
                format!("user={}\n", username(token / CLIENTS.len()))
            }
            Kind::Login => {
                let user = username(rng.below(self.users));
                let body = format!(
                    "{{\"username\":\"{user}\",\"password\":\"{PASSWORD}\",\"client\":\"web\"}}"
                );
                let _ = write!(
                    request,
                    "POST /login HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                    body.len()
                );
                "\"auth_token\"".to_owned()
            }
        }
    }
}

/// A small, fast PRNG for picking tokens and users (not for secrets).
struct XorShift(u64);

impl XorShift {
    fn below(&mut self, n: usize) -> usize {
        (self.step() % n as u64) as usize
    }

    fn step(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// For rand_distr's samplers.
impl rand::RngCore for XorShift {
    fn next_u32(&mut self) -> u32 {
        (self.step() >> 32) as u32
    }

    fn next_u64(&mut self) -> u64 {
        self.step()
    }

    fn fill_bytes(&mut self, dest: &mut [u8]) {
        for chunk in dest.chunks_mut(8) {
            let bytes = self.step().to_le_bytes();
            chunk.copy_from_slice(&bytes[..chunk.len()]);
        }
    }

    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand::Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}

/// How the keys of a phase are drawn (`LOAD_DISTRIBUTION`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum KeyDistribution {
    /// Every key as likely: the worst case for any cache.
    Uniform,
    /// The key of rank k drawn in proportion to 1 / k^1.1: a few devices
    /// make most requests, as in real traffic.
    Zipf,
}

/// Zipf's exponent: s = 1.1, as the issue sets the shape.
const ZIPF_EXPONENT: f64 = 1.1;

impl KeyDistribution {
    fn parse(name: &str) -> Result<Self> {
        match name {
            "uniform" => Ok(KeyDistribution::Uniform),
            "zipf" => Ok(KeyDistribution::Zipf),
            other => Err(format!("LOAD_DISTRIBUTION: unknown {other:?} (uniform or zipf)").into()),
        }
    }

    fn name(self) -> &'static str {
        match self {
            KeyDistribution::Uniform => "uniform",
            KeyDistribution::Zipf => "zipf",
        }
    }
}

/// Draws key indexes in `0..count` by a [`KeyDistribution`].
struct KeyPicker {
    count: usize,
    zipf: Option<rand_distr::Zipf<f64>>,
}

/// Spreads Zipf's ranks over the keys (a prime, so `rank * SCATTER mod
/// count` is one to one for any count below it): the popular keys are
/// then anywhere in the table, as popular users are, not its first rows.
const SCATTER: u64 = 2_147_483_647;

/// One key picker per distribution a run measures, over one key pool.
struct Pickers(Vec<(KeyDistribution, Arc<KeyPicker>)>);

impl Pickers {
    fn new(distributions: &[KeyDistribution], count: usize) -> Result<Self> {
        distributions
            .iter()
            .map(|&distribution| Ok((distribution, Arc::new(KeyPicker::new(distribution, count)?))))
            .collect::<Result<_>>()
            .map(Pickers)
    }

    fn get(&self, distribution: KeyDistribution) -> Arc<KeyPicker> {
        self.0
            .iter()
            .find(|(d, _)| *d == distribution)
            .map(|(_, picker)| picker.clone())
            .expect("a picker for every distribution")
    }
}

impl KeyPicker {
    fn new(distribution: KeyDistribution, count: usize) -> Result<Self> {
        let zipf = match distribution {
            KeyDistribution::Uniform => None,
            KeyDistribution::Zipf => Some(
                rand_distr::Zipf::new(count as u64, ZIPF_EXPONENT)
                    .map_err(|e| format!("Zipf over {count} keys: {e}"))?,
            ),
        };
        Ok(KeyPicker { count, zipf })
    }

    fn pick(&self, rng: &mut XorShift) -> usize {
        use rand_distr::Distribution as _;
        match &self.zipf {
            None => rng.below(self.count),
            Some(zipf) => {
                let rank = (zipf.sample(rng) as u64).clamp(1, self.count as u64) - 1;
                ((rank * SCATTER) % self.count as u64) as usize
            }
        }
    }
}

#[derive(Default)]
struct Tally {
    latencies_us: Vec<u32>,
    non_2xx: u64,
    wrong_body: u64,
    io_errors: u64,
}

impl Tally {
    fn merge(&mut self, other: Tally) {
        self.latencies_us.extend(other.latencies_us);
        self.non_2xx += other.non_2xx;
        self.wrong_body += other.wrong_body;
        self.io_errors += other.io_errors;
    }
}

async fn drive_connection(work: Arc<Workload>, deadline: Instant, seed: u64) -> Tally {
    let mut tally = Tally::default();
    let mut rng = XorShift(seed | 1);
    let mut request = Vec::with_capacity(512);
    let mut conn: Option<HttpConn> = None;
    while Instant::now() < deadline {
        let stream = match conn.as_mut() {
            Some(stream) => stream,
            None => match HttpConn::connect(work.address).await {
                Ok(stream) => conn.insert(stream),
                Err(_) => {
                    tally.io_errors += 1;
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            },
        };
        let expected = work.next(&mut rng, &mut request);
        let started = Instant::now();
        let outcome = tokio::time::timeout(
            REQUEST_TIMEOUT,
            stream.exchange(&request, |body| contains(body, expected.as_bytes())),
        )
        .await;
        let took = started.elapsed();
        match outcome {
            Ok(Ok((status, body_ok))) => {
                tally
                    .latencies_us
                    .push(u32::try_from(took.as_micros()).unwrap_or(u32::MAX));
                if !(200..300).contains(&status) {
                    tally.non_2xx += 1;
                } else if !body_ok {
                    tally.wrong_body += 1;
                }
            }
            Ok(Err(_)) | Err(_) => {
                tally.io_errors += 1;
                conn = None;
            }
        }
    }
    tally
}

/// One access JWT per device of `keys`, from `POST /token/refresh` over
/// one connection, in order.
fn fetch_access_tokens(address: SocketAddr, keys: &[String]) -> Result<Vec<String>> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let mut conn = HttpConn::connect(address).await?;
        let mut tokens = Vec::with_capacity(keys.len());
        for key in keys {
            let body = format!("refresh={key}");
            let request = format!(
                "POST /token/refresh HTTP/1.1\r\nHost: bench\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            );
            let found = std::cell::RefCell::new(None);
            let (status, _) = conn
                .exchange(request.as_bytes(), |response| {
                    let text = String::from_utf8_lossy(response);
                    *found.borrow_mut() = text
                        .split("\"access\":\"")
                        .nth(1)
                        .and_then(|rest| rest.split('"').next())
                        .map(str::to_owned);
                    true
                })
                .await?;
            match found.into_inner() {
                Some(token) if status == 200 => tokens.push(token),
                _ => return Err(format!("POST /token/refresh answered {status}").into()),
            }
        }
        Ok(tokens)
    })
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Runs `conns` connections spread over `threads` single-threaded runtimes
/// until `duration` has passed; returns the tally and the wall time taken.
fn run_load(
    work: &Arc<Workload>,
    conns: usize,
    threads: usize,
    duration: Duration,
) -> Result<(Tally, Duration)> {
    let threads = threads.clamp(1, conns.max(1));
    let started = Instant::now();
    let deadline = started + duration;
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let mine = conns / threads + usize::from(t < conns % threads);
            let work = work.clone();
            std::thread::spawn(move || -> Result<Tally> {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()?;
                runtime.block_on(async move {
                    let tasks: Vec<_> = (0..mine)
                        .map(|_| {
                            tokio::spawn(drive_connection(work.clone(), deadline, rand::random()))
                        })
                        .collect();
                    let mut tally = Tally::default();
                    for task in tasks {
                        tally.merge(task.await?);
                    }
                    Ok(tally)
                })
            })
        })
        .collect();
    let mut tally = Tally::default();
    for handle in handles {
        tally.merge(
            handle
                .join()
                .map_err(|_| "a load generator thread panicked")??,
        );
    }
    Ok((tally, started.elapsed()))
}

// ---------------------------------------------------------------- phases

#[derive(Clone)]
struct PhaseReport {
    name: String,
    conns: usize,
    requests: usize,
    rps: f64,
    p50: Duration,
    p99: Duration,
    max: Duration,
    non_2xx: u64,
    wrong_body: u64,
    io_errors: u64,
    server_cpu_per_request: Duration,
    server_cpu_share: f64,
    loader_cpu_share: f64,
    machine_busy: f64,
    loader_cpu_per_request: Duration,
    max_rss_kib: u64,
    threads: BTreeMap<String, Usage>,
    server_switches_per_request: f64,
    /// Token checks the server's cache answered, of those it looked up
    /// (its `/metrics` counters); `None` when it looked none up.
    cache_hit_rate: Option<f64>,
    /// Database transactions per 1,000 requests, where they can be counted.
    transactions_per_1000: Option<f64>,
}

impl PhaseReport {
    fn print(&self, ticks: f64) {
        println!(
            "{:<18} {:>3} conns  {:>8.0} req/s  p50 {:>8.2} ms  p99 {:>8.2} ms  max {:>8.2} ms  ({} requests; non-2xx {}, wrong body {}, I/O errors {})",
            self.name,
            self.conns,
            self.rps,
            ms(self.p50),
            ms(self.p99),
            ms(self.max),
            self.requests,
            self.non_2xx,
            self.wrong_body,
            self.io_errors,
        );
        println!(
            "{:<18} server CPU {:>6.1} us/req, load generator {:>5.1} us/req; server max RSS {:.1} MiB, {:.1} context switches/req",
            "",
            us(self.server_cpu_per_request),
            us(self.loader_cpu_per_request),
            self.max_rss_kib as f64 / 1024.0,
            self.server_switches_per_request,
        );
        println!(
            "{:<18} cores busy {:.2}: server {:.2}, load generator {:.2}, other processes {:.2}",
            "",
            self.machine_busy,
            self.server_cpu_share,
            self.loader_cpu_share,
            (self.machine_busy - self.server_cpu_share - self.loader_cpu_share).max(0.0),
        );
        let mut threads: Vec<_> = self.threads.iter().filter(|(_, u)| u.ticks > 0).collect();
        threads.sort_by_key(|(_, usage)| std::cmp::Reverse(usage.ticks));
        let split: Vec<String> = threads
            .iter()
            .map(|(name, usage)| {
                format!(
                    "{name} x{}: {:.2} s, {} cs",
                    usage.threads,
                    usage.ticks as f64 / ticks,
                    usage.switches
                )
            })
            .collect();
        println!("{:<18} server threads: {}", "", split.join("; "));
    }
}

fn phase(
    server: &Server,
    work: Workload,
    name: &str,
    conns: usize,
    config: &Config,
    ticks: f64,
) -> Result<PhaseReport> {
    let work = Arc::new(work);
    let pid = server.pid();
    run_load(&work, conns, config.threads, config.warmup)?;

    let server_stat = format!("/proc/{pid}/stat");
    let server_before = cpu_ticks(&server_stat).map(|(_, t)| t).unwrap_or(0);
    let loader_before = cpu_ticks("/proc/self/stat").map(|(_, t)| t).unwrap_or(0);
    let threads_before = thread_snapshot(pid);
    let (machine_busy_before, machine_total_before) = machine_ticks();
    let lookups_before = cache_lookups(server.address);
    let sampler = RssSampler::start(pid);

    let (mut tally, elapsed) = run_load(&work, conns, config.threads, config.phase)?;

    let max_rss_kib = sampler.finish();
    let lookups = cache_lookups(server.address).zip(lookups_before).map(
        |((hits, misses), (hits_before, misses_before))| {
            (hits - hits_before, misses - misses_before)
        },
    );
    let threads_after = thread_snapshot(pid);
    let (machine_busy_after, machine_total_after) = machine_ticks();
    let server_ticks = cpu_ticks(&server_stat)
        .map(|(_, t)| t)
        .unwrap_or(0)
        .saturating_sub(server_before);
    let loader_ticks = cpu_ticks("/proc/self/stat")
        .map(|(_, t)| t)
        .unwrap_or(0)
        .saturating_sub(loader_before);
    let threads = thread_deltas(&threads_before, &threads_after);

    tally.latencies_us.sort_unstable();
    let requests = tally.latencies_us.len();
    let per_request = |ticks_used: u64| {
        Duration::from_secs_f64(ticks_used as f64 / ticks / requests.max(1) as f64)
    };
    let switches: u64 = threads.values().map(|u| u.switches).sum();
    Ok(PhaseReport {
        name: name.to_owned(),
        conns,
        requests,
        rps: requests as f64 / elapsed.as_secs_f64(),
        p50: percentile(&tally.latencies_us, 0.50),
        p99: percentile(&tally.latencies_us, 0.99),
        max: percentile(&tally.latencies_us, 1.0),
        non_2xx: tally.non_2xx,
        wrong_body: tally.wrong_body,
        io_errors: tally.io_errors,
        server_cpu_per_request: per_request(server_ticks),
        server_cpu_share: server_ticks as f64 / ticks / elapsed.as_secs_f64(),
        loader_cpu_share: loader_ticks as f64 / ticks / elapsed.as_secs_f64(),
        // /proc/stat sums every core's jiffies: busy / total is a share of
        // the machine, times the core count makes it cores.
        machine_busy: (machine_busy_after - machine_busy_before) as f64
            / (machine_total_after - machine_total_before).max(1) as f64
            * cores() as f64,
        loader_cpu_per_request: per_request(loader_ticks),
        max_rss_kib,
        threads,
        server_switches_per_request: switches as f64 / requests.max(1) as f64,
        cache_hit_rate: lookups
            .filter(|(hits, misses)| hits + misses > 0.0)
            .map(|(hits, misses)| hits / (hits + misses)),
        transactions_per_1000: None,
    })
}

/// The server's token-cache lookups so far, hits and misses, from its
/// `/metrics` (read between phases: the page counts the active tokens).
fn cache_lookups(address: SocketAddr) -> Option<(f64, f64)> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .ok()?;
    let page = runtime.block_on(async {
        let mut conn = HttpConn::connect(address).await.ok()?;
        let page = std::cell::RefCell::new(String::new());
        let request = b"GET /metrics HTTP/1.1\r\nHost: bench\r\n\r\n";
        let exchanged = tokio::time::timeout(
            REQUEST_TIMEOUT,
            conn.exchange(request, |response| {
                *page.borrow_mut() = String::from_utf8_lossy(response).into_owned();
                true
            }),
        )
        .await;
        matches!(exchanged, Ok(Ok((200, _)))).then(|| page.into_inner())
    })?;
    let counter = |result: &str| {
        let name = format!("multitoken_token_cache_lookups_total{{result=\"{result}\"}} ");
        page.lines()
            .find_map(|line| line.strip_prefix(name.as_str()))
            .and_then(|value| value.trim().parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    Some((counter("hit"), counter("miss")))
}

/// Waits, after a burst of logins, until the hashing threads have given
/// their argon2 memory back, so that the next phase shows whether the server
/// shrank again.
fn idle_until_hashing_memory_is_returned(server: &Server) {
    let idle = MEMORY_KEPT_WHEN_IDLE + Duration::from_secs(2);
    println!(
        "after the logins: {:.1} MiB RSS; idle for {:.0} s, then whoami again",
        status_kib(server.pid(), "VmRSS").unwrap_or(0) as f64 / 1024.0,
        idle.as_secs_f64()
    );
    std::thread::sleep(idle);
}

fn percentile(sorted_us: &[u32], p: f64) -> Duration {
    if sorted_us.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p * sorted_us.len() as f64).ceil() as usize).clamp(1, sorted_us.len());
    Duration::from_micros(u64::from(sorted_us[rank - 1]))
}

/// One user count with one key distribution: the phases that draw keys
/// ran with it, the others (healthz, DPoP, JWT, logins) are shared by every
/// distribution of the user count.
struct SizeReport {
    users: usize,
    distribution: KeyDistribution,
    healthz: Option<PhaseReport>,
    whoami: Option<PhaseReport>,
    refresh: Option<PhaseReport>,
    whoami_jwt: Option<PhaseReport>,
    whoami_dpop: Option<PhaseReport>,
    verify: Option<PhaseReport>,
    introspect: Option<PhaseReport>,
    nginx_open: Option<PhaseReport>,
    nginx_auth: Option<PhaseReport>,
    login_single: Option<PhaseReport>,
    login: Option<PhaseReport>,
    whoami_after_logins: Option<PhaseReport>,
    rss_at_start_kib: u64,
    hwm_kib: u64,
}

impl SizeReport {
    fn new(users: usize, distribution: KeyDistribution) -> Self {
        SizeReport {
            users,
            distribution,
            healthz: None,
            whoami: None,
            refresh: None,
            whoami_jwt: None,
            whoami_dpop: None,
            verify: None,
            introspect: None,
            nginx_open: None,
            nginx_auth: None,
            login_single: None,
            login: None,
            whoami_after_logins: None,
            rss_at_start_kib: 0,
            hwm_kib: 0,
        }
    }

    /// "1000 users, zipf": how the summary names the shape.
    fn shape(&self) -> String {
        format!("{:>7} users, {:<7}", self.users, self.distribution.name())
    }
}

/// Which report field a phase fills.
type Field = fn(&mut SizeReport) -> &mut Option<PhaseReport>;

/// Runs a phase once per distribution, one after the other (alternating
/// rounds: the machine's load changes alike for both).
fn each_distribution(
    reports: &mut [SizeReport],
    field: Field,
    mut run: impl FnMut(KeyDistribution) -> Result<Option<PhaseReport>>,
) -> Result<()> {
    for report in reports.iter_mut() {
        *field(report) = run(report.distribution)?;
    }
    Ok(())
}

/// A phase that draws no keys: its one report goes to every distribution.
fn shared(reports: &mut [SizeReport], field: Field, report: Option<PhaseReport>) {
    for each in reports.iter_mut() {
        *field(each) = report.clone();
    }
}

/// A phase's name with the distribution it drew keys by.
fn drawn(name: &str, distribution: KeyDistribution) -> String {
    format!("{name} [{}]", distribution.name())
}

fn bench_size(
    users_count: usize,
    hash: &str,
    config: &Config,
    ticks: f64,
) -> Result<Vec<SizeReport>> {
    // Declared first so it is removed last, after the server is gone.
    let dir = tempfile::tempdir()?;
    let database_path = dir.path().join("load.db");
    let database = Database::Sqlite {
        path: database_path.to_string_lossy().into_owned(),
    };
    let seeded = seed(&database, users_count, hash, config.touches_due)?;
    let seeded_at = Instant::now();
    direct_lookup_cost(&database, &seeded.keys, ticks)?;
    if config.runs("dpop") {
        dpop_part_costs(&database, &seeded.keys[0], ticks)?;
    }
    match config.touches_due {
        false => println!(
            "every token was seeded as just logged in (last_used_at = created_at = now, expires in 14 days): with TOKEN_TOUCH_INTERVAL=60s no touch write is due for 60 s, so /whoami measures reads only"
        ),
        true => println!(
            "LOAD_TOUCHES=due: every token was seeded as last used an hour ago (expires in 14 days), so each key's first check writes a touch (its last use, its expiry slid on); the phases measure reads and those writes"
        ),
    }

    let server = Server::start(
        database_path.as_os_str(),
        &dir.path().join("server.log"),
        &config.server_env,
    )?;
    if !config.server_env.is_empty() {
        let extra: Vec<String> = config
            .server_env
            .iter()
            .map(|(name, value)| format!("{name}={value}"))
            .collect();
        println!("extra server environment: {}", extra.join(" "));
    }
    let rss_at_start_kib = status_kib(server.pid(), "VmRSS").unwrap_or(0);
    println!(
        "server pid {} on {}, RSS at start {:.1} MiB",
        server.pid(),
        server.address,
        rss_at_start_kib as f64 / 1024.0
    );
    let keys = Arc::new(seeded.keys);
    let access_tokens = match config.runs("jwt") {
        true => {
            let devices = &keys[..keys.len().min(JWT_DEVICES)];
            let fetched_at = Instant::now();
            let fetched = fetch_access_tokens(server.address, devices)?;
            println!(
                "fetched {} access JWTs (one per device) in {:.1} s",
                fetched.len(),
                fetched_at.elapsed().as_secs_f64()
            );
            fetched
        }
        false => Vec::new(),
    };
    let access_tokens = Arc::new(access_tokens);
    let dpop = Arc::new(BenchDpop::new(server.address));
    let mut reports: Vec<SizeReport> = config
        .distributions
        .iter()
        .map(|&distribution| SizeReport::new(users_count, distribution))
        .collect();
    let pickers = Pickers::new(&config.distributions, keys.len())?;
    let picker = |distribution| pickers.get(distribution);
    let first = config.distributions[0];
    let work_at = |address, kind, distribution| Workload {
        address,
        kind,
        keys: keys.clone(),
        access_tokens: access_tokens.clone(),
        users: users_count,
        dpop: dpop.clone(),
        picker: picker(distribution),
    };
    let run_at = |address,
                  wanted: &str,
                  kind,
                  name: &str,
                  conns,
                  distribution|
     -> Result<Option<PhaseReport>> {
        if !config.runs(wanted) {
            return Ok(None);
        }
        let work = work_at(address, kind, distribution);
        let report = phase(&server, work, name, conns, config, ticks)?;
        report.print(ticks);
        Ok(Some(report))
    };
    let run = |wanted: &str, kind, name: &str, conns| {
        run_at(server.address, wanted, kind, name, conns, first)
    };
    let drawn_at = |address, wanted: &str, kind, name: &str, distribution| {
        run_at(
            address,
            wanted,
            kind,
            &drawn(name, distribution),
            config.conns,
            distribution,
        )
    };
    let healthz = run("healthz", Kind::Healthz, "GET /healthz", config.conns)?;
    shared(&mut reports, |r| &mut r.healthz, healthz);
    each_distribution(
        &mut reports,
        |r| &mut r.whoami,
        |distribution| {
            drawn_at(
                server.address,
                "whoami",
                Kind::Whoami,
                "GET /whoami",
                distribution,
            )
        },
    )?;
    // Every key bound for this phase only: the others use them as bearer keys.
    let whoami_dpop = match config.runs("dpop") {
        true => {
            bind_all(&database, Some(&dpop.jkt))?;
            let report = run(
                "dpop",
                Kind::WhoamiDpop,
                "GET /whoami, bound key + DPoP proof",
                config.conns,
            );
            bind_all(&database, None)?;
            report?
        }
        false => None,
    };
    shared(&mut reports, |r| &mut r.whoami_dpop, whoami_dpop);
    let refresh = run("jwt", Kind::Refresh, "POST /token/refresh", config.conns)?;
    shared(&mut reports, |r| &mut r.refresh, refresh);
    let whoami_jwt = run(
        "jwt",
        Kind::WhoamiJwt,
        "GET /whoami, access JWT",
        config.conns,
    )?;
    shared(&mut reports, |r| &mut r.whoami_jwt, whoami_jwt);
    each_distribution(
        &mut reports,
        |r| &mut r.verify,
        |distribution| {
            drawn_at(
                server.address,
                "verify",
                Kind::Verify,
                "GET /auth/verify",
                distribution,
            )
        },
    )?;
    each_distribution(
        &mut reports,
        |r| &mut r.introspect,
        |distribution| {
            drawn_at(
                server.address,
                "introspect",
                Kind::Introspect,
                "POST /introspect",
                distribution,
            )
        },
    )?;
    match (config.runs("nginx"), Nginx::binary()) {
        (false, _) => {}
        (true, None) => {
            println!("nginx phases skipped: nginx is not installed (set NGINX, or install Debian's nginx)");
        }
        (true, Some(binary)) => {
            let nginx = Nginx::start(&binary, dir.path(), server.address)?;
            println!(
                "nginx ({}) on {}, one worker process, the book's recipe",
                binary.display(),
                nginx.address
            );
            let open = run_at(
                nginx.address,
                "nginx",
                Kind::NginxOpen,
                "nginx, no auth",
                config.conns,
                first,
            )?;
            shared(&mut reports, |r| &mut r.nginx_open, open);
            each_distribution(
                &mut reports,
                |r| &mut r.nginx_auth,
                |distribution| {
                    drawn_at(
                        nginx.address,
                        "nginx",
                        Kind::NginxAuth,
                        "nginx auth_request",
                        distribution,
                    )
                },
            )?;
        }
    }
    let since_seeding = seeded_at.elapsed();
    if !config.touches_due && since_seeding >= TOUCH_INTERVAL {
        println!(
            "WARNING: the whoami phase ended {:.0} s after seeding, past the touch interval: touch writes may be included",
            since_seeding.as_secs_f64()
        );
    }
    let login_single = run("login", Kind::Login, "POST /login", 1)?;
    shared(&mut reports, |r| &mut r.login_single, login_single);
    let login = run("login", Kind::Login, "POST /login", config.login_conns)?;
    let logged_in = login.is_some();
    shared(&mut reports, |r| &mut r.login, login);
    // The hashing threads give their argon2 memory back once idle: token
    // load after a burst of logins shows whether the server shrank again.
    let whoami_after_logins = if logged_in && config.runs("whoami") {
        idle_until_hashing_memory_is_returned(&server);
        run(
            "whoami",
            Kind::WhoamiAfterLogins,
            "whoami after logins",
            config.conns,
        )?
    } else {
        None
    };
    shared(
        &mut reports,
        |r| &mut r.whoami_after_logins,
        whoami_after_logins,
    );
    let hwm_kib = status_kib(server.pid(), "VmHWM").unwrap_or(0);
    println!(
        "server at the end: VmRSS {:.1} MiB (anonymous {:.1}, file {:.1}), PSS {:.1} MiB, VmHWM {:.1} MiB, {} threads",
        status_kib(server.pid(), "VmRSS").unwrap_or(0) as f64 / 1024.0,
        status_kib(server.pid(), "RssAnon").unwrap_or(0) as f64 / 1024.0,
        status_kib(server.pid(), "RssFile").unwrap_or(0) as f64 / 1024.0,
        // Each SQLite connection maps the file on its own, and VmRSS counts
        // a page once per mapping; PSS counts it once.
        proc_kib(server.pid(), "smaps_rollup", "Pss").unwrap_or(0) as f64 / 1024.0,
        hwm_kib as f64 / 1024.0,
        thread_snapshot(server.pid()).0.len(),
    );
    let log = fs::read_to_string(dir.path().join("server.log")).unwrap_or_default();
    drop(server);

    let touched = touched_tokens(&database)?;
    println!(
        "tokens with a touch write after seeding: {touched} (whoami ended {:.0} s after seeding)",
        since_seeding.as_secs_f64()
    );
    let log_lines: Vec<&str> = log.lines().collect();
    if !log_lines.is_empty() {
        println!(
            "server log (RUST_LOG=warn): {} line(s), last ones:",
            log_lines.len()
        );
        for line in log_lines.iter().rev().take(5).rev() {
            println!("  {line}");
        }
    }
    drop(dir);
    for report in &mut reports {
        report.rss_at_start_kib = rss_at_start_kib;
        report.hwm_kib = hwm_kib;
    }
    Ok(reports)
}

// ---------------------------------------------------------------- summary

fn print_summary(reports: &[SizeReport], verify: &VerifyTime) {
    println!();
    println!("=== summary (targets are printed, never enforced) ===");
    for report in reports {
        let users = report.shape();
        if let (Some(healthz), Some(whoami)) = (&report.healthz, &report.whoami) {
            let ratio = whoami.rps / healthz.rps;
            let by_cpu = healthz.server_cpu_per_request.as_secs_f64()
                / whoami.server_cpu_per_request.as_secs_f64();
            println!(
                "{users}: whoami rps / healthz rps {ratio:.2} (target >= 0.5: {}); by server CPU per request {by_cpu:.2} ({:.1} vs {:.1} us)",
                verdict(ratio >= 0.5),
                us(whoami.server_cpu_per_request),
                us(healthz.server_cpu_per_request),
            );
        }
        if let (Some(whoami), Some(refresh)) = (&report.whoami, &report.refresh) {
            let ratio = refresh.rps / whoami.rps;
            println!(
                "{users}: /token/refresh rps / whoami rps {ratio:.2} (target >= 0.3: {}); {:.0} req/s, p99 {:.2} ms, {:.1} us server CPU/req",
                verdict(ratio >= 0.3),
                refresh.rps,
                ms(refresh.p99),
                us(refresh.server_cpu_per_request),
            );
        }
        if let (Some(whoami), Some(jwt)) = (&report.whoami, &report.whoami_jwt) {
            let ratio = jwt.rps / whoami.rps;
            println!(
                "{users}: whoami with an access JWT / with a key {ratio:.2} (target >= 0.8: {}); {:.0} vs {:.0} req/s, p99 {:.2} vs {:.2} ms, {:.1} vs {:.1} us server CPU/req",
                verdict(ratio >= 0.8),
                jwt.rps,
                whoami.rps,
                ms(jwt.p99),
                ms(whoami.p99),
                us(jwt.server_cpu_per_request),
                us(whoami.server_cpu_per_request),
            );
        }
        if let (Some(whoami), Some(bound)) = (&report.whoami, &report.whoami_dpop) {
            let ratio = bound.rps / whoami.rps;
            let by_cpu = whoami.server_cpu_per_request.as_secs_f64()
                / bound.server_cpu_per_request.as_secs_f64();
            println!(
                "{users}: bound whoami (DPoP) / unbound whoami {ratio:.2} (target >= 0.5: {}); by server CPU per request {by_cpu:.2}; {:.0} vs {:.0} req/s, p99 {:.2} vs {:.2} ms, {:.1} vs {:.1} us server CPU/req",
                verdict(ratio >= 0.5),
                bound.rps,
                whoami.rps,
                ms(bound.p99),
                ms(whoami.p99),
                us(bound.server_cpu_per_request),
                us(whoami.server_cpu_per_request),
            );
        }
        if let (Some(whoami), Some(verify)) = (&report.whoami, &report.verify) {
            let ratio = verify.rps / whoami.rps;
            println!(
                "{users}: /auth/verify rps / whoami rps {ratio:.2} (target >= 0.9: {}); {:.0} vs {:.0} req/s, p99 {:.2} vs {:.2} ms",
                verdict(ratio >= 0.9),
                verify.rps,
                whoami.rps,
                ms(verify.p99),
                ms(whoami.p99),
            );
        }
        if let (Some(whoami), Some(introspect)) = (&report.whoami, &report.introspect) {
            println!(
                "{users}: /introspect rps / whoami rps {:.2} (two token checks each: the caller's and the subject's); {:.0} req/s, p99 {:.2} ms",
                introspect.rps / whoami.rps,
                introspect.rps,
                ms(introspect.p99),
            );
        }
        if let (Some(open), Some(auth)) = (&report.nginx_open, &report.nginx_auth) {
            let ratio = auth.rps / open.rps;
            println!(
                "{users}: nginx with auth_request / without {ratio:.2} (target >= 0.5: {}); {:.0} vs {:.0} req/s, p99 {:.2} vs {:.2} ms",
                verdict(ratio >= 0.5),
                auth.rps,
                open.rps,
                ms(auth.p99),
                ms(open.p99),
            );
        }
        if let Some(whoami) = &report.whoami {
            println!(
                "{users}: max server RSS during whoami {:.1} MiB (target < 64 MiB: {}); at start {:.1} MiB",
                whoami.max_rss_kib as f64 / 1024.0,
                verdict(whoami.max_rss_kib < 64 * 1024),
                report.rss_at_start_kib as f64 / 1024.0,
            );
        }
        if let Some(after) = &report.whoami_after_logins {
            println!(
                "{users}: max server RSS during whoami after a burst of logins {:.1} MiB (target < 64 MiB: {})",
                after.max_rss_kib as f64 / 1024.0,
                verdict(after.max_rss_kib < 64 * 1024),
            );
        }
        println!(
            "{users}: server VmHWM at the end of the run {:.1} MiB",
            report.hwm_kib as f64 / 1024.0
        );
        if let (Some(single), Some(loaded)) = (&report.login_single, &report.login) {
            let ratio = single.p50.as_secs_f64() / verify.median.as_secs_f64();
            println!(
                "{users}: login p50 / one argon2 verify {ratio:.2} at 1 connection (target <= 1.2: {}); {:.2} at {} connections; by CPU, server per login / one verify {:.2}",
                verdict(ratio <= 1.2),
                loaded.p50.as_secs_f64() / verify.median.as_secs_f64(),
                loaded.conns,
                single.server_cpu_per_request.as_secs_f64() / verify.cpu.as_secs_f64(),
            );
            println!(
                "{users}: login throughput {:.1}/s at {} connections; {:.1}/s if every core did nothing but verify",
                loaded.rps,
                loaded.conns,
                cores() as f64 / verify.cpu.as_secs_f64(),
            );
        }
    }
    for distribution in distributions_of(reports.iter().map(|r| r.distribution)) {
        let measured: Vec<(usize, &PhaseReport)> = reports
            .iter()
            .filter(|r| r.distribution == distribution)
            .filter_map(|r| Some((r.users, r.whoami.as_ref()?)))
            .collect();
        let Some((small_users, small)) = measured.iter().min_by_key(|(users, _)| *users) else {
            continue;
        };
        for (large_users, large) in measured.iter().filter(|(users, _)| users > small_users) {
            let ratio = large.rps / small.rps;
            let by_cpu = small.server_cpu_per_request.as_secs_f64()
                / large.server_cpu_per_request.as_secs_f64();
            let target = if *large_users >= 1_000_000 { 0.8 } else { 0.9 };
            println!(
                "{}: whoami rps at {large_users} users / at {small_users} users: {ratio:.2} (target >= {target}: {}); by server CPU per request {by_cpu:.2}",
                distribution.name(),
                verdict(ratio >= target),
            );
        }
    }
    println!(
        "one argon2 verify (m=19456 KiB, t=2, p=1) in the bench process: {:.1} ms median wall, {:.1} ms CPU",
        ms(verify.median),
        ms(verify.cpu)
    );
}

/// Each distribution once, in the order first seen.
fn distributions_of(all: impl Iterator<Item = KeyDistribution>) -> Vec<KeyDistribution> {
    let mut seen = Vec::new();
    for distribution in all {
        if !seen.contains(&distribution) {
            seen.push(distribution);
        }
    }
    seen
}

fn cores() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

fn verdict(met: bool) -> &'static str {
    if met {
        "met"
    } else {
        "MISSED"
    }
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1e3
}

fn us(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1e6
}

// ---------------------------------------------------------------- PostgreSQL mode

/// One user count with one key distribution on PostgreSQL; `healthz` and
/// the logins are shared by the distributions of a user count.
struct PostgresReport {
    users: usize,
    distribution: KeyDistribution,
    healthz: Option<PhaseReport>,
    cached: Option<PhaseReport>,
    uncached: Option<PhaseReport>,
    /// Cached whoami after a burst of logins and an idle pause (its RSS).
    after_logins: Option<PhaseReport>,
}

#[derive(QueryableByName)]
struct Commits {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    commits: i64,
}

fn commits(admin: &mut PgConnection, name: &str) -> Result<i64> {
    // Statistics reach pg_stat_database a moment after the transactions.
    std::thread::sleep(Duration::from_millis(1500));
    admin.batch_execute("SELECT pg_stat_clear_snapshot()")?;
    let found: Commits = diesel::sql_query(format!(
        "SELECT xact_commit AS commits FROM pg_stat_database WHERE datname = '{name}'"
    ))
    .get_result(admin)?;
    Ok(found.commits)
}

/// A phase of the PostgreSQL mode: which `LOAD_PHASES` name runs it, what
/// it sends, its label, and how it draws keys.
type PostgresPhase<'a> = (&'a str, Kind, &'a str, KeyDistribution);

fn bench_postgres(
    admin_url: &str,
    users_count: usize,
    hash: &str,
    config: &Config,
    ticks: f64,
) -> Result<Vec<PostgresReport>> {
    let dir = tempfile::tempdir()?;
    let name = format!("mt_load_{}_{users_count}", std::process::id());
    let mut admin = PgConnection::establish(admin_url)?;
    admin.batch_execute(&format!("DROP DATABASE IF EXISTS {name}"))?;
    admin.batch_execute(&format!("CREATE DATABASE {name}"))?;
    let url = with_database(admin_url, &name);
    let result = (|| -> Result<Vec<PostgresReport>> {
        let database = Database::Postgres { url: url.clone() };
        let seeded = seed(&database, users_count, hash, config.touches_due)?;
        let keys = Arc::new(seeded.keys);
        let pickers = Pickers::new(&config.distributions, keys.len())?;
        let picker = |distribution| pickers.get(distribution);
        let mut measure = |cache: &str,
                           wanted: &[PostgresPhase]|
         -> Result<Vec<Option<PhaseReport>>> {
            let mut env = config.server_env.clone();
            env.push(("TOKEN_CACHE".into(), cache.into()));
            let server = Server::start(
                std::ffi::OsStr::new(&url),
                &dir.path().join("server.log"),
                &env,
            )?;
            let mut reports = Vec::new();
            for (phase_name, kind, label, distribution) in wanted {
                if !config.runs(phase_name) {
                    reports.push(None);
                    continue;
                }
                if *kind == Kind::WhoamiAfterLogins {
                    idle_until_hashing_memory_is_returned(&server);
                }
                let conns = if *kind == Kind::Login {
                    config.login_conns
                } else {
                    config.conns
                };
                let work = Workload {
                    address: server.address,
                    kind: *kind,
                    keys: keys.clone(),
                    // The PostgreSQL mode measures keys only.
                    access_tokens: Arc::new(Vec::new()),
                    users: users_count,
                    dpop: Arc::new(BenchDpop::new(server.address)),
                    picker: picker(*distribution),
                };
                let before = commits(&mut admin, &name)?;
                let mut report = phase(&server, work, label, conns, config, ticks)?;
                let after = commits(&mut admin, &name)?;
                // Warm-up requests are counted too: they reached the database as well.
                let requests = report.requests as f64
                    * (1.0 + config.warmup.as_secs_f64() / config.phase.as_secs_f64());
                report.transactions_per_1000 =
                    Some((after - before) as f64 * 1000.0 / requests.max(1.0));
                report.print(ticks);
                println!(
                    "{:<18} database transactions (warm-up and phase, pg_stat_database.xact_commit): {} ({:.2} per 1,000 requests); token cache hit rate {}",
                    "",
                    after - before,
                    report.transactions_per_1000.unwrap_or(0.0),
                    percent(report.cache_hit_rate),
                );
                reports.push(Some(report));
            }
            drop(server);
            Ok(reports)
        };
        let first = config.distributions[0];
        let whoami_phases = |label: &'static str| -> Vec<(String, KeyDistribution)> {
            config
                .distributions
                .iter()
                .map(|&distribution| (drawn(label, distribution), distribution))
                .collect()
        };
        let cached_labels = whoami_phases("PG GET /whoami, cache on");
        let verify_labels = whoami_phases("PG GET /auth/verify, cache on");
        let mut on: Vec<PostgresPhase> = vec![("healthz", Kind::Healthz, "PG GET /healthz", first)];
        // Forward auth right after whoami on the same keys and server: the
        // ratio of the two is the price of its identity headers.
        for ((whoami, d), (verify, _)) in cached_labels.iter().zip(&verify_labels) {
            on.push(("whoami", Kind::Whoami, whoami.as_str(), *d));
            on.push(("verify", Kind::Verify, verify.as_str(), *d));
        }
        let mut on = measure("on", &on)?.into_iter();
        let healthz = on.next().flatten();
        let mut cached: Vec<Option<PhaseReport>> = Vec::new();
        for distribution in &config.distributions {
            let whoami = on.next().flatten();
            if let (Some(whoami), Some(Some(verify))) = (&whoami, on.next()) {
                println!(
                    "PG /auth/verify ÷ /whoami, cache on, {users_count} users, {}: {:.2} by req/s, {:.2} by server CPU per request ({:.1} vs {:.1} µs)",
                    distribution.name(),
                    verify.rps / whoami.rps,
                    whoami.server_cpu_per_request.as_secs_f64()
                        / verify.server_cpu_per_request.as_secs_f64().max(1e-9),
                    verify.server_cpu_per_request.as_secs_f64() * 1e6,
                    whoami.server_cpu_per_request.as_secs_f64() * 1e6,
                );
            }
            cached.push(whoami);
        }
        let uncached_labels = whoami_phases("PG GET /whoami, cache off");
        let off: Vec<PostgresPhase> = uncached_labels
            .iter()
            .map(|(label, d)| ("whoami", Kind::Whoami, label.as_str(), *d))
            .collect();
        let uncached = measure("off", &off)?;
        bench_postgres_dpop(
            &url,
            &database,
            &keys,
            users_count,
            dir.path(),
            config,
            ticks,
        )?;
        // A server of its own, so that the logins' writes are not counted
        // as the cached whoami's transactions above.
        let after_logins = match config.runs("login") {
            true => measure(
                "on",
                &[
                    ("login", Kind::Login, "PG POST /login", first),
                    (
                        "whoami",
                        Kind::WhoamiAfterLogins,
                        "PG whoami after logins, cache on",
                        first,
                    ),
                ],
            )?
            .pop()
            .flatten(),
            false => None,
        };
        Ok(config
            .distributions
            .iter()
            .zip(cached.into_iter().zip(uncached))
            .map(|(&distribution, (cached, uncached))| PostgresReport {
                users: users_count,
                distribution,
                healthz: healthz.clone(),
                cached,
                uncached,
                after_logins: after_logins.clone(),
            })
            .collect())
    })();
    if let Err(error) = admin.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
    {
        println!("could not drop the bench database {name}: {error}");
    }
    result
}

/// The `dpop` phase on PostgreSQL, on a server of its own (its proofs'
/// writes are not the cached whoami's transactions): `/whoami` with bearer
/// keys, then with every key bound and a new proof each, cache on; prints
/// the ratio at once.
fn bench_postgres_dpop(
    url: &str,
    database: &Database,
    keys: &Arc<Vec<String>>,
    users: usize,
    dir: &Path,
    config: &Config,
    ticks: f64,
) -> Result<()> {
    if !config.runs("dpop") {
        return Ok(());
    }
    let mut env = config.server_env.clone();
    env.push(("TOKEN_CACHE".into(), "on".into()));
    let server = Server::start(std::ffi::OsStr::new(url), &dir.join("server.log"), &env)?;
    let dpop = Arc::new(BenchDpop::new(server.address));
    let run = |kind, label: &str| -> Result<PhaseReport> {
        let work = Workload {
            address: server.address,
            kind,
            keys: keys.clone(),
            access_tokens: Arc::new(Vec::new()),
            users,
            dpop: dpop.clone(),
            picker: Arc::new(KeyPicker::new(KeyDistribution::Uniform, keys.len())?),
        };
        let report = phase(&server, work, label, config.conns, config, ticks)?;
        report.print(ticks);
        Ok(report)
    };
    let whoami = run(Kind::Whoami, "PG GET /whoami, cache on")?;
    bind_all(database, Some(&dpop.jkt))?;
    let bound = run(Kind::WhoamiDpop, "PG GET /whoami, bound key + DPoP proof");
    bind_all(database, None)?;
    let bound = bound?;
    println!(
        "{users:>7} users: PG bound whoami (DPoP) / unbound whoami {:.2} (target >= 0.5: {}); by server CPU per request {:.2}; {:.0} vs {:.0} req/s, {:.1} vs {:.1} us server CPU/req",
        bound.rps / whoami.rps,
        verdict(bound.rps / whoami.rps >= 0.5),
        whoami.server_cpu_per_request.as_secs_f64() / bound.server_cpu_per_request.as_secs_f64(),
        bound.rps,
        whoami.rps,
        us(bound.server_cpu_per_request),
        us(whoami.server_cpu_per_request),
    );
    Ok(())
}

fn percent(rate: Option<f64>) -> String {
    rate.map_or_else(|| "n/a".to_owned(), |rate| format!("{:.1} %", rate * 100.0))
}

fn print_postgres_summary(postgres: &[PostgresReport], sqlite: &[SizeReport]) {
    if postgres.is_empty() {
        return;
    }
    println!();
    println!("=== PostgreSQL summary (targets are printed, never enforced) ===");
    for report in postgres {
        let users = format!(
            "{:>7} users, {:<7}",
            report.users,
            report.distribution.name()
        );
        let sqlite_whoami = sqlite
            .iter()
            .find(|r| r.users == report.users && r.distribution == report.distribution)
            .and_then(|r| r.whoami.as_ref());
        if let (Some(cached), Some(healthz)) = (&report.cached, &report.healthz) {
            let ratio = cached.rps / healthz.rps;
            println!(
                "{users}: PG whoami (cache) / PG healthz {ratio:.2} (target >= 0.5: {}); {:.0} vs {:.0} req/s",
                verdict(ratio >= 0.5),
                cached.rps,
                healthz.rps
            );
        }
        if let (Some(cached), Some(sqlite)) = (&report.cached, sqlite_whoami) {
            let ratio = cached.rps / sqlite.rps;
            println!(
                "{users}: PG whoami (cache) / SQLite whoami {ratio:.2} (target >= 0.8: {}); {:.0} vs {:.0} req/s",
                verdict(ratio >= 0.8),
                cached.rps,
                sqlite.rps
            );
        }
        if let (Some(cached), Some(uncached)) = (&report.cached, &report.uncached) {
            println!(
                "{users}: PG whoami cache on / off {:.2}; {:.0} vs {:.0} req/s, p99 {:.2} vs {:.2} ms",
                cached.rps / uncached.rps,
                cached.rps,
                uncached.rps,
                ms(cached.p99),
                ms(uncached.p99)
            );
        }
        if let Some(per) = report.cached.as_ref().and_then(|c| c.transactions_per_1000) {
            println!("{users}: PG transactions per 1,000 cached whoami: {per:.2}");
        }
        if let Some(after) = &report.after_logins {
            println!(
                "{users}: PG max server RSS during cached whoami after a burst of logins {:.1} MiB (target < 64 MiB: {})",
                after.max_rss_kib as f64 / 1024.0,
                verdict(after.max_rss_kib < 64 * 1024)
            );
        }
    }
    for distribution in distributions_of(postgres.iter().map(|r| r.distribution)) {
        let cached: Vec<(usize, f64)> = postgres
            .iter()
            .filter(|r| r.distribution == distribution)
            .filter_map(|r| Some((r.users, r.cached.as_ref()?.rps)))
            .collect();
        let Some(&(small_users, small)) = cached.iter().min_by_key(|(users, _)| *users) else {
            continue;
        };
        for (large_users, large) in cached.iter().filter(|(users, _)| *users > small_users) {
            let ratio = large / small;
            println!(
                "{}: PG whoami (cache) at {large_users} users / at {small_users} users: {ratio:.2} (target >= 0.9: {})",
                distribution.name(),
                verdict(ratio >= 0.9)
            );
        }
    }
}

// ---------------------------------------------------------------- revocation phase

/// Users seeded for the revocation phase, and rounds of each variant.
const REVOCATION_USERS: usize = 2000;
const REVOCATION_ROUNDS: usize = 2;

/// One variant of the revocation phase: which build, and whether B caches.
struct RevocationVariant {
    label: &'static str,
    binary: Option<std::ffi::OsString>,
    b_caches: bool,
}

#[derive(Default)]
struct RevocationTally {
    logouts_us: Vec<u32>,
    whoami: usize,
    whoami_non_2xx: u64,
    seconds: f64,
}

fn bench_revocation(admin_url: &str, hash: &str, duration: Duration) -> Result<()> {
    println!();
    println!("=== revocation: two PostgreSQL instances, /whoami on B, logouts on A ===");
    let mut variants = vec![
        RevocationVariant {
            label: "B caches (A waits for its ack)",
            binary: None,
            b_caches: true,
        },
        RevocationVariant {
            label: "B does not cache (nothing to wait for)",
            binary: None,
            b_caches: false,
        },
    ];
    if let Some(baseline) = std::env::var_os("LOAD_BASELINE_BIN") {
        variants.push(RevocationVariant {
            label: "LOAD_BASELINE_BIN, B caches",
            binary: Some(baseline),
            b_caches: true,
        });
    }
    let mut tallies: Vec<RevocationTally> = variants.iter().map(|_| Default::default()).collect();
    for round in 0..REVOCATION_ROUNDS {
        for (index, variant) in variants.iter().enumerate() {
            let name = format!("mt_revocation_{}_{round}_{index}", std::process::id());
            let round = revocation_round(admin_url, &name, hash, variant, duration)?;
            let tally = &mut tallies[index];
            tally.logouts_us.extend(round.logouts_us);
            tally.whoami += round.whoami;
            tally.whoami_non_2xx += round.whoami_non_2xx;
            tally.seconds += round.seconds;
        }
    }
    println!("  {REVOCATION_ROUNDS} alternating round(s) of {:.0} s per variant, one run, on a shared machine:", duration.as_secs_f64());
    let mut first: Option<(Duration, f64)> = None;
    for (variant, tally) in variants.iter().zip(&mut tallies) {
        tally.logouts_us.sort_unstable();
        let p50 = percentile(&tally.logouts_us, 0.50);
        let p99 = percentile(&tally.logouts_us, 0.99);
        let rps = tally.whoami as f64 / tally.seconds.max(f64::EPSILON);
        let (base_p50, base_rps) = *first.get_or_insert((p50, rps));
        println!(
            "  {:<40} logout p50 {:>7.2} ms p99 {:>7.2} ms ({} logouts; p50 x{:.2} of the first)  whoami on B {:>8.0}/s (x{:.2}; {} refused: keys revoked meanwhile)",
            variant.label,
            ms(p50),
            ms(p99),
            tally.logouts_us.len(),
            p50.as_secs_f64() / base_p50.as_secs_f64().max(f64::EPSILON),
            rps,
            rps / base_rps.max(f64::EPSILON),
            tally.whoami_non_2xx,
        );
    }
    Ok(())
}

/// One round: a fresh database, A and B started, B's `/whoami` load for
/// `duration` while A logs out keys B has just cached.
fn revocation_round(
    admin_url: &str,
    name: &str,
    hash: &str,
    variant: &RevocationVariant,
    duration: Duration,
) -> Result<RevocationTally> {
    let dir = tempfile::tempdir()?;
    let mut admin = PgConnection::establish(admin_url)?;
    admin.batch_execute(&format!("DROP DATABASE IF EXISTS {name}"))?;
    admin.batch_execute(&format!("CREATE DATABASE {name}"))?;
    let url = with_database(admin_url, name);
    let result = (|| -> Result<RevocationTally> {
        let seeded = seed(
            &Database::Postgres { url: url.clone() },
            REVOCATION_USERS,
            hash,
            false,
        )?;
        let keys = Arc::new(seeded.keys);
        // Server::start runs LOAD_SERVER_BIN when set: the variant's build.
        let previous = std::env::var_os("LOAD_SERVER_BIN");
        if let Some(binary) = &variant.binary {
            std::env::set_var("LOAD_SERVER_BIN", binary);
        }
        let started = (|| -> Result<(Server, Server)> {
            let on = [("TOKEN_CACHE".to_owned(), "on".to_owned())];
            let b_cache = if variant.b_caches { "on" } else { "off" };
            let b_env = [("TOKEN_CACHE".to_owned(), b_cache.to_owned())];
            let url = std::ffi::OsStr::new(&url);
            let a = Server::start(url, &dir.path().join("a.log"), &on)?;
            let b = Server::start(url, &dir.path().join("b.log"), &b_env)?;
            Ok((a, b))
        })();
        match previous {
            Some(binary) => std::env::set_var("LOAD_SERVER_BIN", binary),
            None => std::env::remove_var("LOAD_SERVER_BIN"),
        }
        let (a, b) = started?;
        let work = Arc::new(Workload {
            address: b.address,
            kind: Kind::Whoami,
            keys: keys.clone(),
            access_tokens: Arc::new(Vec::new()),
            users: REVOCATION_USERS,
            dpop: Arc::new(BenchDpop::new(b.address)),
            picker: Arc::new(KeyPicker::new(KeyDistribution::Uniform, keys.len())?),
        });
        let load = std::thread::spawn(move || run_load(&work, 16, 1, duration));
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let logouts_us = runtime.block_on(async {
            let deadline = Instant::now() + duration;
            let mut on_a = HttpConn::connect(a.address).await?;
            let mut on_b = HttpConn::connect(b.address).await?;
            let mut logouts_us = Vec::new();
            // The last users' keys, newest first: the load asks for them too, rarely.
            for key in keys.iter().rev() {
                if Instant::now() >= deadline {
                    break;
                }
                let whoami = format!(
                    "GET /whoami HTTP/1.1\r\nHost: bench\r\nAuthorization: Token {key}\r\n\r\n"
                );
                on_b.exchange(whoami.as_bytes(), |_| true).await?;
                let logout = format!(
                    "POST /logout HTTP/1.1\r\nHost: bench\r\nAuthorization: Token {key}\r\nContent-Length: 0\r\n\r\n"
                );
                let sent = Instant::now();
                let (status, _) = on_a.exchange(logout.as_bytes(), |_| true).await?;
                let took = sent.elapsed();
                if status != 200 {
                    return Err(format!("logout answered {status}").into());
                }
                logouts_us.push(u32::try_from(took.as_micros()).unwrap_or(u32::MAX));
            }
            Ok::<_, BoxError>(logouts_us)
        })?;
        let (tally, elapsed) = load.join().map_err(|_| "the whoami load panicked")??;
        Ok(RevocationTally {
            logouts_us,
            whoami: tally.latencies_us.len(),
            whoami_non_2xx: tally.non_2xx,
            seconds: elapsed.as_secs_f64(),
        })
    })();
    if let Err(error) = admin.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
    {
        println!("could not drop the bench database {name}: {error}");
    }
    result
}

/// Every whoami measured, one row each: the shapes' table.
fn print_shapes_table(sqlite: &[SizeReport], postgres: &[PostgresReport]) {
    let mut rows: Vec<(&str, &str, usize, KeyDistribution, &PhaseReport)> = Vec::new();
    for report in sqlite {
        if let Some(whoami) = &report.whoami {
            rows.push(("SQLite", "-", report.users, report.distribution, whoami));
        }
    }
    for report in postgres {
        for (cache, whoami) in [("on", &report.cached), ("off", &report.uncached)] {
            if let Some(whoami) = whoami {
                rows.push((
                    "PostgreSQL",
                    cache,
                    report.users,
                    report.distribution,
                    whoami,
                ));
            }
        }
    }
    if rows.is_empty() {
        return;
    }
    println!();
    println!("=== GET /whoami by shape ===");
    println!(
        "| database | cache | users | keys | req/s | p50 ms | p99 ms | server CPU us/req | max RSS MiB | DB transactions / 1,000 req | cache hit rate |"
    );
    println!("| --- | --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    for (database, cache, users, distribution, whoami) in rows {
        println!(
            "| {database} | {cache} | {users} | {} | {:.0} | {:.2} | {:.2} | {:.1} | {:.1} | {} | {} |",
            distribution.name(),
            whoami.rps,
            ms(whoami.p50),
            ms(whoami.p99),
            us(whoami.server_cpu_per_request),
            whoami.max_rss_kib as f64 / 1024.0,
            whoami
                .transactions_per_1000
                .map_or_else(|| "n/a".to_owned(), |per| format!("{per:.2}")),
            percent(whoami.cache_hit_rate),
        );
    }
}
