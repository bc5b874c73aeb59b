//! The admin guards: no admin deactivates or demotes themself, and nobody
//! the last active admin, by the admin API (token or console session) or
//! the command line, even when two such changes race.

use crate::helpers::console::Console;
use crate::helpers::on_both_backends;
use crate::helpers::{assert_bad_request, assert_failed_with, Backend, Sent, TestApp};
use diesel::connection::SimpleConnection;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::time::Duration;

const SELF_DEACTIVATE: &str = "You cannot deactivate your own account.";
const SELF_DEMOTE: &str = "You cannot remove your own admin rights.";
const LAST_DEACTIVATE: &str = "You cannot deactivate the last active admin.";
const LAST_DEMOTE: &str = "You cannot remove the admin rights of the last active admin.";

async fn user(app: &TestApp, key: &str, id: i64) -> Value {
    app.admin_get(&format!("/admin/users/{id}"), key)
        .await
        .json()
        .await
        .expect("json")
}

#[on_both_backends]
async fn an_admin_cannot_deactivate_or_demote_themself(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let root = app.create_user("root", "root@example.com", true);
    let key = app.login("root", "web").await;
    // Another admin exists, so this is about oneself, not the last admin.
    app.create_user("second", "", true);
    for (body, expected) in [
        (
            json!({"is_active": false}),
            json!({"is_active": [SELF_DEACTIVATE]}),
        ),
        (
            json!({"is_admin": false}),
            json!({"is_admin": [SELF_DEMOTE]}),
        ),
        (
            json!({"is_active": false, "is_admin": false, "email": "new@example.com"}),
            json!({"is_active": [SELF_DEACTIVATE], "is_admin": [SELF_DEMOTE]}),
        ),
    ] {
        assert_bad_request(app.admin_patch(root, &key, body).await, expected).await;
    }
    let unchanged = user(&app, &key, root).await;
    assert_eq!(unchanged["is_active"], true);
    assert_eq!(unchanged["is_admin"], true);
    assert_eq!(
        unchanged["email"], "root@example.com",
        "nothing was applied"
    );
    // Setting what already holds, or anything else, is no removal.
    let response = app
        .admin_patch(
            root,
            &key,
            json!({"is_active": true, "is_admin": true, "email": "r@example.com"}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(app.whoami_status(&key).await, StatusCode::OK);
}

#[on_both_backends]
async fn an_admin_signed_in_to_the_console_cannot_demote_themself(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let root = app.create_user("root", "", true);
    app.create_user("second", "", true);
    let mut console = Console::signed_in(&app, "root").await;
    let csrf = console.csrf("/console/users").await;
    let response = app
        .request(Method::PATCH, &format!("/admin/users/{root}"))
        .header("Cookie", console.cookie.clone().expect("cookie"))
        .header("X-CSRF-Token", csrf)
        .json(&json!({"is_admin": false}))
        .sent()
        .await;
    assert_bad_request(response, json!({"is_admin": [SELF_DEMOTE]})).await;
    assert_eq!(
        console.get("/console/users").await.status(),
        StatusCode::OK,
        "still an admin, still signed in"
    );
}

/// Another connection demotes root and holds its transaction open, as the
/// other admin's concurrent demotion of root would once past its own check.
/// Root's demotion of that other admin, the only one left, must wait for it,
/// see it, and be refused, instead of leaving no admin at all.
#[on_both_backends]
async fn a_change_that_would_leave_no_active_admin_waits_for_the_one_in_flight_and_is_refused(
    backend: Backend,
) {
    let app = TestApp::spawn(backend).await;
    let root = app.create_user("root", "", true);
    let second = app.create_user("second", "", true);
    let key = app.login("root", "web").await;
    let mut conn = app.connection();
    let begin = match backend {
        Backend::Sqlite => "BEGIN IMMEDIATE",
        Backend::Postgres => "BEGIN",
    };
    let (started, in_flight) = std::sync::mpsc::channel();
    let holder = std::thread::spawn(move || {
        conn.batch_execute(&format!(
            "{begin}; UPDATE users SET is_admin = false WHERE id = {root}"
        ))
        .expect("demote root, uncommitted");
        started.send(()).expect("signal");
        std::thread::sleep(Duration::from_millis(800));
        conn.batch_execute("COMMIT").expect("commit");
    });
    in_flight.recv().expect("the demotion is in flight");
    let response = app
        .admin_patch(second, &key, json!({"is_admin": false}))
        .await;
    holder.join().expect("holder");
    assert_bad_request(response, json!({"is_admin": [LAST_DEMOTE]})).await;
    assert_eq!(active_admins(&app), 1);
}

/// How many users are active admins, read from the database.
fn active_admins(app: &TestApp) -> i64 {
    use diesel::prelude::*;
    use multitoken::db::schema::users;
    app.read(
        users::table
            .filter(users::is_admin.eq(true))
            .filter(users::is_active.eq(true))
            .count(),
    )
}

#[on_both_backends]
async fn two_admins_demoting_each_other_at_once_leave_one_admin(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let a = app.create_user("ann", "", true);
    let b = app.create_user("ben", "", true);
    let ann = app.login("ann", "web").await;
    let ben = app.login("ben", "web").await;
    for round in 0..5 {
        let (by_ann, by_ben) = tokio::join!(
            app.admin_patch(b, &ann, json!({"is_admin": false})),
            app.admin_patch(a, &ben, json!({"is_admin": false})),
        );
        let statuses = [by_ann.status(), by_ben.status()];
        assert_eq!(
            statuses.iter().filter(|s| **s == StatusCode::OK).count(),
            1,
            "round {round}: exactly one demotion holds, {statuses:?}"
        );
        for refused in [by_ann, by_ben]
            .into_iter()
            .filter(|r| r.status() != StatusCode::OK)
        {
            let status = refused.status();
            let body: Value = refused.json().await.expect("json");
            assert!(
                (status == StatusCode::BAD_REQUEST && body == json!({"is_admin": [LAST_DEMOTE]}))
                    || (status == StatusCode::FORBIDDEN),
                "round {round}: {status} {body}"
            );
        }
        assert_eq!(active_admins(&app), 1, "round {round}");
        // Make both admins again for the next round, through the database.
        let mut conn = app.connection();
        conn.batch_execute("UPDATE users SET is_admin = true")
            .expect("promote both");
    }
}

#[on_both_backends]
async fn the_cli_cannot_deactivate_the_last_active_admin(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_user("root", "", true);
    app.create_user("alice", "", false);
    let key = app.login("root", "web").await;
    let refused = app.cli(&["user", "deactivate", "root"], "");
    assert_failed_with(&refused, &format!("is_active: {LAST_DEACTIVATE}"));
    assert_eq!(app.whoami_status(&key).await, StatusCode::OK, "not revoked");

    // An inactive admin does not count as one that is left.
    app.create_user("old", "", true);
    assert!(app.cli(&["user", "deactivate", "old"], "").status.success());
    let refused = app.cli(&["user", "deactivate", "root"], "");
    assert_eq!(refused.status.code(), Some(1), "{refused:?}");

    // With another active admin, either may go; a user who is no admin always.
    app.create_user("second", "", true);
    let done = app.cli(&["user", "deactivate", "root"], "");
    assert!(done.status.success(), "{done:?}");
    assert!(app
        .cli(&["user", "deactivate", "alice"], "")
        .status
        .success());
    let refused = app.cli(&["user", "deactivate", "second"], "");
    assert_eq!(refused.status.code(), Some(1), "{refused:?}");
}
