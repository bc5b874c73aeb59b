//! The admin API: `/admin/users…`, for users with `is_admin` only.

use crate::helpers::on_both_backends;
use crate::helpers::{
    admin_device_fields, assert_bad_request, assert_detail, assert_json, assert_not_found,
    assert_unauthorized, clients_of, keys_of, Backend, Sent, TestApp, DENIED, PASSWORD,
};
use multitoken::domain::client_address::TrustedProxies;
use reqwest::{Method, Response, StatusCode};
use serde_json::{json, Value};

/// Asserts the shape of a user object and returns it with the timestamps
/// (checked to be RFC 3339 or null) replaced by `"<time>"`.
fn with_times_masked(mut user: Value) -> Value {
    let object = user.as_object_mut().expect("user object");
    for field in ["created_at", "last_login_at"] {
        if let Some(Value::String(time)) = object.get(field) {
            assert!(
                chrono::DateTime::parse_from_rfc3339(time).is_ok(),
                "{field}: {time}"
            );
            object.insert(field.into(), json!("<time>"));
        }
    }
    user
}

/// A user as the admin API shows it once its times are masked: active, its
/// address unverified, no service account, no second factor; `signed_in`
/// says whether it has a last login.
fn plain_user(
    id: impl Into<Value>,
    username: &str,
    email: &str,
    is_admin: bool,
    signed_in: bool,
) -> Value {
    json!({
        "id": id.into(),
        "username": username,
        "email": email,
        "email_verified": false,
        "is_active": true,
        "is_admin": is_admin,
        "is_service": false,
        "created_at": "<time>",
        "last_login_at": if signed_in { json!("<time>") } else { Value::Null },
        "two_factor": false,
    })
}

async fn body(response: Response) -> Value {
    response.json().await.expect("json body")
}

#[on_both_backends]
async fn anonymous_requests_are_unauthorized_and_non_admins_forbidden(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let bob = app.create_user("bob", "", false);
    let key = app.login("bob", "web").await;
    let routes = [
        (Method::GET, "/admin/users".to_owned()),
        (Method::POST, "/admin/users".to_owned()),
        (Method::GET, format!("/admin/users/{bob}")),
        (Method::PATCH, format!("/admin/users/{bob}")),
        (Method::GET, format!("/admin/users/{bob}/tokens")),
        (Method::DELETE, format!("/admin/users/{bob}/tokens")),
        (Method::DELETE, format!("/admin/users/{bob}/tokens/web")),
    ];
    for (method, path) in &routes {
        let anonymous = app.http.request(method.clone(), app.url(path)).sent().await;
        assert_unauthorized(anonymous, "Authentication credentials were not provided.").await;
        assert_detail(
            app.admin_request(method.clone(), path, &key, Some(json!({"is_admin": true})))
                .await,
            StatusCode::FORBIDDEN,
            DENIED,
        )
        .await;
    }
    assert_eq!(app.whoami_status(&key).await, StatusCode::OK);
    let me: Value = body(app.whoami(&key).await).await;
    assert_eq!(me["is_admin"], false, "bob did not make himself an admin");
}

#[on_both_backends]
async fn users_are_listed_a_page_at_a_time_with_absolute_links(backend: Backend) {
    let (app, key) = TestApp::spawn_with_admin_key(backend).await;
    app.create_users("user", 55);
    let first = body(app.admin_get("/admin/users", &key).await).await;
    assert_eq!(first["count"], 56);
    assert_eq!(first["previous"], Value::Null);
    assert_eq!(first["next"], json!(app.url("/admin/users?page=2")));
    let results = first["results"].as_array().expect("results");
    assert_eq!(results.len(), 50);
    assert_eq!(
        with_times_masked(results[0].clone()),
        plain_user(
            results[0]["id"].clone(),
            "root",
            "root@example.com",
            true,
            true
        )
    );
    assert_eq!(
        with_times_masked(results[1].clone()),
        plain_user(results[1]["id"].clone(), "user000", "", false, false)
    );
    assert!(results[1]["id"].is_i64());

    let second = body(
        app.admin_get("/admin/users/?search=USER0&page=2", &key)
            .await,
    )
    .await;
    assert_eq!(second["count"], 55);
    assert_eq!(second["next"], Value::Null);
    assert_eq!(
        second["previous"],
        json!(app.url("/admin/users?search=USER0")),
        "the link to page 1 has no page parameter"
    );
    let names: Vec<&str> = second["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|u| u["username"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(
        names,
        ["user050", "user051", "user052", "user053", "user054"]
    );

    let last = body(
        app.admin_get("/admin/users?page=last&search=user0", &key)
            .await,
    )
    .await;
    assert_eq!(last["results"], second["results"]);

    let empty = app.admin_get("/admin/users?search=nobody", &key).await;
    assert_json(
        empty,
        StatusCode::OK,
        json!({"count": 0, "next": null, "previous": null, "results": []}),
    )
    .await;
}

/// `next` of the first page of `/admin/users` (of 51 users or more), as
/// seen through these request headers.
async fn next_link(app: &TestApp, key: &str, headers: &[(&str, &str)]) -> Value {
    let mut request = app.with_token(Method::GET, "/admin/users", key);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let page = body(request.sent().await).await;
    page["next"].clone()
}

const FORWARDED_HEADERS: [&[(&str, &str)]; 3] = [
    &[
        ("X-Forwarded-Host", "forwarded.example"),
        ("X-Forwarded-Proto", "https"),
    ],
    &[("Forwarded", "host=forwarded.example;proto=https")],
    &[
        (
            "Forwarded",
            "for=192.0.2.1;host=forwarded.example;proto=https",
        ),
        ("X-Forwarded-Host", "ignored.example"),
    ],
];

/// An app trusting `proxies`, with 55 users (two pages) and an admin's key.
async fn two_pages_of_users_trusting(backend: Backend, proxies: &str) -> (TestApp, String) {
    let app = TestApp::spawn_with(backend, |settings| {
        settings.server.trusted_proxies = TrustedProxies::parse(proxies).expect("proxies");
    })
    .await;
    let key = app.admin_key().await;
    app.create_users("user", 55);
    (app, key)
}

#[on_both_backends]
async fn page_links_ignore_forwarded_host_and_proto_from_untrusted_peers(backend: Backend) {
    let (app, key) = two_pages_of_users_trusting(backend, "10.0.0.1").await;
    for headers in FORWARDED_HEADERS {
        assert_eq!(
            next_link(&app, &key, headers).await,
            json!(app.url("/admin/users?page=2")),
            "{headers:?}"
        );
    }
}

#[on_both_backends]
async fn page_links_follow_forwarded_host_and_proto_from_trusted_proxies(backend: Backend) {
    let (app, key) = two_pages_of_users_trusting(backend, "127.0.0.1, ::1").await;
    for (headers, expected) in [
        (
            FORWARDED_HEADERS[0],
            "https://forwarded.example/admin/users?page=2",
        ),
        (
            FORWARDED_HEADERS[1],
            "https://forwarded.example/admin/users?page=2",
        ),
        (
            FORWARDED_HEADERS[2],
            "https://forwarded.example/admin/users?page=2",
        ),
        (
            &[
                ("X-Forwarded-Host", "api.example.com"),
                ("X-Forwarded-Proto", "gopher"),
            ][..],
            "http://api.example.com/admin/users?page=2",
        ),
    ] {
        assert_eq!(
            next_link(&app, &key, headers).await,
            json!(expected),
            "{headers:?}"
        );
    }
    assert_eq!(
        next_link(&app, &key, &[]).await,
        json!(app.url("/admin/users?page=2")),
        "a proxy that forwards nothing: the request's own Host"
    );
}

#[on_both_backends]
async fn the_search_matches_part_of_a_username_or_email_without_regard_to_case(backend: Backend) {
    let (app, key) = TestApp::spawn_with_admin_key(backend).await;
    app.create_user("Alice", "alice@Wonderland.example", false);
    app.create_user("bob", "BOB@builders.example", false);
    app.create_user("carol_100", "", false);
    let names = |list: Value| -> Vec<String> {
        list["results"]
            .as_array()
            .expect("results")
            .iter()
            .map(|u| u["username"].as_str().unwrap_or("").to_owned())
            .collect()
    };
    for (search, expected) in [
        ("ALI", vec!["Alice"]),
        ("wonderLAND", vec!["Alice"]),
        ("builders", vec!["bob"]),
        ("example", vec!["root", "Alice", "bob"]),
        ("_", vec!["carol_100"]),
        ("%", vec![]),
        ("", vec!["root", "Alice", "bob", "carol_100"]),
    ] {
        let path = format!(
            "/admin/users?{}",
            serde_urlencoded::to_string([("search", search)]).unwrap()
        );
        let list = body(app.admin_get(&path, &key).await).await;
        assert_eq!(names(list), expected, "search {search:?}");
    }
}

#[on_both_backends]
async fn a_page_past_the_last_or_not_a_number_is_not_found(backend: Backend) {
    let (app, key) = TestApp::spawn_with_admin_key(backend).await;
    for page in ["2", "0", "-1", "two"] {
        assert_detail(
            app.admin_get(&format!("/admin/users?page={page}"), &key)
                .await,
            StatusCode::NOT_FOUND,
            "Invalid page.",
        )
        .await;
    }
    assert_eq!(
        app.admin_get("/admin/users?page=1", &key).await.status(),
        StatusCode::OK
    );
}

#[on_both_backends]
async fn admins_create_users_who_can_then_log_in(backend: Backend) {
    let (app, key) = TestApp::spawn_with_admin_key(backend).await;
    let response = app
        .admin_request(
            Method::POST,
            "/admin/users",
            &key,
            Some(json!({
                "username": "dora",
                "password": "explorer-map-42",
                "email": "dora@example.com",
                "is_admin": true,
            })),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let created = body(response).await;
    assert_eq!(
        with_times_masked(created.clone()),
        plain_user(
            created["id"].clone(),
            "dora",
            "dora@example.com",
            true,
            false
        )
    );
    let dora = app.login_as("dora", "explorer-map-42", "cli").await;
    assert_eq!(
        app.admin_get("/admin/users", &dora).await.status(),
        StatusCode::OK,
        "an admin created as one can use the admin API"
    );

    // A form body works too, and is_admin defaults to false.
    let form = app
        .with_token(Method::POST, "/admin/users/", &key)
        .form(&[("username", "eve"), ("password", "long-enough-pass")])
        .sent()
        .await;
    assert_eq!(form.status(), StatusCode::CREATED);
    let eve = body(form).await;
    assert_eq!(eve["is_admin"], false);
    assert_eq!(eve["email"], "");
}

#[on_both_backends]
async fn creating_a_user_reports_every_invalid_field_at_once(backend: Backend) {
    let (app, key) = TestApp::spawn_with_admin_key(backend).await;
    let post = |body: Value| app.admin_request(Method::POST, "/admin/users", &key, Some(body));
    assert_bad_request(
        post(json!({})).await,
        json!({
            "username": ["This field is required."],
            "password": ["This field is required."],
        }),
    )
    .await;
    assert_bad_request(post(json!({
            "username": "no spaces",
            "password": "1234",
            "email": "not-an-address",
            "is_admin": "maybe",
        }))
        .await, json!({
            "username": ["Enter a valid username. This value may contain only letters, numbers, and @/./+/-/_ characters."],
            "password": [
                "This password is too short. It must contain at least 8 characters.",
                "This password is too common.",
                "This password is entirely numeric.",
            ],
            "email": ["Enter a valid email address."],
            "is_admin": ["Must be a valid boolean."],
        })).await;
}

#[on_both_backends]
async fn a_taken_username_is_refused_whatever_its_case(backend: Backend) {
    let (app, key) = TestApp::spawn_with_admin_key(backend).await;
    app.create_user("alice", "", false);
    assert_bad_request(
        app.admin_request(
            Method::POST,
            "/admin/users",
            &key,
            Some(json!({"username": "ALICE", "password": "long-enough-pass"})),
        )
        .await,
        json!({"username": ["A user with that username already exists."]}),
    )
    .await;
}

#[on_both_backends]
async fn a_user_is_read_with_their_devices(backend: Backend) {
    let (app, key) = TestApp::spawn_with_admin_key(backend).await;
    let alice = app.create_user("alice", "alice@example.com", false);
    app.login("alice", "web").await;
    app.login("alice", "ios").await;
    let response = app.admin_get(&format!("/admin/users/{alice}/"), &key).await;
    assert_eq!(response.status(), StatusCode::OK);
    let user = body(response).await;
    let tokens = user["tokens"].as_array().expect("tokens").clone();
    assert_eq!(
        clients_of(&tokens),
        ["ios", "web"],
        "most recently used first"
    );
    for token in &tokens {
        assert_eq!(
            keys_of(token),
            admin_device_fields(),
            "no current flag, no key, no digest"
        );
        assert_eq!(token["via"], "password");
        assert_eq!(token["last_ip"], "127.0.0.1", "the login's address");
    }
    let mut user = with_times_masked(user);
    user.as_object_mut().expect("object").remove("tokens");
    assert_eq!(
        user,
        plain_user(alice, "alice", "alice@example.com", false, true)
    );
    let devices = body(
        app.admin_get(&format!("/admin/users/{alice}/tokens"), &key)
            .await,
    )
    .await;
    assert_eq!(devices, json!(tokens));
}

#[on_both_backends]
async fn unknown_and_malformed_user_ids_are_not_found_on_every_route(backend: Backend) {
    let (app, key) = TestApp::spawn_with_admin_key(backend).await;
    for id in ["999999", "abc", "1.5"] {
        for (method, path) in [
            (Method::GET, format!("/admin/users/{id}")),
            (Method::PATCH, format!("/admin/users/{id}")),
            (Method::GET, format!("/admin/users/{id}/tokens")),
            (Method::DELETE, format!("/admin/users/{id}/tokens")),
            (Method::DELETE, format!("/admin/users/{id}/tokens/web")),
        ] {
            assert_not_found(
                app.admin_request(method, &path, &key, Some(json!({"email": "x@example.com"})))
                    .await,
            )
            .await;
        }
    }
}

#[on_both_backends]
async fn patching_email_or_admin_flag_keeps_the_tokens(backend: Backend) {
    let (app, key, alice, web) = TestApp::spawn_with_admin_and_alice_on_web(backend, "").await;
    let response = app
        .admin_patch(
            alice,
            &key,
            json!({"email": "alice@example.com", "is_admin": true}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let user = with_times_masked(body(response).await);
    assert_eq!(
        user,
        plain_user(alice, "alice", "alice@example.com", true, true)
    );
    assert_eq!(app.whoami_status(&web).await, StatusCode::OK);
    assert_eq!(
        app.admin_get("/admin/users", &web).await.status(),
        StatusCode::OK,
        "the new admin flag holds at once"
    );
    let demoted = app
        .admin_patch(alice, &key, json!({"is_admin": false}))
        .await;
    assert_eq!(body(demoted).await["is_admin"], false);
    assert_eq!(
        app.admin_get("/admin/users", &web).await.status(),
        StatusCode::FORBIDDEN
    );
}

#[on_both_backends]
async fn deactivating_a_user_revokes_all_their_tokens(backend: Backend) {
    let (app, key, alice, web) = TestApp::spawn_with_admin_and_alice_on_web(backend, "").await;
    let ios = app.login("alice", "ios").await;
    let response = app
        .admin_patch(alice, &key, json!({"is_active": false}))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(body(response).await["is_active"], false);
    for token in [&web, &ios] {
        assert_unauthorized(app.whoami(token).await, "Invalid token.").await;
    }
    assert_eq!(
        app.login_status("alice", PASSWORD, "web").await,
        StatusCode::BAD_REQUEST,
        "an inactive user cannot log in"
    );
    let reactivated = app
        .admin_patch(alice, &key, json!({"is_active": true}))
        .await;
    assert_eq!(body(reactivated).await["is_active"], true);
    app.login("alice", "web").await;
}

#[on_both_backends]
async fn a_new_password_revokes_all_tokens_and_replaces_the_old_one(backend: Backend) {
    let (app, key, alice, web) = TestApp::spawn_with_admin_and_alice_on_web(backend, "").await;
    let response = app
        .admin_patch(alice, &key, json!({"password": "a-brand-new-secret"}))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let user = body(response).await;
    assert!(user.get("password").is_none(), "{user}");
    assert_unauthorized(app.whoami(&web).await, "Invalid token.").await;
    assert_eq!(
        app.login_status("alice", PASSWORD, "web").await,
        StatusCode::BAD_REQUEST
    );
    app.login_as("alice", "a-brand-new-secret", "web").await;
    app.assert_whoami(&key, StatusCode::OK, "the admin's own token is untouched")
        .await;
}

#[on_both_backends]
async fn invalid_patches_are_refused_field_by_field(backend: Backend) {
    let (app, key, alice, web) =
        TestApp::spawn_with_admin_and_alice_on_web(backend, "alice@example.com").await;
    assert_bad_request(
        app.admin_patch(
            alice,
            &key,
            json!({"email": "nope", "password": "12345678", "is_active": "sometimes"}),
        )
        .await,
        json!({
            "email": ["Enter a valid email address."],
            "password": ["This password is too common.", "This password is entirely numeric."],
            "is_active": ["Must be a valid boolean."],
        }),
    )
    .await;
    assert_bad_request(
        app.admin_patch(alice, &key, json!({"password": ""})).await,
        json!({"password": ["This field may not be blank."]}),
    )
    .await;
    app.assert_whoami(&web, StatusCode::OK, "nothing changed")
        .await;
    let user = body(app.admin_get(&format!("/admin/users/{alice}"), &key).await).await;
    assert_eq!(user["email"], "alice@example.com");
}

#[on_both_backends]
async fn an_admin_revokes_one_device_and_the_others_keep_working(backend: Backend) {
    let (app, key, alice, web) = TestApp::spawn_with_admin_and_alice_on_web(backend, "").await;
    let ios = app.login("alice", "ios").await;
    let path = format!("/admin/users/{alice}/tokens/ios");
    let response = app.admin_request(Method::DELETE, &path, &key, None).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_unauthorized(app.whoami(&ios).await, "Invalid token.").await;
    assert_eq!(app.whoami_status(&web).await, StatusCode::OK);
    assert_not_found(app.admin_request(Method::DELETE, &path, &key, None).await).await;
    let web_path = format!("/admin/users/{alice}/tokens/web/");
    let response = app
        .admin_request(Method::DELETE, &web_path, &key, None)
        .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_unauthorized(app.whoami(&web).await, "Invalid token.").await;
    app.assert_whoami(
        &key,
        StatusCode::OK,
        "the admin's own web token is another user's client of the same name",
    )
    .await;
}

#[on_both_backends]
async fn an_admin_revokes_all_devices_of_a_user(backend: Backend) {
    let (app, key, alice, web) = TestApp::spawn_with_admin_and_alice_on_web(backend, "").await;
    app.create_user("bob", "", false);
    let ios = app.login("alice", "ios").await;
    let bobs = app.login("bob", "web").await;
    let path = format!("/admin/users/{alice}/tokens");
    assert_json(
        app.admin_request(Method::DELETE, &path, &key, None).await,
        StatusCode::OK,
        json!({"revoked": 2}),
    )
    .await;
    for token in [&web, &ios] {
        assert_unauthorized(app.whoami(token).await, "Invalid token.").await;
    }
    assert_eq!(app.whoami_status(&bobs).await, StatusCode::OK);
    assert_json(app.admin_get(&path, &key).await, StatusCode::OK, json!([])).await;
    assert_json(
        app.admin_request(Method::DELETE, &path, &key, None).await,
        StatusCode::OK,
        json!({"revoked": 0}),
    )
    .await;
}
