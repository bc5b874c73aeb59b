//! The access log of the real binary: one line per request, with the query
//! string's secrets (`token`, `key`, `uid`, `code`, and any value shaped
//! like a key) written as `[redacted]` and the rest of the line as sent.

use crate::helpers::on_both_backends;
use crate::helpers::{Backend, Sent, ServerProcess, TestDatabase};
use reqwest::StatusCode;

#[on_both_backends]
async fn secrets_in_a_query_string_are_redacted_in_the_access_log(backend: Backend) {
    let db = TestDatabase::create(backend);
    let mut server = ServerProcess::start(&db.url(), &[]);
    let http = reqwest::Client::new();
    let mt_key = format!("mt_{}", "Q7".repeat(24));
    let drf_key = "4f1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c";
    let knox_key = "9e".repeat(32);
    let jwt = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiI3In0.c2lnbmF0dXJlLXNlY3JldA";
    let reset_token = "cz1x8b-5f0c3a9d2e7b41c6a8d0";
    let verification_key = "7-cz1x8b-0d9f8e7a6b5c4d3e2f1a";
    let requests = [
        format!("/whoami?token={mt_key}&key={drf_key}&page=2"),
        format!("/reset?uid=Nw&token={reset_token}"),
        format!("/verify?key={verification_key}&code=424242&page=3"),
        format!("/tokens?access_token={knox_key}&x={jwt}&search=alice"),
    ];
    for path in &requests {
        let response = http.get(server.url(path)).sent().await;
        assert!(response.status().is_client_error(), "{path}");
    }
    let line = server.wait_for_log("\"GET /tokens?");
    assert!(
        line.contains(
            "\"GET /tokens?access_token=[redacted]&x=[redacted]&search=alice HTTP/1.1\" 401"
        ),
        "{line}"
    );
    let log = server.log();
    for expected in [
        "\"GET /whoami?token=[redacted]&key=[redacted]&page=2 HTTP/1.1\" 401",
        "\"GET /reset?uid=[redacted]&token=[redacted] HTTP/1.1\" 400",
        "\"GET /verify?key=[redacted]&code=[redacted]&page=3 HTTP/1.1\" 404",
    ] {
        assert!(log.contains(expected), "{expected} in:\n{log}");
    }
    for secret in [
        mt_key.as_str(),
        drf_key,
        knox_key.as_str(),
        jwt,
        reset_token,
        verification_key,
        "424242",
        "uid=Nw",
    ] {
        assert!(!log.contains(secret), "{secret} in the log:\n{log}");
    }
    // A query with nothing secret is logged as sent.
    let response = http
        .get(server.url("/healthz?page=2&search=a%40b.c"))
        .sent()
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    server.wait_for_log("\"GET /healthz?page=2&search=a%40b.c HTTP/1.1\" 200");
}
