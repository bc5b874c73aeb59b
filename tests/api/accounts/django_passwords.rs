//! Users whose password hash Django wrote (as `import-django` keeps them):
//! they sign in with their password, and that first sign-in replaces the
//! hash with ours in the write that issues the token.

use crate::helpers::on_both_backends;
use crate::helpers::throttle;
use crate::helpers::{Backend, TestApp};
use diesel::prelude::*;
use multitoken::db::schema::users;
use reqwest::StatusCode;

/// `make_password(DJANGO_PASSWORD, hasher="pbkdf2_sha256")` at Django 1.x's
/// 20,000 rounds, a cheap one of the vectors in `domain::django_password`.
const DJANGO_HASH: &str =
    "pbkdf2_sha256$20000$oldsalt1234$xQq5vaRSoCEFh+tbSU3sG1FPtqhIviWTPJorq7ZquSg=";
const DJANGO_PASSWORD: &str = "correct horse é";

fn set_hash(app: &TestApp, user_id: i64, hash: &str) {
    diesel::update(users::table.find(user_id))
        .set(users::password_hash.eq(hash))
        .execute(&mut app.connection())
        .expect("set hash");
}

fn hash_of(app: &TestApp, user_id: i64) -> String {
    app.read(users::table.find(user_id).select(users::password_hash))
}

#[on_both_backends]
async fn a_django_hash_signs_in_once_and_is_then_our_argon2id(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let alice = app.create_user("alice", "", false);
    set_hash(&app, alice, DJANGO_HASH);
    let key = app.login_as("alice", DJANGO_PASSWORD, "web").await;
    assert_eq!(app.whoami_status(&key).await, StatusCode::OK);
    let ours = hash_of(&app, alice);
    assert!(
        ours.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
        "{ours}"
    );
    // The new hash is of the same password, and the old one is gone.
    app.login_as("alice", DJANGO_PASSWORD, "phone").await;
    assert_eq!(hash_of(&app, alice), ours, "rehashed only once");
}

#[on_both_backends]
async fn a_wrong_password_leaves_the_django_hash_in_place(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let alice = app.create_user("alice", "", false);
    set_hash(&app, alice, DJANGO_HASH);
    let response = app.post_login("alice", "correct horse e", "web").await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(hash_of(&app, alice), DJANGO_HASH);
}

#[on_both_backends]
async fn an_unusable_django_password_never_signs_in(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let alice = app.create_user("alice", "", false);
    let unusable = "!abvKlYvBBvZxbRJQYEyczrYdhsFUFRc8znsUJE6k";
    set_hash(&app, alice, unusable);
    for password in ["", unusable, "abvKlYvBBvZxbRJQYEyczrYdhsFUFRc8znsUJE6k"] {
        let response = app.post_login("alice", password, "web").await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{password}");
    }
    assert_eq!(hash_of(&app, alice), unusable);
}

#[on_both_backends]
async fn a_console_sign_in_also_replaces_the_django_hash(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.create_user("root", "", true);
    set_hash(&app, admin, DJANGO_HASH);
    let mut browser = crate::helpers::console::Console::new(&app);
    let response = browser.sign_in("root", DJANGO_PASSWORD).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert!(hash_of(&app, admin).starts_with("$argon2id$"));
}

/// The bounds hold at verification too, for hashes that reached the table
/// some other way than the import (M1 of the third review: before, the
/// argon2 and scrypt ones aborted the process, bcrypt 31 and pbkdf2
/// `2^32-1` held a hashing thread for hours): each is checked as an
/// unusable password is, against the dummy hash, in the time of any failure.
#[on_both_backends]
async fn a_stored_hash_over_the_bounds_fails_at_once_and_the_server_stays(backend: Backend) {
    let app = TestApp::spawn_with(backend, |settings| {
        settings.throttles.login_throttle = throttle("100/15m");
        // One hashing thread: a hash that started would hold every login.
        settings.server.password_hash_threads = Some(1);
    })
    .await;
    let victim = app.create_user("victim", "", false);
    let mut over = crate::helpers::django::over_the_bounds();
    // Ours are bounded the same way when read back.
    over.push((
        "ours",
        "$argon2id$v=19$m=4294967295,t=1,p=1$c2FsdHNhbHQ$AAAAAAAAAAAAAAAAAAAAAA".into(),
    ));
    for (name, hash) in &over {
        set_hash(&app, victim, hash);
        for password in ["anything", ""] {
            let started = std::time::Instant::now();
            let response = app.post_login("victim", password, "web").await;
            let status = response.status();
            assert!(
                status == StatusCode::BAD_REQUEST,
                "{name} {password:?}: {status}"
            );
            assert!(
                started.elapsed() < std::time::Duration::from_secs(10),
                "{name}: {:?}",
                started.elapsed()
            );
        }
        assert_eq!(hash_of(&app, victim), *hash, "{name}: left as it was");
    }
    app.create_user("alice", "", false);
    app.login("alice", "web").await;
}
