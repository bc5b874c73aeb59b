//! The ops console as a browser sees it: a client that keeps the session
//! cookie (and the device proof's) between requests, and the CSRF token of
//! a page's forms.

use super::Sent;
use super::{TestApp, PASSWORD};
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use reqwest::{Method, Response, StatusCode};

/// A browser-like client: keeps the console cookie between requests.
pub struct Console<'a> {
    app: &'a TestApp,
    /// The session cookie, `multitoken_console=…`.
    pub cookie: Option<String>,
    /// The device proof's cookie, `mt_device_proof=…`, set by a sign-in.
    pub device_proof: Option<String>,
}

impl<'a> Console<'a> {
    pub fn new(app: &'a TestApp) -> Self {
        Console {
            app,
            cookie: None,
            device_proof: None,
        }
    }

    pub async fn request(
        &mut self,
        method: Method,
        path: &str,
        form: Option<&[(&str, &str)]>,
    ) -> Response {
        let mut request = self.app.http.request(method, self.app.url(path));
        let cookies: Vec<&str> = [&self.cookie, &self.device_proof]
            .into_iter()
            .flatten()
            .map(String::as_str)
            .collect();
        if !cookies.is_empty() {
            request = request.header(COOKIE, cookies.join("; "));
        }
        if let Some(form) = form {
            request = request.form(form);
        }
        let response = request.sent().await;
        for set in response.headers().get_all(SET_COOKIE) {
            let pair = set.to_str().unwrap().split(';').next().unwrap().to_owned();
            if pair.starts_with("mt_device_proof=") {
                self.device_proof = Some(pair);
            } else {
                self.cookie = Some(pair);
            }
        }
        response
    }

    /// A client signed in as `username` (whose password is `PASSWORD`).
    pub async fn signed_in(app: &'a TestApp, username: &str) -> Self {
        let mut console = Console::new(app);
        console.sign_in(username, PASSWORD).await;
        console
    }

    pub async fn get(&mut self, path: &str) -> Response {
        self.request(Method::GET, path, None).await
    }

    pub async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Response {
        self.request(Method::POST, path, Some(form)).await
    }

    pub async fn page(&mut self, path: &str) -> String {
        let response = self.get(path).await;
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        response.text().await.unwrap()
    }

    /// Asserts that `path` sends this client to the sign-in page.
    pub async fn assert_sent_to_sign_in(&mut self, path: &str) {
        let response = self.get(path).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "{path}");
        assert_eq!(
            response
                .headers()
                .get(LOCATION)
                .and_then(|value| value.to_str().ok()),
            Some("/console/login"),
            "{path}"
        );
    }

    /// The CSRF token of the forms of a page.
    pub async fn csrf(&mut self, path: &str) -> String {
        csrf_of(&self.page(path).await)
    }

    pub async fn sign_in(&mut self, username: &str, password: &str) -> Response {
        let csrf = self.csrf("/console/login").await;
        self.post(
            "/console/login",
            &[
                ("csrf_token", &csrf),
                ("username", username),
                ("password", password),
            ],
        )
        .await
    }
}

pub fn csrf_of(page: &str) -> String {
    let start = page
        .find("name=\"csrf_token\" value=\"")
        .expect("a csrf field")
        + 25;
    page[start..].split('"').next().unwrap().to_owned()
}
