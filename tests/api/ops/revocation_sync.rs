//! Read-your-revocation across instances on one PostgreSQL database (the
//! contract's "Revocation reaches everyone"): once the revoking request has
//! answered, no other instance accepts the key on its very next request,
//! whichever way it was revoked; and an instance that cannot prove it is
//! current (paused by SIGSTOP, or its link to the database stalled) never
//! serves a revoked key from its cache.

use crate::helpers::{Backend, Sent, ServerProcess, TestApp, PASSWORD};
use crate::ops::faults::{through_proxy, upstream, DbProxy};
use futures_util::future::join_all;
use multitoken::config::Settings;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// Long-lived cache entries, so that only the revocation's own path can
/// make another instance refuse; a short rotation grace for reuse trials.
fn cached_long(settings: &mut Settings) {
    settings.token_cache.token_cache = true;
    settings.token_cache.token_cache_ttl = Duration::from_secs(600);
    settings.tokens.rotation_grace = ROTATION_GRACE;
}

const ROTATION_GRACE: Duration = Duration::from_millis(100);
const OTHER_PASSWORD: &str = "another-horse-battery";

/// The ways a key is revoked, each tried many times.
#[derive(Debug, Clone, Copy)]
enum Revoked {
    Logout,
    /// `DELETE /tokens/web` with another device's key.
    Device,
    /// `DELETE /admin/users/{id}/tokens/web`.
    Admin,
    /// `/password/change` on another device, which revokes every other key.
    PasswordChange,
    /// `POST /revoke` with the key.
    RevokeEndpoint,
    /// A rotated-away key used after its grace revokes the device (whose
    /// current key is the one cached).
    RotationReuse,
}

const EVERY_PATH: [Revoked; 6] = [
    Revoked::Logout,
    Revoked::Device,
    Revoked::Admin,
    Revoked::PasswordChange,
    Revoked::RevokeEndpoint,
    Revoked::RotationReuse,
];

/// One path's trials, on one user of its own: the instances by base URL.
struct Trials<'a> {
    /// A client of its own that keeps no idle connection: under load, a
    /// kept one may be closed by the server just as it is reused.
    http: reqwest::Client,
    how: Revoked,
    user: String,
    user_id: i64,
    admin: &'a str,
    password: &'static str,
}

impl Trials<'_> {
    fn on(&self, base: &str, method: Method, path: &str, key: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, format!("{base}{path}"))
            .header("Authorization", format!("Token {key}"))
    }

    async fn whoami(&self, base: &str, key: &str) -> StatusCode {
        self.on(base, Method::GET, "/whoami", key)
            .sent()
            .await
            .status()
    }

    async fn login(&self, base: &str, client: &str) -> String {
        let body = json!({"username": self.user, "password": self.password, "client": client});
        let response = self
            .http
            .post(format!("{base}/login"))
            .json(&body)
            .sent()
            .await;
        assert_eq!(response.status(), StatusCode::OK, "{:?}: login", self.how);
        let body: Value = response.json().await.expect("json");
        body["auth_token"].as_str().expect("auth_token").to_owned()
    }

    /// The key the trial revokes, live: for a reuse, the device's new key
    /// after a rotation, and the old one to reuse after the grace.
    async fn key(&self, base: &str) -> (String, Option<String>) {
        let key = self.login(base, "web").await;
        if !matches!(self.how, Revoked::RotationReuse) {
            return (key, None);
        }
        let rotated = self
            .on(base, Method::POST, "/tokens/rotate", &key)
            .sent()
            .await;
        assert_eq!(rotated.status(), StatusCode::OK);
        let body: Value = rotated.json().await.expect("json");
        let new = body["auth_token"].as_str().expect("auth_token").to_owned();
        (new, Some(key))
    }

    /// Revokes `key` through `base`, asserting the answer.
    async fn revoke(&mut self, base: &str, key: &str, old: Option<String>) {
        let answered = match self.how {
            Revoked::Logout => self.on(base, Method::POST, "/logout", key).sent().await,
            Revoked::Device => {
                let other = self.login(base, "phone").await;
                self.on(base, Method::DELETE, "/tokens/web", &other)
                    .sent()
                    .await
            }
            Revoked::Admin => {
                let path = format!("/admin/users/{}/tokens/web", self.user_id);
                self.on(base, Method::DELETE, &path, self.admin)
                    .sent()
                    .await
            }
            Revoked::PasswordChange => {
                let other = self.login(base, "phone").await;
                let new = match self.password {
                    PASSWORD => OTHER_PASSWORD,
                    _ => PASSWORD,
                };
                let body = json!({"old_password": self.password, "new_password": new});
                let changed = self.on(base, Method::POST, "/password/change", &other);
                let changed = changed.json(&body).sent().await;
                self.password = new;
                changed
            }
            Revoked::RevokeEndpoint => {
                let revoke = self.http.post(format!("{base}/revoke"));
                revoke.form(&[("token", key)]).sent().await
            }
            Revoked::RotationReuse => {
                tokio::time::sleep(ROTATION_GRACE + Duration::from_millis(20)).await;
                let old = old.expect("the rotated-away key");
                self.on(base, Method::GET, "/whoami", &old).sent().await
            }
        };
        let status = answered.status();
        match self.how {
            Revoked::RotationReuse => assert_eq!(status, StatusCode::UNAUTHORIZED, "reuse"),
            how => assert!(status.is_success(), "{how:?}: {status}"),
        }
    }

    /// `count` trials, the revoking instance going round `instances`, each
    /// other instance having cached the key before and asked right after:
    /// how many of those asks accepted it.
    async fn run(mut self, instances: &[String], count: usize) -> usize {
        let mut accepted = 0;
        for trial in 0..count {
            let revoking = &instances[trial % instances.len()];
            let others: Vec<&String> = instances.iter().filter(|i| *i != revoking).collect();
            let (key, old) = self.key(revoking).await;
            for other in &others {
                for _ in 0..2 {
                    assert_eq!(self.whoami(other, &key).await, StatusCode::OK, "cached");
                }
            }
            self.revoke(revoking, &key, old).await;
            for other in &others {
                let status = self.whoami(other, &key).await;
                accepted += usize::from(status == StatusCode::OK);
                if status != StatusCode::OK {
                    assert_eq!(status, StatusCode::UNAUTHORIZED, "{:?}", self.how);
                }
            }
        }
        accepted
    }
}

/// Every path at once, each on a user of its own, `per_path` trials each.
async fn trials_on_every_path(app: &TestApp, instances: &[String], per_path: usize) {
    let admin = app.admin_key().await;
    let mut users = Vec::new();
    for how in EVERY_PATH {
        let user = format!("user{}", users.len());
        let user_id = app.create_user(&user, "", false);
        users.push((how, user, user_id));
    }
    let runs = users.into_iter().map(|(how, user, user_id)| {
        let http = reqwest::Client::builder()
            .pool_max_idle_per_host(0)
            .build()
            .expect("client");
        let trials = Trials {
            http,
            how,
            user,
            user_id,
            admin: &admin,
            password: PASSWORD,
        };
        async move { (how, trials.run(instances, per_path).await) }
    });
    let accepted = join_all(runs).await;
    eprintln!(
        "{} instances, {per_path} trials per path ({} in all): accepted by the next request on another instance: {accepted:?}",
        instances.len(),
        per_path * EVERY_PATH.len()
    );
    for (how, accepted) in accepted {
        assert_eq!(accepted, 0, "{how:?}: a revoked key was accepted");
    }
}

/// 300 trials (50 per path) on two instances.
#[actix_web::test]
#[cfg_attr(not(postgres_tests), ignore = "TEST_DATABASE_URL is not set")]
async fn on_two_instances_no_revoked_key_is_accepted_once_the_revocation_has_answered() {
    let a = TestApp::spawn_with(Backend::Postgres, cached_long).await;
    let b = a.spawn_on_same_database(cached_long);
    trials_on_every_path(&a, &[a.address.clone(), b], 50).await;
    let metrics = a.scrape().await;
    assert!(metric(&metrics, ACKNOWLEDGED) > 0, "{metrics}");
}

/// 204 trials (34 per path) on three instances, each checked on both others.
#[actix_web::test]
#[cfg_attr(not(postgres_tests), ignore = "TEST_DATABASE_URL is not set")]
async fn on_three_instances_no_revoked_key_is_accepted_once_the_revocation_has_answered() {
    let a = TestApp::spawn_with(Backend::Postgres, cached_long).await;
    let b = a.spawn_on_same_database(cached_long);
    let c = a.spawn_on_same_database(cached_long);
    trials_on_every_path(&a, &[a.address.clone(), b, c], 34).await;
}

fn signal(server: &ServerProcess, signal: &str) {
    let sent = std::process::Command::new("kill")
        .args([signal, &server.pid().to_string()])
        .status()
        .expect("run kill");
    assert!(sent.success(), "kill {signal}: {sent}");
}

/// A metric's value in a scrape, 0 if absent.
fn metric(scrape: &str, series: &str) -> u64 {
    scrape
        .lines()
        .find_map(|line| line.strip_prefix(series)?.trim().parse().ok())
        .unwrap_or(0)
}

const ACKNOWLEDGED: &str = "multitoken_revocation_acks_total{result=\"acknowledged\"}";
const LAGGARDS_SKIPPED: &str = "multitoken_revocation_acks_total{result=\"laggards_skipped\"}";

/// An instance paused by SIGSTOP, right after it cached a key or long
/// enough for its heartbeat to be stale, is resumed after the key was
/// revoked elsewhere: its very first request refuses the key.
#[actix_web::test]
#[cfg_attr(not(postgres_tests), ignore = "TEST_DATABASE_URL is not set")]
async fn a_paused_instance_refuses_a_key_revoked_meanwhile_on_its_first_request() {
    let a = TestApp::spawn_with(Backend::Postgres, cached_long).await;
    let paused = ServerProcess::start(
        &a.db.url(),
        &[
            ("TOKEN_CACHE", "on"),
            ("TOKEN_CACHE_TTL", "600s"),
            ("REVOCATION_ACK_TIMEOUT", "1s"),
        ],
    );
    a.create_user("alice", "", false);
    // Paused while its heartbeat is fresh (the revocation waits it out),
    // then paused for longer than REVOCATION_ACK_TIMEOUT (it is skipped).
    for (client, pause) in [
        ("web", Duration::ZERO),
        ("ios", Duration::from_millis(1500)),
    ] {
        let key = a.login("alice", client).await;
        let on_paused = || {
            a.http
                .get(paused.url("/whoami"))
                .header("Authorization", format!("Token {key}"))
        };
        for _ in 0..2 {
            assert_eq!(on_paused().sent().await.status(), StatusCode::OK);
        }
        let skipped = metric(&a.scrape().await, LAGGARDS_SKIPPED);
        signal(&paused, "-STOP");
        tokio::time::sleep(pause).await;
        let started = Instant::now();
        let logout = a.post_with_token("/logout", &key).await;
        let took = started.elapsed();
        assert_eq!(logout.status(), StatusCode::OK);
        let skipped = metric(&a.scrape().await, LAGGARDS_SKIPPED) - skipped;
        eprintln!("paused {pause:?} before: the logout took {took:?}");
        signal(&paused, "-CONT");
        assert_eq!(
            on_paused().sent().await.status(),
            StatusCode::UNAUTHORIZED,
            "{client}: the resumed instance's first request"
        );
        // Waited out while fresh, or skipped at once when already stale.
        assert_eq!(skipped, 1, "{client}: the paused instance was a laggard");
    }
}

/// An instance whose every connection to the database silently stalls
/// (its listener's too) never serves a key revoked elsewhere meanwhile:
/// 503 while the link is stalled, 401 once it is back.
#[actix_web::test]
#[cfg_attr(not(postgres_tests), ignore = "TEST_DATABASE_URL is not set")]
async fn an_instance_with_a_stalled_link_never_serves_a_key_revoked_elsewhere() {
    let a = TestApp::spawn_with(Backend::Postgres, cached_long).await;
    let proxy = DbProxy::start(upstream());
    let b = a.spawn_on_same_database(|settings| {
        cached_long(settings);
        through_proxy(settings, &proxy);
        settings.database.database_statement_timeout = Duration::from_secs(1);
    });
    a.create_user("alice", "", false);
    let key = a.login("alice", "web").await;
    let on_b = || {
        a.http
            .get(format!("{b}/whoami"))
            .header("Authorization", format!("Token {key}"))
    };
    for _ in 0..2 {
        assert_eq!(on_b().sent().await.status(), StatusCode::OK);
    }
    proxy.stall();
    assert_eq!(
        a.post_with_token("/logout", &key).await.status(),
        StatusCode::OK
    );
    let stalled = on_b().sent().await.status();
    assert_eq!(stalled, StatusCode::SERVICE_UNAVAILABLE, "B, stalled");
    proxy.resume();
    let resumed = Instant::now();
    loop {
        let status = on_b().sent().await.status();
        if status == StatusCode::UNAUTHORIZED {
            break;
        }
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "B, resumed");
        assert!(resumed.elapsed() < Duration::from_secs(10), "B recovers");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let metrics = a.scrape().await;
    assert_eq!(metric(&metrics, LAGGARDS_SKIPPED), 1, "{metrics}");
}
