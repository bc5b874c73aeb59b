//! A login for a user who does not exist costs the same as one with a wrong
//! password (argon2 runs against a dummy hash), so response times do not
//! tell which usernames exist. Medians of interleaved runs, generous bounds.

use crate::helpers::on_both_backends;
use crate::helpers::throttle;
use crate::helpers::{Backend, TestApp};
use reqwest::StatusCode;
use std::time::{Duration, Instant};

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

#[on_both_backends]
async fn unknown_users_and_wrong_passwords_take_the_same_time(backend: Backend) {
    let app = TestApp::spawn_with(backend, |s| {
        s.throttles.login_throttle = throttle("1000/1m")
    })
    .await;
    app.create_user("alice", "", false);
    let (mut unknown, mut wrong) = (Vec::new(), Vec::new());
    for round in 0..15 {
        for (username, samples) in [("nobody", &mut unknown), ("alice", &mut wrong)] {
            let started = Instant::now();
            let response = app
                .post_login(username, &format!("wrong-password-{round}"), "web")
                .await;
            samples.push(started.elapsed());
            assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        }
    }
    let (unknown, wrong) = (median(unknown), median(wrong));
    let ratio = unknown.as_secs_f64() / wrong.as_secs_f64();
    eprintln!("median login: unknown user {unknown:?}, wrong password {wrong:?}, ratio {ratio:.2}");
    assert!(
        (0.5..=2.0).contains(&ratio),
        "unknown {unknown:?} vs wrong {wrong:?}"
    );
}
