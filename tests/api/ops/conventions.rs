//! The contract's conventions: paths, bodies, error shapes, health.

use crate::helpers::on_both_backends;
use crate::helpers::{
    assert_bad_request, assert_detail, assert_json_of, assert_non_field_error, content_type,
    header, Backend, Sent, TestApp,
};
use reqwest::{Method, StatusCode};
use serde_json::json;

#[on_both_backends]
async fn paths_work_with_and_without_a_trailing_slash(backend: Backend) {
    let (app, key) = TestApp::spawn_with_alice_on_web(backend).await;
    for path in ["/whoami", "/whoami/", "/tokens", "/tokens/"] {
        assert_eq!(
            app.get_with_token(path, &key).await.status(),
            StatusCode::OK,
            "{path}"
        );
    }
    let login = app
        .post_json(
            "/login/",
            json!({"username": "alice", "password": crate::helpers::PASSWORD, "client": "ios"}),
        )
        .await;
    assert_eq!(login.status(), StatusCode::OK);
    assert_eq!(
        app.delete_with_token("/tokens/ios/", &key).await.status(),
        StatusCode::NO_CONTENT
    );
}

#[on_both_backends]
async fn unknown_paths_and_wrong_methods_get_json_errors(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let not_allowed = StatusCode::METHOD_NOT_ALLOWED;
    let cases = [
        (
            "an unknown path",
            Method::GET,
            "/no/such/thing",
            StatusCode::NOT_FOUND,
            "Not found.",
        ),
        (
            "GET on a POST path",
            Method::GET,
            "/login",
            not_allowed,
            "Method \"GET\" not allowed.",
        ),
        (
            "PUT on a DELETE path",
            Method::PUT,
            "/tokens/web",
            not_allowed,
            "Method \"PUT\" not allowed.",
        ),
    ];
    for (case, method, path, status, detail) in cases {
        let response = app.request(method, path).sent().await;
        assert_json_of(case, response, status, json!({ "detail": detail })).await;
    }
    let bad_escape = app.get("/tokens/%ZZ").await;
    assert!(bad_escape.status().is_client_error());
    assert_eq!(content_type(&bad_escape), Some("application/json"));
}

#[on_both_backends]
async fn unsupported_media_types_are_refused_by_name(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let response = app
        .send_raw(Method::POST, "/login", "text/plain", "username=alice")
        .await;
    assert_detail(
        response,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "Unsupported media type \"text/plain\" in request.",
    )
    .await;
}

#[on_both_backends]
async fn oversized_bodies_are_refused(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let padding = "x".repeat(65 * 1024);
    let declared = app.post_json("/login", json!({"username": padding})).await;
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        (0..80).map(|_| Ok(vec![b' '; 1024])).collect();
    let streamed = app
        .send_raw(
            Method::POST,
            "/login",
            "application/json",
            reqwest::Body::wrap_stream(futures_util::stream::iter(chunks)),
        )
        .await;
    for response in [declared, streamed] {
        assert_detail(
            response,
            StatusCode::PAYLOAD_TOO_LARGE,
            "Request body too large.",
        )
        .await;
    }
}

#[on_both_backends]
async fn malformed_json_is_a_400_with_the_cause(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let response = app
        .send_raw(
            Method::POST,
            "/login",
            "application/json",
            "{\"username\": ",
        )
        .await;
    assert_bad_request(
        response,
        json!({"detail": "JSON parse error - EOF while parsing a value at line 1 column 13"}),
    )
    .await;
    let list = app.post_json("/login", json!(["username"])).await;
    assert_non_field_error(list, "Invalid data. Expected a dictionary, but got list.").await;
}

#[on_both_backends]
async fn an_empty_body_is_fine_where_no_field_is_required(backend: Backend) {
    let (app, key) = TestApp::spawn_with_alice_on_web(backend).await;
    let response = app
        .with_token(Method::POST, "/logout", &key)
        .header("Content-Type", "application/json")
        .sent()
        .await;
    assert_detail(response, StatusCode::OK, "Successfully logged out.").await;
}

#[on_both_backends]
async fn health_and_readiness_answer(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    for (path, status) in [("/healthz", "ok"), ("/readyz", "ready")] {
        let response = app.get(path).await;
        assert_json_of(path, response, StatusCode::OK, json!({ "status": status })).await;
    }
}

/// Security finding F14: user data (`/whoami`, `/tokens`, admin user JSON)
/// was cacheable, and no JSON response forbade sniffing (a 415 echoes the
/// request's `Content-Type`).
#[on_both_backends]
async fn every_response_is_no_store_and_nosniff(backend: Backend) {
    let (app, admin, alice, key) = TestApp::spawn_with_admin_and_alice_on_web(backend, "").await;
    let unsupported = app
        .send_raw(Method::POST, "/login", "text/html", "<b>x</b>")
        .await;
    let responses = vec![
        ("/whoami", app.whoami(&key).await),
        ("/tokens", app.get_with_token("/tokens", &key).await),
        (
            "/admin/users/{id}",
            app.admin_get(&format!("/admin/users/{alice}"), &admin)
                .await,
        ),
        ("/healthz", app.get("/healthz").await),
        ("a 415", unsupported),
        ("a path actix refuses", app.get("/admin/users/%FF").await),
    ];
    for (what, response) in responses {
        let header = |name: &str| header(&response, name).map(str::to_owned);
        assert_eq!(
            header("cache-control").as_deref(),
            Some("no-store"),
            "{what}"
        );
        assert_eq!(
            header("x-content-type-options").as_deref(),
            Some("nosniff"),
            "{what}"
        );
    }
}

/// Security finding F3: a client that sent its headers and then trickled
/// its body held the connection as long as it liked.
#[on_both_backends]
async fn a_body_that_trickles_in_gets_a_json_408(backend: Backend) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = TestApp::spawn_with(backend, |settings| {
        settings.server.body_read_timeout = std::time::Duration::from_millis(300);
    })
    .await;
    let address = app.address.trim_start_matches("http://").to_owned();
    let mut stream = tokio::net::TcpStream::connect(address)
        .await
        .expect("connect");
    stream
        .write_all(
            b"POST /login HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"user",
        )
        .await
        .expect("write");
    let started = std::time::Instant::now();
    let mut response = Vec::new();
    let mut buffer = [0_u8; 4096];
    // Read until the body has come (the answer is small), at most 5 s.
    while !String::from_utf8_lossy(&response).contains("}") {
        let read =
            tokio::time::timeout(std::time::Duration::from_secs(5), stream.read(&mut buffer))
                .await
                .expect("answered within 5 s")
                .expect("read");
        if read == 0 {
            break;
        }
        response.extend_from_slice(&buffer[..read]);
    }
    let text = String::from_utf8_lossy(&response);
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(text.contains("application/json"), "{text}");
    assert!(text.ends_with(r#"{"detail":"Request Timeout."}"#), "{text}");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
}
