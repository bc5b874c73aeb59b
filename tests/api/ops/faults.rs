//! Database faults: a PostgreSQL server that goes away and comes back, a
//! SQLite file held locked by another process. The service answers 503 JSON
//! quickly, stays alive, and recovers without a restart.

use crate::helpers::{assert_detail, assert_json, header, postgres_admin_url, Backend, TestApp};
use diesel::connection::SimpleConnection;
use diesel::{Connection, QueryableByName, RunQueryDsl, SqliteConnection};
use multitoken::config::Settings;
use multitoken::db::Database;
use reqwest::{Response, StatusCode, Url};
use serde_json::json;
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

const UNAVAILABLE: &str = "Service temporarily unavailable, try again later.";

/// A TCP proxy in front of the database that can be cut (every connection
/// through it closed, new ones closed as soon as accepted) and restored, or
/// stalled (connections kept open, nothing forwarded either way, as a link
/// that silently drops everything) and resumed.
pub(crate) struct DbProxy {
    pub(crate) port: u16,
    up: watch::Sender<bool>,
    forwarding: watch::Sender<bool>,
}

/// Copies bytes one way while `forwarding` is on; waits, holding them, while off.
async fn pump(
    mut from: impl AsyncRead + Unpin,
    mut to: impl AsyncWrite + Unpin,
    mut forwarding: watch::Receiver<bool>,
) {
    let mut buffer = vec![0u8; 16 * 1024];
    loop {
        if forwarding.wait_for(|on| *on).await.is_err() {
            return;
        }
        let read = match from.read(&mut buffer).await {
            Ok(0) | Err(_) => return,
            Ok(read) => read,
        };
        if forwarding.wait_for(|on| *on).await.is_err() {
            return;
        }
        if to.write_all(&buffer[..read]).await.is_err() {
            return;
        }
    }
}

impl DbProxy {
    /// Runs on a thread of its own: the application's start-up (migrations)
    /// blocks the test's thread while it connects through the proxy.
    pub(crate) fn start(upstream: String) -> Self {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind proxy");
        listener.set_nonblocking(true).expect("non-blocking");
        let port = listener.local_addr().expect("proxy address").port();
        let (up, _) = watch::channel(true);
        let watcher = up.subscribe();
        let (forwarding, _) = watch::channel(true);
        let forwarding_watcher = forwarding.subscribe();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("proxy runtime");
            runtime.block_on(async move {
                let listener = TcpListener::from_std(listener).expect("proxy listener");
                let local = tokio::task::LocalSet::new();
                local
                    .run_until(async move {
                        while let Ok((mut client, _)) = listener.accept().await {
                            if !*watcher.borrow() {
                                drop(client);
                                continue;
                            }
                            let mut watcher = watcher.clone();
                            let forwarding = forwarding_watcher.clone();
                            let upstream = upstream.clone();
                            tokio::task::spawn_local(async move {
                                let Ok(mut server) = TcpStream::connect(upstream).await else {
                                    return;
                                };
                                let (client_read, client_write) = client.split();
                                let (server_read, server_write) = server.split();
                                tokio::select! {
                                    _ = pump(client_read, server_write, forwarding.clone()) => {}
                                    _ = pump(server_read, client_write, forwarding) => {}
                                    _ = watcher.wait_for(|up| !*up) => {}
                                }
                            });
                        }
                    })
                    .await;
            });
        });
        DbProxy {
            port,
            up,
            forwarding,
        }
    }

    pub(crate) fn stall(&self) {
        self.forwarding.send_replace(false);
    }

    pub(crate) fn resume(&self) {
        self.forwarding.send_replace(true);
    }

    pub(crate) fn cut(&self) {
        self.up.send_replace(false);
    }

    pub(crate) fn restore(&self) {
        self.up.send_replace(true);
    }
}

/// The database's address, for a proxy in front of it.
pub(crate) fn upstream() -> String {
    let direct = Url::parse(&postgres_admin_url().expect("url")).expect("a URL");
    format!(
        "{}:{}",
        direct.host_str().unwrap_or("127.0.0.1"),
        direct.port().unwrap_or(5432)
    )
}

/// Points the settings' PostgreSQL URL at the proxy.
pub(crate) fn through_proxy(settings: &mut Settings, proxy: &DbProxy) {
    let Database::Postgres { url } = &settings.database.database_url else {
        panic!("a PostgreSQL test database");
    };
    let mut proxied = Url::parse(url).expect("a URL");
    proxied.set_host(Some("127.0.0.1")).expect("host");
    proxied.set_port(Some(proxy.port)).expect("port");
    settings.database.database_url = Database::Postgres {
        url: proxied.to_string(),
    };
}

/// A server whose PostgreSQL is reached through a proxy the test can cut
/// or stall (`configure` adds to its settings), and the key of `alice`,
/// logged in on `web` while the link is up.
async fn alice_through_a_proxy(
    configure: impl FnOnce(&mut Settings),
) -> (DbProxy, TestApp, String) {
    let proxy = DbProxy::start(upstream());
    let app = TestApp::spawn_with(Backend::Postgres, |settings| {
        through_proxy(settings, &proxy);
        configure(settings);
    })
    .await;
    app.create_user("alice", "", false);
    let key = app.login("alice", "web").await;
    (proxy, app, key)
}

async fn assert_unavailable(response: Response) {
    assert_eq!(header(&response, "retry-after"), Some("1"));
    assert_detail(response, StatusCode::SERVICE_UNAVAILABLE, UNAVAILABLE).await;
}

/// Logs `alice` in on `ios`, asserts the 503, and returns how long the
/// answer took (the tests bound it from either side).
async fn unavailable_login_takes(app: &TestApp) -> Duration {
    let started = Instant::now();
    assert_unavailable(
        app.post_login("alice", crate::helpers::PASSWORD, "ios")
            .await,
    )
    .await;
    started.elapsed()
}

#[actix_web::test]
#[cfg_attr(not(postgres_tests), ignore = "TEST_DATABASE_URL is not set")]
async fn a_cut_postgresql_gives_quick_503s_and_recovers_without_a_restart() {
    let (proxy, app, key) = alice_through_a_proxy(|_| {}).await;

    proxy.cut();
    {
        let started = Instant::now();
        assert_unavailable(app.whoami(&key).await).await;
        let whoami_took = started.elapsed();
        let started = Instant::now();
        assert_unavailable(app.get("/readyz").await).await;
        let readyz_took = started.elapsed();
        // Forward auth answers 503 too, never another status a proxy would turn into a 500.
        for method in [reqwest::Method::GET, reqwest::Method::POST] {
            let verify = app.with_token(method, "/auth/verify", &key);
            assert_unavailable(verify.send().await.expect("verify")).await;
        }
        // The pool waits POOL_TIMEOUT (2 s) at most; "well under 5 s".
        assert!(
            whoami_took < Duration::from_millis(4000) && readyz_took < Duration::from_millis(4000),
            "{whoami_took:?} {readyz_took:?}"
        );
        eprintln!("while cut: whoami answered in {whoami_took:?}, readyz in {readyz_took:?}");
        let health = app.get("/healthz").await;
        assert_json(health, StatusCode::OK, json!({"status": "ok"})).await;
    }

    proxy.restore();
    let restored = Instant::now();
    loop {
        let status = app.whoami_status(&key).await;
        if status == StatusCode::OK {
            break;
        }
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(
            restored.elapsed() < Duration::from_secs(4),
            "not recovered {:?} after the database came back",
            restored.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eprintln!(
        "recovered {:?} after the database came back",
        restored.elapsed()
    );
    let ready = app.get("/readyz").await;
    assert_eq!(ready.status(), StatusCode::OK);
    app.login("alice", "ios").await;
}

#[actix_web::test]
#[cfg_attr(not(postgres_tests), ignore = "TEST_DATABASE_URL is not set")]
async fn a_silently_stalled_link_gives_503s_within_a_bound_and_recovers() {
    let (proxy, app, key) = alice_through_a_proxy(|settings| {
        settings.database.database_statement_timeout = Duration::from_secs(1);
        settings.token_cache.token_cache = true;
    })
    .await;
    let bound = Duration::from_secs(1 + 2 + 1) + Duration::from_millis(1500);

    proxy.stall();
    let stalled = Instant::now();
    // A check the cache holds may be served until its listener notices
    // the silence (about 1.5 s); then it goes to the database like the rest.
    loop {
        let started = Instant::now();
        let response = app.whoami(&key).await;
        let took = started.elapsed();
        assert!(
            took < bound,
            "a request waited {took:?} on the stalled link"
        );
        if response.status() == StatusCode::OK {
            assert!(
                stalled.elapsed() < Duration::from_secs(3),
                "served from the cache {:?} into the stall",
                stalled.elapsed()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        }
        assert_unavailable(response).await;
        eprintln!(
            "stalled: 503 after {:?} (that request took {took:?})",
            stalled.elapsed()
        );
        break;
    }
    let took = unavailable_login_takes(&app).await;
    assert!(took < bound, "login took {took:?}");

    proxy.resume();
    let resumed = Instant::now();
    while app.whoami_status(&key).await != StatusCode::OK {
        assert!(
            resumed.elapsed() < Duration::from_secs(10),
            "not recovered {:?} after the link resumed",
            resumed.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eprintln!("recovered {:?} after the link resumed", resumed.elapsed());
    app.login("alice", "ios").await;
    app.scrape_with_line("multitoken_token_cache_listener_lost_total 1")
        .await;
}

#[derive(QueryableByName)]
struct IntegrityCheck {
    #[diesel(sql_type = diesel::sql_types::Text)]
    integrity_check: String,
}

#[actix_web::test]
async fn a_locked_sqlite_file_gives_503_after_the_busy_timeout_then_works_again() {
    let app = TestApp::spawn_with(Backend::Sqlite, |settings| {
        settings.database.sqlite_busy_timeout = Duration::from_millis(300);
    })
    .await;
    app.create_user("alice", "", false);
    let key = app.login("alice", "web").await;
    let mut other_process = SqliteConnection::establish(&app.db.url()).expect("open");
    other_process
        .batch_execute("PRAGMA busy_timeout = 0; BEGIN IMMEDIATE; DELETE FROM tokens WHERE 0;")
        .expect("take the write lock");

    let took = unavailable_login_takes(&app).await;
    assert!(
        took >= Duration::from_millis(300),
        "answered before the busy timeout: {took:?}"
    );
    // Reading goes on under WAL: token checks are not blocked by a writer.
    assert_eq!(app.whoami_status(&key).await, StatusCode::OK);

    other_process.batch_execute("COMMIT").expect("release");
    app.login("alice", "ios").await;
    let check: IntegrityCheck = diesel::sql_query("PRAGMA integrity_check")
        .get_result(&mut other_process)
        .expect("integrity check");
    assert_eq!(check.integrity_check, "ok");
}

/// A key of the current shape with a bad checksum is refused before any
/// database read: with the database cut, it still gets its 401 (and
/// `/revoke` its 200), while a key whose checksum holds gets the 503 of a
/// lookup that could not be made.
#[actix_web::test]
#[cfg_attr(not(postgres_tests), ignore = "TEST_DATABASE_URL is not set")]
async fn a_bad_checksum_is_refused_without_the_database() {
    use crate::auth::key_format::{flip_checksum, with_checksum};
    let (proxy, app, key) = alice_through_a_proxy(|_| {}).await;
    let flipped = flip_checksum(&key);
    let never_issued = with_checksum(&"Z".repeat(43));

    proxy.cut();
    crate::helpers::assert_unauthorized(app.whoami(&flipped).await, "Invalid token.").await;
    let verify = app.with_token(reqwest::Method::GET, "/auth/verify", &flipped);
    let verify = verify.send().await.expect("verify");
    assert_eq!(verify.status(), StatusCode::UNAUTHORIZED);
    let revoke = app.post_json("/revoke", json!({ "token": flipped })).await;
    assert_json(revoke, StatusCode::OK, json!({})).await;

    assert_unavailable(app.whoami(&key).await).await;
    assert_unavailable(app.whoami(&never_issued).await).await;
    assert_unavailable(
        app.post_json("/revoke", json!({ "token": never_issued }))
            .await,
    )
    .await;
    proxy.restore();
}
