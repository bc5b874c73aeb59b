//! Usernames are NFKC-normalised before they are validated, stored and
//! compared, as Django does: look-alikes collide with the name they
//! imitate, decomposed letters are accepted, invisible fillers are not, and
//! keys stored before normalisation are brought up to date at migration.

use crate::helpers::mail::NEW_PASSWORD;
use crate::helpers::on_both_backends;
use crate::helpers::{assert_bad_request, Backend, TestApp, PASSWORD};
use diesel::prelude::*;
use multitoken::db::schema::users;
use multitoken::db::users::{insert, NewUser};
use multitoken::domain::Password;
use multitoken::service::shared::passwords::hash_blocking;
use reqwest::StatusCode;
use serde_json::{json, Value};

const TAKEN: &str = "A user with that username already exists.";
const INVALID: &str =
    "Enter a valid username. This value may contain only letters, numbers, and @/./+/-/_ characters.";

async fn register(app: &TestApp, username: &str) -> reqwest::Response {
    app.register(json!({"username": username, "password": NEW_PASSWORD}))
        .await
}

#[on_both_backends]
async fn look_alikes_of_a_taken_name_are_taken_and_sign_in_as_the_name_they_imitate(
    backend: Backend,
) {
    let app = TestApp::spawn(backend).await;
    assert_eq!(register(&app, "root").await.status(), StatusCode::CREATED);
    assert_eq!(register(&app, "root2").await.status(), StatusCode::CREATED);
    for look_alike in ["ｒｏｏｔ", "𝐫𝐨𝐨𝐭", "ＲＯＯＴ", "root²", "𝟚root"] {
        let response = register(&app, look_alike).await;
        if look_alike == "𝟚root" {
            // Normalised to a name nobody has: accepted, in its plain form.
            assert_eq!(response.status(), StatusCode::CREATED);
            let body: Value = response.json().await.expect("json");
            assert_eq!(body["username"], "2root");
            continue;
        }
        assert_bad_request(response, json!({"username": [TAKEN]})).await;
    }
    let key = app.login_as("ｒｏｏｔ", NEW_PASSWORD, "web").await;
    let me: Value = app.whoami(&key).await.json().await.expect("json");
    assert_eq!(me["username"], "root");
}

#[on_both_backends]
async fn a_decomposed_name_is_accepted_and_stored_composed(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let response = register(&app, "Rene\u{301}e").await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["username"], "Ren\u{e9}e");
    for typed in ["Ren\u{e9}e", "rene\u{301}e", "REN\u{c9}E"] {
        app.login_as(typed, NEW_PASSWORD, "web").await;
    }
    assert_bad_request(
        register(&app, "ren\u{e9}e").await,
        json!({"username": [TAKEN]}),
    )
    .await;
}

#[on_both_backends]
async fn invisible_and_blank_looking_names_are_refused(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    for name in [
        "\u{3164}",
        "root\u{3164}",
        "\u{FFA0}\u{FFA0}",
        "ro\u{200B}ot",
        "root\u{FE0F}",
    ] {
        assert_bad_request(register(&app, name).await, json!({"username": [INVALID]})).await;
    }
    let created = app.cli(
        &["user", "create", "root\u{3164}", "--password-stdin"],
        &format!("{NEW_PASSWORD}\n"),
    );
    assert_eq!(created.status.code(), Some(1), "{created:?}");
}

/// A row as an older version stored it: the name as typed, keyed by its
/// lower case only.
fn insert_legacy(app: &TestApp, username: &str) -> i64 {
    let hash = hash_blocking(&Password::new(PASSWORD.into())).expect("hash");
    let key = username.to_lowercase();
    insert(
        &mut app.connection(),
        &NewUser {
            username,
            username_key: &key,
            password_hash: &hash,
            email: "",
            is_active: true,
            is_admin: false,
            is_service: false,
            created_at: 0,
        },
    )
    .expect("insert a legacy row")
    .id
}

fn key_of(app: &TestApp, id: i64) -> String {
    app.read(users::table.find(id).select(users::username_key))
}

#[on_both_backends]
async fn keys_made_before_normalisation_are_rekeyed_at_migration_unless_they_clash(
    backend: Backend,
) {
    let app = TestApp::spawn(backend).await;
    let root = app.create_user("root", "", false);
    let zoe = insert_legacy(&app, "Ｚｏe\u{308}");
    let imitation = insert_legacy(&app, "ｒｏｏｔ");
    let migrated = app.cli(&["migrate", "--log", "info"], "");
    assert!(migrated.status.success(), "{migrated:?}");
    let log = String::from_utf8_lossy(&migrated.stderr);
    assert!(log.contains("re-keyed 1 username(s)"), "{log}");
    assert!(
        log.contains(&format!(
            "the username of user {imitation} is that of user {root} once NFKC-normalised"
        )),
        "{log}"
    );
    assert_eq!(key_of(&app, zoe), "zo\u{eb}");
    assert_eq!(
        key_of(&app, imitation),
        "ｒｏｏｔ",
        "kept: root holds the new key"
    );
    // The re-keyed user signs in by any form of the name, which is now taken.
    for typed in ["zo\u{eb}", "Ｚｏe\u{308}", "ZOË"] {
        app.login_as(typed, PASSWORD, "web").await;
    }
    assert_bad_request(register(&app, "zoë").await, json!({"username": [TAKEN]})).await;
    let me: Value = app
        .whoami(&app.login_as("zoë", PASSWORD, "ios").await)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(
        me["username"], "Ｚｏe\u{308}",
        "the name itself is left as it was"
    );
    // Running it again changes nothing and says the clash again.
    let again = app.cli(&["migrate", "--log", "info"], "");
    let log = String::from_utf8_lossy(&again.stderr);
    assert!(!log.contains("re-keyed"), "{log}");
    assert!(log.contains("once NFKC-normalised"), "{log}");
}
