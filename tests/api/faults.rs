//! Database faults: a PostgreSQL server that goes away and comes back, a
//! SQLite file held locked by another process. The service answers 503 JSON
//! quickly, stays alive, and recovers without a restart.

use crate::helpers::{assert_json, postgres_admin_url, Backend, TestApp};
use diesel::connection::SimpleConnection;
use diesel::{Connection, QueryableByName, RunQueryDsl, SqliteConnection};
use multitoken::db::Database;
use reqwest::{Response, StatusCode, Url};
use serde_json::json;
use std::time::{Duration, Instant};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

const UNAVAILABLE: &str = "Service temporarily unavailable, try again later.";

/// A TCP proxy in front of the database that can be cut (every connection
/// through it closed, new ones closed as soon as accepted) and restored.
struct DbProxy {
    port: u16,
    up: watch::Sender<bool>,
}

impl DbProxy {
    /// Runs on a thread of its own: the application's start-up (migrations)
    /// blocks the test's thread while it connects through the proxy.
    fn start(upstream: String) -> Self {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind proxy");
        listener.set_nonblocking(true).expect("non-blocking");
        let port = listener.local_addr().expect("proxy address").port();
        let (up, _) = watch::channel(true);
        let watcher = up.subscribe();
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
                            let upstream = upstream.clone();
                            tokio::task::spawn_local(async move {
                                let Ok(mut server) = TcpStream::connect(upstream).await else {
                                    return;
                                };
                                tokio::select! {
                                    _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                                    _ = watcher.wait_for(|up| !*up) => {}
                                }
                            });
                        }
                    })
                    .await;
            });
        });
        DbProxy { port, up }
    }

    fn cut(&self) {
        self.up.send_replace(false);
    }

    fn restore(&self) {
        self.up.send_replace(true);
    }
}

async fn assert_unavailable(response: Response) {
    assert_eq!(
        response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok()),
        Some("1")
    );
    assert_json(
        response,
        StatusCode::SERVICE_UNAVAILABLE,
        json!({ "detail": UNAVAILABLE }),
    )
    .await;
}

#[actix_web::test]
#[cfg_attr(not(postgres_tests), ignore = "TEST_DATABASE_URL is not set")]
async fn a_cut_postgresql_gives_quick_503s_and_recovers_without_a_restart() {
    let direct = Url::parse(&postgres_admin_url().expect("url")).expect("a URL");
    let upstream = format!(
        "{}:{}",
        direct.host_str().unwrap_or("127.0.0.1"),
        direct.port().unwrap_or(5432)
    );
    let proxy = DbProxy::start(upstream);
    let app = TestApp::spawn_with(Backend::Postgres, |settings| {
        let Database::Postgres { url } = &settings.database_url else {
            panic!("a PostgreSQL test database");
        };
        let mut proxied = Url::parse(url).expect("a URL");
        proxied.set_host(Some("127.0.0.1")).expect("host");
        proxied.set_port(Some(proxy.port)).expect("port");
        settings.database_url = Database::Postgres {
            url: proxied.to_string(),
        };
    })
    .await;
    app.create_user("alice", "", false);
    let key = app.login("alice", "web").await;

    proxy.cut();
    {
        let started = Instant::now();
        assert_unavailable(app.whoami(&key).await).await;
        let whoami_took = started.elapsed();
        let started = Instant::now();
        assert_unavailable(
            app.http
                .get(app.url("/readyz"))
                .send()
                .await
                .expect("readyz"),
        )
        .await;
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
        let health = app
            .http
            .get(app.url("/healthz"))
            .send()
            .await
            .expect("healthz");
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
    let ready = app
        .http
        .get(app.url("/readyz"))
        .send()
        .await
        .expect("readyz");
    assert_eq!(ready.status(), StatusCode::OK);
    app.login("alice", "ios").await;
}

#[derive(QueryableByName)]
struct IntegrityCheck {
    #[diesel(sql_type = diesel::sql_types::Text)]
    integrity_check: String,
}

#[actix_web::test]
async fn a_locked_sqlite_file_gives_503_after_the_busy_timeout_then_works_again() {
    let app = TestApp::spawn_with(Backend::Sqlite, |settings| {
        settings.sqlite_busy_timeout = Duration::from_millis(300);
    })
    .await;
    app.create_user("alice", "", false);
    let key = app.login("alice", "web").await;
    let mut other_process = SqliteConnection::establish(&app.db.url()).expect("open");
    other_process
        .batch_execute("PRAGMA busy_timeout = 0; BEGIN IMMEDIATE; DELETE FROM tokens WHERE 0;")
        .expect("take the write lock");

    let started = Instant::now();
    assert_unavailable(
        app.post_login("alice", crate::helpers::PASSWORD, "ios")
            .await,
    )
    .await;
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "answered before the busy timeout: {:?}",
        started.elapsed()
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
