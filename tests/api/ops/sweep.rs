//! The background sweep: expired tokens a day after they expired, and the
//! login throttle's closed windows, deleted in small batches.

use crate::helpers::on_both_backends;
use crate::helpers::{insert_token_row, Backend, TestApp};
use diesel::prelude::*;
use multitoken::db::schema::{login_failures, tokens};
use multitoken::db::{self, AnyConnection};
use multitoken::domain::{ThrottleLimit, Timestamp};
use std::time::{Duration, Instant};

const DAY: Duration = Duration::from_secs(86_400);

fn remaining(conn: &mut AnyConnection) -> (Vec<String>, Vec<i64>) {
    let mut clients: Vec<String> = tokens::table
        .select(tokens::client)
        .load(conn)
        .expect("tokens");
    clients.sort();
    let mut windows: Vec<i64> = login_failures::table
        .select(login_failures::window_start)
        .load(conn)
        .expect("counts");
    windows.sort();
    (clients, windows)
}

#[on_both_backends]
async fn the_sweep_deletes_long_expired_tokens_and_closed_throttle_windows(backend: Backend) {
    let window = Duration::from_secs(600);
    let app = TestApp::spawn_with(backend, |s| {
        s.server.sweep_interval = Duration::from_millis(100);
        s.throttles.login_throttle = ThrottleLimit {
            attempts: 10,
            window,
        };
    })
    .await;
    let user = app.create_user("alice", "", false);
    let now = Timestamp::now();
    let mut conn = app.connection();
    insert_token_row(&mut conn, user, "long-gone", now.minus(DAY * 2));
    insert_token_row(&mut conn, user, "just-expired", now.minus(DAY / 2));
    insert_token_row(&mut conn, user, "live", now.plus(DAY));
    let window_ms = window.as_millis() as i64;
    let closed = now.minus(window * 2).millis();
    let open = now.minus(window / 2).millis();
    db::throttle::count_attempt(&mut conn, "addr:198.51.100.1", closed, window_ms).expect("count");
    db::throttle::count_attempt(&mut conn, "addr:198.51.100.2", open, window_ms).expect("count");
    let expected = (
        vec!["just-expired".to_owned(), "live".to_owned()],
        vec![open],
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while remaining(&mut conn) != expected && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(remaining(&mut conn), expected);
}
