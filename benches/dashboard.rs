//! How long the console's dashboard (`GET /console/`) takes over 1M events.
//!
//! Seeds a fresh database directly with SQL: one admin, `DASHBOARD_USERS`
//! users (10,000) with three devices each over 24 client names (a tenth of
//! them expired), and `DASHBOARD_EVENTS` events (1,000,000) spread evenly
//! over the last 30 days, of mixed kinds (40 % `login`, 20 %
//! `login_failed`, 10 % `throttled`, 10 % `revoked`, 5 % `logout`, the rest
//! kinds the charts do not count). Then it starts the release binary on it,
//! signs in to the console as a browser does (the sign-in page for its CSRF
//! token, then the credentials), loads the dashboard once to warm up and
//! `DASHBOARD_REQUESTS` times (20) timed, one after the other, and prints
//! min, median and p95 in ms. It measures; it never fails on a target.
//!
//! SQLite always; PostgreSQL too with `LOAD_DATABASE_URL=postgres://…` (a
//! server this bench may create a database on: `multitoken_dashboard_bench`,
//! created, then dropped). After the seed, the tables are analysed, and on
//! PostgreSQL vacuumed, as autovacuum would leave them after a bulk insert
//! (index-only scans need the visibility map).
//!
//! `DASHBOARD_PAGE=FILE` keeps the last page loaded there, to look at.
//!
//! Run: `cargo bench --bench dashboard`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::with_database;
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::PgConnection;
use multitoken::db::schema::users;
use multitoken::db::{self, AnyConnection, Database};
use multitoken::domain::{Password, Timestamp};
use multitoken::service::shared::passwords::hash_blocking;
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use reqwest::redirect::Policy;
use reqwest::StatusCode;
use std::fs;
use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

type BoxError = Box<dyn std::error::Error + Send + Sync>;
type Result<T, E = BoxError> = std::result::Result<T, E>;

const ADMIN: &str = "bench-admin";
const PASSWORD: &str = "correct horse battery staple";
const DAY_MS: i64 = 86_400_000;
const PG_DATABASE: &str = "multitoken_dashboard_bench";

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("dashboard bench: {error}");
            ExitCode::FAILURE
        }
    }
}

fn number(name: &str, default: i64) -> Result<i64> {
    match std::env::var(name) {
        Ok(value) => Ok(value.replace('_', "").parse()?),
        Err(_) => Ok(default),
    }
}

struct Config {
    events: i64,
    users: i64,
    requests: usize,
    postgres: Option<String>,
}

fn run() -> Result<()> {
    let config = Config {
        events: number("DASHBOARD_EVENTS", 1_000_000)?,
        users: number("DASHBOARD_USERS", 10_000)?,
        requests: number("DASHBOARD_REQUESTS", 20)?.max(1) as usize,
        postgres: std::env::var("LOAD_DATABASE_URL").ok(),
    };
    println!("multitoken dashboard benchmark");
    println!(
        "  {} events over 30 days, {} users x 3 devices, {} timed loads of GET /console/",
        config.events, config.users, config.requests
    );
    let hash = hash_blocking(&Password::new(PASSWORD.to_owned()))?;

    let dir = tempfile::tempdir()?;
    let path = dir.path().join("dashboard.db");
    let sqlite = Database::Sqlite {
        path: path.to_string_lossy().into_owned(),
    };
    println!();
    println!("=== SQLite ===");
    bench(&sqlite, &path.to_string_lossy(), &hash, &config, dir.path())?;

    if let Some(admin_url) = &config.postgres {
        println!();
        println!("=== PostgreSQL ===");
        let mut admin = PgConnection::establish(admin_url)?;
        admin.batch_execute(&format!("DROP DATABASE IF EXISTS {PG_DATABASE}"))?;
        admin.batch_execute(&format!("CREATE DATABASE {PG_DATABASE}"))?;
        let url = with_database(admin_url, PG_DATABASE);
        let postgres = Database::Postgres { url: url.clone() };
        let outcome = bench(&postgres, &url, &hash, &config, dir.path());
        admin.batch_execute(&format!(
            "DROP DATABASE IF EXISTS {PG_DATABASE} WITH (FORCE)"
        ))?;
        outcome?;
    }
    Ok(())
}

fn bench(database: &Database, url: &str, hash: &str, config: &Config, dir: &Path) -> Result<()> {
    let started = Instant::now();
    seed(database, hash, config)?;
    println!("seeded in {:.1} s", started.elapsed().as_secs_f64());
    let server = Server::start(url, &dir.join("server.log"))?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(measure(server.address, config.requests))
}

// ------------------------------------------------------------------ seeding

fn seed(database: &Database, hash: &str, config: &Config) -> Result<()> {
    db::migrate(database)?;
    let mut conn = db::connect_once(database)?;
    let now = Timestamp::now().millis();
    diesel::insert_into(users::table)
        .values((
            users::id.eq(1),
            users::username.eq(ADMIN),
            users::username_key.eq(ADMIN),
            users::password_hash.eq(hash),
            users::email.eq("admin@example.com"),
            users::is_active.eq(true),
            users::is_admin.eq(true),
            users::is_service.eq(false),
            users::created_at.eq(now),
        ))
        .execute(&mut conn)?;
    let postgres = matches!(conn, AnyConnection::Postgresql(_));
    // `rows(n)` is the source of rows numbered 1..=n, `i`, on each backend.
    let rows = |n: i64| -> (String, String) {
        if postgres {
            (
                String::new(),
                format!("FROM generate_series(1, {n}) AS n(i)"),
            )
        } else {
            (
                format!(
                    "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {n}) "
                ),
                "FROM n".to_owned(),
            )
        }
    };
    let users = config.users;
    let (with, from) = rows(users);
    let timed = Instant::now();
    conn.batch_execute(&format!(
        "{with}INSERT INTO users (id, username, username_key, password_hash, email, \
             is_active, is_admin, is_service, created_at) \
         SELECT i + 1, 'user' || i, 'user' || i, '{hash}', 'user' || i || '@example.com', \
             TRUE, FALSE, FALSE, {now} {from}"
    ))?;
    let digest = if postgres {
        "decode(md5('a' || i) || md5('b' || i), 'hex')"
    } else {
        "randomblob(32)"
    };
    let (with, from) = rows(users * 3);
    let (day, ttl) = (DAY_MS, 14 * DAY_MS);
    conn.batch_execute(&format!(
        "{with}INSERT INTO tokens (user_id, client, digest, created_at, last_used_at, expires_at) \
         SELECT (i - 1) / 3 + 2, 'app-' || ((i - 1) % 3 + 3 * (((i - 1) / 3) % 8)), {digest}, \
             {now} - {day}, {now} - {day}, \
             CASE WHEN i % 10 = 0 THEN {now} - 1 ELSE {now} + {ttl} END {from}"
    ))?;
    println!(
        "  {} users, {} devices: {:.1} s",
        users + 1,
        users * 3,
        timed.elapsed().as_secs_f64()
    );
    let timed = Instant::now();
    let events = config.events;
    let (with, from) = rows(events);
    let first = now - 30 * DAY_MS;
    let step = 30 * DAY_MS / events.max(1);
    conn.batch_execute(&format!(
        "{with}INSERT INTO events (at, kind, user_id, client, actor, ip, user_agent, detail) \
         SELECT {first} + CAST(i AS BIGINT) * {step}, \
             CASE i % 20 WHEN 0 THEN 'login_failed' WHEN 1 THEN 'login_failed' \
                 WHEN 2 THEN 'login_failed' WHEN 3 THEN 'login_failed' \
                 WHEN 4 THEN 'throttled' WHEN 5 THEN 'throttled' \
                 WHEN 6 THEN 'revoked' WHEN 7 THEN 'revoked' WHEN 8 THEN 'logout' \
                 WHEN 9 THEN 'password_changed' WHEN 10 THEN 'user_updated' \
                 WHEN 11 THEN 'two_factor_enabled' ELSE 'login' END, \
             i % {users} + 2, 'app-' || (i % 24), 'self', '192.0.2.' || (i % 250), \
             'Mozilla/5.0 (X11; Linux x86_64) bench/' || (i % 7), NULL {from}"
    ))?;
    println!("  {events} events: {:.1} s", timed.elapsed().as_secs_f64());
    let timed = Instant::now();
    if postgres {
        conn.batch_execute("VACUUM ANALYZE")?;
    } else {
        conn.batch_execute("ANALYZE")?;
    }
    println!("  analysed in {:.1} s", timed.elapsed().as_secs_f64());
    Ok(())
}

// ---------------------------------------------------------------- measuring

/// A console session's cookie, as a browser keeps it.
struct Browser {
    http: reqwest::Client,
    base: String,
    cookie: Option<String>,
}

impl Browser {
    async fn send(&mut self, request: reqwest::RequestBuilder) -> Result<reqwest::Response> {
        let request = match &self.cookie {
            Some(cookie) => request.header(COOKIE, cookie),
            None => request,
        };
        let response = request.send().await?;
        if let Some(set) = response.headers().get(SET_COOKIE) {
            let pair = set.to_str()?.split(';').next().unwrap_or_default();
            self.cookie = Some(pair.to_owned());
        }
        Ok(response)
    }

    async fn get(&mut self, path: &str) -> Result<reqwest::Response> {
        let request = self.http.get(format!("{}{path}", self.base));
        self.send(request).await
    }
}

async fn measure(address: SocketAddr, requests: usize) -> Result<()> {
    let mut browser = Browser {
        http: reqwest::Client::builder()
            .redirect(Policy::none())
            .build()?,
        base: format!("http://{address}"),
        cookie: None,
    };
    let form = browser.get("/console/login").await?.text().await?;
    let csrf = form
        .split("name=\"csrf_token\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .ok_or("no CSRF token on the sign-in page")?
        .to_owned();
    let request = browser
        .http
        .post(format!("{}/console/login", browser.base))
        .form(&[
            ("csrf_token", csrf.as_str()),
            ("username", ADMIN),
            ("password", PASSWORD),
        ]);
    let signed_in = browser.send(request).await?;
    let landing = signed_in.headers().get(LOCATION).cloned();
    if signed_in.status() != StatusCode::SEE_OTHER {
        return Err(format!("sign-in answered {}", signed_in.status()).into());
    }
    println!(
        "  signed in; landing {}",
        landing
            .as_ref()
            .and_then(|l| l.to_str().ok())
            .unwrap_or("?")
    );

    let (first, size) = load_dashboard(&mut browser).await?;
    let mut times = Vec::with_capacity(requests);
    for _ in 0..requests {
        times.push(load_dashboard(&mut browser).await?.0);
    }
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let p95 = times[((times.len() as f64 * 0.95).ceil() as usize).clamp(1, times.len()) - 1];
    println!(
        "  GET /console/ ({size} bytes): first {:.1} ms; then {} loads: min {:.1} ms, median {:.1} ms, p95 {:.1} ms",
        ms(first),
        times.len(),
        ms(times[0]),
        ms(times[times.len() / 2]),
        ms(p95),
    );
    Ok(())
}

/// One load of the dashboard, timed to the last byte of its page, and
/// the page's size.
async fn load_dashboard(browser: &mut Browser) -> Result<(Duration, usize)> {
    let request = browser.http.get(format!("{}/console/", browser.base));
    let started = Instant::now();
    let response = browser.send(request).await?;
    let status = response.status();
    let body = response.text().await?;
    let elapsed = started.elapsed();
    if status != StatusCode::OK || !body.contains("<h1>Dashboard</h1>") {
        return Err(format!("GET /console/ answered {status}").into());
    }
    if let Some(file) = std::env::var_os("DASHBOARD_PAGE") {
        fs::write(file, &body)?;
    }
    Ok((elapsed, body.len()))
}

// --------------------------------------------------------------- the server

/// The server child process; killed when dropped, on every path out.
struct Server {
    child: Child,
    address: SocketAddr,
}

impl Server {
    fn start(database_url: &str, log_path: &Path) -> Result<Self> {
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let address = SocketAddr::from(([127, 0, 0, 1], port));
        let log = fs::File::create(log_path)?;
        let child = Command::new(env!("CARGO_BIN_EXE_multitoken"))
            .arg("serve")
            .env("DATABASE_URL", database_url)
            .env("MULTITOKEN_BIND", address.to_string())
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()?;
        let mut server = Server { child, address };
        let started = Instant::now();
        loop {
            if let Some(status) = server.child.try_wait()? {
                let log = fs::read_to_string(log_path).unwrap_or_default();
                return Err(format!("the server exited with {status}: {log}").into());
            }
            if std::net::TcpStream::connect(address).is_ok() {
                return Ok(server);
            }
            if started.elapsed() > Duration::from_secs(30) {
                return Err("the server did not listen within 30 s".into());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
