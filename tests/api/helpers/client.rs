//! The typed client of the tests: one `TestApp` method per endpoint (as
//! zero2prod's `TestApp` has), so that a test reads as the calls it makes.
//! A request no method fits is built with `request` or `with_token` and
//! sent with `Sent::sent`.

use super::mail::{mail_files, wait_for_mail_files, ResetLink};
use super::{content_type, TestApp, PASSWORD};
use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde_json::{json, Value};
use std::future::Future;
use std::path::Path;

/// Sends a request that must reach the server: a test fails on a
/// connection error, never on a status.
pub trait Sent {
    fn sent(self) -> impl Future<Output = Response>;
}

impl Sent for RequestBuilder {
    async fn sent(self) -> Response {
        self.send().await.expect("request")
    }
}

impl TestApp {
    /// The one request builder for authenticated calls:
    /// `Authorization: Token <key>`.
    pub fn with_token(&self, method: Method, path: &str, key: &str) -> RequestBuilder {
        self.http
            .request(method, self.url(path))
            .header("Authorization", format!("Token {key}"))
    }

    /// `GET path`, with no credentials.
    pub async fn get(&self, path: &str) -> Response {
        self.http.get(self.url(path)).sent().await
    }

    /// A request to `path` with no credentials, to be completed.
    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.http.request(method, self.url(path))
    }

    /// `path` with this raw body and `Content-Type`, for what no typed
    /// method would send.
    pub async fn send_raw(
        &self,
        method: Method,
        path: &str,
        content_type: &str,
        body: impl Into<reqwest::Body>,
    ) -> Response {
        self.request(method, path)
            .header("Content-Type", content_type)
            .body(body)
            .sent()
            .await
    }

    /// `GET path`, asserting a 200 with exactly this content type.
    pub async fn get_expecting(&self, path: &str, expected_type: &str) -> Response {
        let response = self.get(path).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(content_type(&response), Some(expected_type));
        response
    }

    pub async fn post_json(&self, path: &str, body: Value) -> Response {
        self.http.post(self.url(path)).json(&body).sent().await
    }

    pub async fn get_with_token(&self, path: &str, key: &str) -> Response {
        self.with_token(Method::GET, path, key).sent().await
    }

    pub async fn post_with_token(&self, path: &str, key: &str) -> Response {
        self.with_token(Method::POST, path, key).sent().await
    }

    pub async fn delete_with_token(&self, path: &str, key: &str) -> Response {
        self.with_token(Method::DELETE, path, key).sent().await
    }

    // Sessions and devices.

    pub async fn post_login(&self, username: &str, password: &str, client: &str) -> Response {
        self.post_json(
            "/login",
            json!({"username": username, "password": password, "client": client}),
        )
        .await
    }

    /// The status of a login, for tests that only say whether it passes.
    pub async fn login_status(&self, username: &str, password: &str, client: &str) -> StatusCode {
        self.post_login(username, password, client).await.status()
    }

    /// Logs in with the default password and returns the key.
    pub async fn login(&self, username: &str, client: &str) -> String {
        self.login_as(username, PASSWORD, client).await
    }

    /// Logs in and returns the key; panics unless the login succeeds.
    pub async fn login_as(&self, username: &str, password: &str, client: &str) -> String {
        let response = self.post_login(username, password, client).await;
        assert_eq!(
            response.status(),
            StatusCode::OK,
            "login of {username} as {client}"
        );
        let body: Value = response.json().await.expect("json");
        body["auth_token"].as_str().expect("auth_token").to_owned()
    }

    /// Logs in with the default password and a two-factor code (as client
    /// `web`) and returns the key; panics unless the login succeeds.
    pub async fn login_as_with_otp(&self, username: &str, otp: &str) -> String {
        let response = self
            .post_json(
                "/login",
                json!({"username": username, "password": PASSWORD, "client": "web", "otp": otp}),
            )
            .await;
        assert_eq!(
            response.status(),
            StatusCode::OK,
            "login of {username} with a code"
        );
        let body: Value = response.json().await.expect("json");
        body["auth_token"].as_str().expect("auth_token").to_owned()
    }

    /// Logs in with scopes (a JSON list or string) and returns the whole
    /// response body; panics unless the login succeeds.
    pub async fn login_body_with_scopes(
        &self,
        username: &str,
        client: &str,
        scopes: Value,
    ) -> Value {
        let response = self
            .post_json(
                "/login",
                json!({"username": username, "password": PASSWORD, "client": client, "scopes": scopes}),
            )
            .await;
        assert_eq!(
            response.status(),
            StatusCode::OK,
            "login of {username} as {client}"
        );
        response.json().await.expect("json")
    }

    /// Logs in with scopes and returns the key.
    pub async fn login_with_scopes(&self, username: &str, client: &str, scopes: Value) -> String {
        let body = self.login_body_with_scopes(username, client, scopes).await;
        body["auth_token"].as_str().expect("auth_token").to_owned()
    }

    // JWT access tokens.

    /// `POST /token` with the default password; panics unless it succeeds.
    /// Returns `(refresh, access)`.
    pub async fn obtain_jwt(&self, username: &str, client: &str) -> (String, String) {
        self.obtain_jwt_at(&self.address, username, client).await
    }

    /// [`TestApp::obtain_jwt`] from the server at `base`: another instance
    /// on this app's database.
    pub async fn obtain_jwt_at(
        &self,
        base: &str,
        username: &str,
        client: &str,
    ) -> (String, String) {
        let response = self
            .http
            .post(format!("{base}/token"))
            .json(&json!({"username": username, "password": PASSWORD, "client": client}))
            .sent()
            .await;
        assert_eq!(
            response.status(),
            StatusCode::OK,
            "/token of {username} as {client}"
        );
        let body: Value = response.json().await.expect("json");
        let field = |name: &str| body[name].as_str().expect(name).to_owned();
        (field("refresh"), field("access"))
    }

    /// `POST /token/verify`.
    pub async fn verify_jwt(&self, token: &str) -> Response {
        self.post_json("/token/verify", json!({ "token": token }))
            .await
    }

    /// `POST /token/refresh`.
    pub async fn refresh_jwt(&self, refresh: &str) -> Response {
        self.post_json("/token/refresh", json!({ "refresh": refresh }))
            .await
    }

    /// `POST /token/blacklist`.
    pub async fn blacklist_jwt(&self, refresh: &str) -> Response {
        self.post_json("/token/blacklist", json!({ "refresh": refresh }))
            .await
    }

    /// `Authorization: Bearer <token>`, as access JWTs are sent.
    pub fn with_bearer(&self, method: Method, path: &str, token: &str) -> RequestBuilder {
        self.http
            .request(method, self.url(path))
            .header("Authorization", format!("Bearer {token}"))
    }

    /// `POST /login/oidc/{provider}` with a JSON body.
    pub async fn login_oidc(&self, provider: &str, body: Value) -> Response {
        self.post_json(&format!("/login/oidc/{provider}"), body)
            .await
    }

    pub async fn whoami(&self, key: &str) -> Response {
        self.get_with_token("/whoami", key).await
    }

    /// `GET /whoami` with `Authorization: <scheme> <key>` and, if any, a
    /// `DPoP` proof: for keys bound to a device, and the schemes that refuse
    /// them.
    pub async fn whoami_as(&self, scheme: &str, key: &str, proof: Option<String>) -> Response {
        let mut request = self
            .request(Method::GET, "/whoami")
            .header("Authorization", format!("{scheme} {key}"));
        if let Some(proof) = proof {
            request = request.header("DPoP", proof);
        }
        request.sent().await
    }

    /// Asserts the status `GET /whoami` answers to `key`: whether it still
    /// works, and why it should or should not.
    pub async fn assert_whoami(&self, key: &str, expected: StatusCode, why: &str) {
        assert_eq!(self.whoami_status(key).await, expected, "{why}");
    }

    pub async fn whoami_status(&self, key: &str) -> StatusCode {
        self.whoami(key).await.status()
    }

    /// Which of `keys` still work: for races, where exactly one should.
    pub async fn live_keys(&self, keys: &[String]) -> Vec<String> {
        let mut live = Vec::new();
        for key in keys {
            if self.whoami_status(key).await == StatusCode::OK {
                live.push(key.clone());
            }
        }
        live
    }

    pub async fn devices(&self, key: &str) -> Vec<Value> {
        let response = self.get_with_token("/tokens", key).await;
        assert_eq!(response.status(), StatusCode::OK);
        response.json::<Vec<Value>>().await.expect("json list")
    }

    /// The first page of the key's user's own events (`GET /events`),
    /// newest first.
    pub async fn own_events(&self, key: &str) -> Vec<Value> {
        let response = self.get_with_token("/events", key).await;
        assert_eq!(response.status(), StatusCode::OK);
        let mut page: Value = response.json().await.expect("json");
        page["results"]
            .as_array_mut()
            .map(std::mem::take)
            .expect("results")
    }

    /// The client names of the key's user's devices, as listed.
    pub async fn device_clients(&self, key: &str) -> Vec<String> {
        self.devices(key)
            .await
            .iter()
            .map(|device| device["client"].as_str().expect("a client name").to_owned())
            .collect()
    }

    // Accounts: registration, password change and reset.

    pub async fn register(&self, body: Value) -> Response {
        self.post_json("/register", body).await
    }

    pub async fn change_password(&self, key: &str, old: &str, new: &str) -> Response {
        self.with_token(Method::POST, "/password/change", key)
            .json(&json!({"old_password": old, "new_password": new}))
            .sent()
            .await
    }

    pub async fn request_reset(&self, email: &str) -> Response {
        self.post_json("/password/reset", json!({ "email": email }))
            .await
    }

    pub async fn confirm_reset(&self, uid: &str, token: &str, new_password: &str) -> Response {
        self.post_json(
            "/password/reset/confirm",
            json!({"uid": uid, "token": token, "new_password": new_password}),
        )
        .await
    }

    /// `POST /password/reset/confirm` with the `uid` and `token` of a mail's
    /// link.
    pub async fn confirm_link(&self, link: &ResetLink, new_password: &str) -> Response {
        self.confirm_reset(&link.uid, &link.token, new_password)
            .await
    }

    /// Requests a reset and returns the link of the mail that follows, as
    /// written by the `file:` backend in `mail_dir`.
    pub async fn reset_link_by_file(&self, email: &str, mail_dir: &Path) -> ResetLink {
        let before = mail_files(mail_dir).len();
        assert_eq!(self.request_reset(email).await.status(), StatusCode::OK);
        let files = wait_for_mail_files(mail_dir, before + 1).await;
        let last = files.last().expect("a mail file");
        ResetLink::in_mail(&std::fs::read_to_string(last).expect("read mail"))
    }

    // E-mail verification.

    pub async fn verify_email(&self, key: &str) -> Response {
        self.post_json("/register/verify-email", json!({ "key": key }))
            .await
    }

    pub async fn resend_email(&self, email: &str) -> Response {
        self.post_json("/register/resend-email", json!({ "email": email }))
            .await
    }

    // The admin API.

    /// Creates an admin, logs in as `web`, and returns the key.
    pub async fn admin_key(&self) -> String {
        self.create_user("root", "root@example.com", true);
        self.login("root", "web").await
    }

    pub async fn admin_request(
        &self,
        method: Method,
        path: &str,
        key: &str,
        body: Option<Value>,
    ) -> Response {
        let mut request = self.with_token(method, path, key);
        if let Some(body) = body {
            request = request.json(&body);
        }
        request.sent().await
    }

    pub async fn admin_get(&self, path: &str, key: &str) -> Response {
        self.admin_request(Method::GET, path, key, None).await
    }

    pub async fn admin_patch(&self, id: i64, key: &str, body: Value) -> Response {
        self.admin_request(
            Method::PATCH,
            &format!("/admin/users/{id}"),
            key,
            Some(body),
        )
        .await
    }

    // Operations.

    /// The metrics text, after checking its status and content type.
    pub async fn scrape(&self) -> String {
        self.get_expecting("/metrics", "text/plain; version=0.0.4")
            .await
            .text()
            .await
            .expect("text")
    }

    /// The metrics text, after checking that `line` stands in it whole.
    pub async fn scrape_with_line(&self, line: &str) -> String {
        let metrics = self.scrape().await;
        assert!(metrics.lines().any(|l| l == line), "{line}:\n{metrics}");
        metrics
    }
}
