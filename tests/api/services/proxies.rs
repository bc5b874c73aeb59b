//! `/auth/verify` behind real reverse proxies: nginx (`auth_request`) and
//! Caddy (`forward_auth`), configured from `tests/proxies/*.template` (the
//! recipes that the book includes), in front of an app that answers every
//! request with the headers it received.
//!
//! Needs the Debian packages `nginx` and `caddy`. `build.rs` looks for each
//! binary as `cargo test` builds: without it, that proxy's tests are built as
//! ignored, so that they are reported as not run; under CI (`CI` set) they
//! always run, and a missing binary fails them. Both proxies run as the
//! current user on loopback ports, with every file they write in a temp dir.

use crate::helpers::on_both_backends;
use crate::helpers::{
    content_type, wait_until_listening, Backend, Sent, TestApp, DENIED, IDENTITY_HEADERS,
};
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const NGINX_SITE: &str = include_str!("../../proxies/nginx.conf.template");
const CADDY_SITE: &str = include_str!("../../proxies/Caddyfile.template");

/// The book's page that shows the recipes, and its folder: mdBook's
/// `{{#include}}` takes a path relative to the page.
const RECIPES_PAGE: &str = include_str!("../../../docs/src/guides/protecting-apis.md");
const RECIPES_PAGE_FOLDER: &str = "docs/src/guides";
/// The values the page's `sed` example fills the templates' placeholders with.
const RECIPES_PAGE_NGINX: [(&str, &str); 3] = [
    ("LISTEN", "80"),
    ("MULTITOKEN", "127.0.0.1:8000"),
    ("APP", "127.0.0.1:9000"),
];
const RECIPES_PAGE_CADDY: [(&str, &str); 3] = [
    ("SITE", "api.example.com"),
    ("MULTITOKEN", "127.0.0.1:8000"),
    ("APP", "127.0.0.1:9000"),
];

const NOT_PROVIDED: &str = "Authentication credentials were not provided.";
/// Declares each listed `async fn name(kind: Kind, backend: Backend)` as
/// `name::{nginx,caddy}::{sqlite,postgres}`. A test is built as ignored when
/// its proxy was not found as the tests were built, and a PostgreSQL twin
/// also when `TEST_DATABASE_URL` was not set.
macro_rules! through_each_proxy {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            through_each_proxy!(@proxy $name, nginx, Nginx, nginx_tests);
            through_each_proxy!(@proxy $name, caddy, Caddy, caddy_tests);
        }
    )*};
    (@proxy $name:ident, $proxy:ident, $kind:ident, $found:ident) => {
        mod $proxy {
            use super::super::{$name, Kind};
            use $crate::helpers::Backend;

            #[actix_web::test]
            #[cfg_attr(
                not($found),
                ignore = concat!(stringify!($proxy), " not found (install the Debian package ", stringify!($proxy), ")")
            )]
            async fn sqlite() {
                $name(Kind::$kind, Backend::Sqlite).await
            }

            #[actix_web::test]
            #[cfg_attr(
                not($found),
                ignore = concat!(stringify!($proxy), " not found (install the Debian package ", stringify!($proxy), ")")
            )]
            #[cfg_attr(all($found, not(postgres_tests)), ignore = "TEST_DATABASE_URL is not set")]
            async fn postgres() {
                $name(Kind::$kind, Backend::Postgres).await
            }
        }
    };
}

through_each_proxy!(
    a_request_without_a_valid_key_gets_the_contract_401_and_never_reaches_the_app,
    the_app_sees_the_identity_of_the_key_and_never_headers_the_client_sent,
    a_revoked_key_is_refused_on_the_very_next_request,
    a_location_that_needs_a_scope_refuses_a_token_without_it,
    a_public_location_passes_no_identity_headers_at_all,
);

#[derive(Debug, Clone, Copy)]
pub enum Kind {
    Nginx,
    Caddy,
}

/// A binary on the `PATH`, or in `/usr/sbin` as `build.rs` looks for it.
fn program(name: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin")])
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
        .unwrap_or_else(|| {
            panic!(
                "{name} not found on the PATH or in /usr/sbin (install the Debian package {name})"
            )
        })
}

/// A loopback port that is free now and that no other test of this binary
/// is given: the proxy binds it only later, and Caddy binds with
/// `SO_REUSEPORT`, so two Caddies given one port would share it silently.
fn free_port() -> u16 {
    static HANDED_OUT: Mutex<Vec<u16>> = Mutex::new(Vec::new());
    let mut handed_out = HANDED_OUT.lock().expect("ports handed out");
    loop {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("a free port")
            .port();
        if !handed_out.contains(&port) {
            handed_out.push(port);
            return port;
        }
    }
}

/// `template` with each `{{NAME}}` replaced by its value.
fn render(template: &str, values: &[(&str, &str)]) -> String {
    let rendered = values
        .iter()
        .fold(template.to_owned(), |text, (name, value)| {
            text.replace(&format!("{{{{{name}}}}}"), value)
        });
    assert!(
        !rendered.contains("{{"),
        "a placeholder left unreplaced in:\n{rendered}"
    );
    rendered
}

/// The app behind the proxy: answers every request with
/// `{"method", "uri", "headers"}` (each header name, lowercased, with its
/// values) and keeps a copy, so that a test can tell what got through.
pub(super) struct Upstream {
    address: String,
    seen: Arc<Mutex<Vec<Value>>>,
}

async fn echo(request: HttpRequest, seen: web::Data<Mutex<Vec<Value>>>) -> HttpResponse {
    let mut headers: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (name, value) in request.headers() {
        headers
            .entry(name.as_str().to_owned())
            .or_default()
            .push(String::from_utf8_lossy(value.as_bytes()).into_owned());
    }
    let received = json!({
        "method": request.method().as_str(),
        "uri": request.uri().to_string(),
        "headers": headers,
    });
    seen.lock().expect("requests seen").push(received.clone());
    HttpResponse::Ok().json(received)
}

impl Upstream {
    fn start() -> Upstream {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let data = web::Data::from(seen.clone());
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .default_service(web::to(echo))
        })
        .workers(1)
        .disable_signals()
        .bind(("127.0.0.1", 0))
        .expect("bind the upstream app");
        let address = server.addrs()[0].to_string();
        actix_web::rt::spawn(server.run());
        Upstream { address, seen }
    }

    pub(super) fn seen(&self) -> Vec<Value> {
        self.seen.lock().expect("requests seen").clone()
    }
}

/// nginx or Caddy on a free loopback port in front of multitoken and the
/// upstream app, stopped when dropped.
pub(super) struct Proxy {
    child: Child,
    dir: tempfile::TempDir,
    url: String,
}

impl Proxy {
    fn start(kind: Kind, multitoken: &str, app: &str) -> Proxy {
        let dir = tempfile::tempdir().expect("proxy temp dir");
        let port = free_port();
        let listen = format!("127.0.0.1:{port}");
        let log = std::fs::File::create(dir.path().join("output.log")).expect("proxy log");
        let mut command = match kind {
            Kind::Nginx => nginx(dir.path(), &listen, multitoken, app),
            Kind::Caddy => caddy(dir.path(), &listen, multitoken, app),
        };
        let child = command
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("proxy log"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|error| panic!("start {kind:?}: {error}"));
        let mut proxy = Proxy {
            child,
            dir,
            url: format!("http://{listen}"),
        };
        proxy.wait_until_listening(kind, port);
        proxy
    }

    fn wait_until_listening(&mut self, kind: Kind, port: u16) {
        if let Err(why) = wait_until_listening(&mut self.child, port, Duration::from_secs(20)) {
            panic!("{kind:?} {why}:\n{}", self.log());
        }
    }

    /// What the proxy wrote: its output and nginx's error log.
    pub(super) fn log(&self) -> String {
        ["output.log", "error.log"]
            .iter()
            .filter_map(|name| std::fs::read_to_string(self.dir.path().join(name)).ok())
            .collect::<Vec<_>>()
            .join("\n")
    }

    pub(super) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.url)
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// nginx in the foreground, one process, with its pid file, logs and temp
/// files in `dir`, serving the recipe as an included file.
fn nginx(dir: &Path, listen: &str, multitoken: &str, app: &str) -> Command {
    let site = render(
        NGINX_SITE,
        &[("LISTEN", listen), ("MULTITOKEN", multitoken), ("APP", app)],
    );
    std::fs::write(dir.join("site.conf"), site).expect("write site.conf");
    let d = dir.display();
    let conf = format!(
        "daemon off;
master_process off;
worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/error.log;
events {{ worker_connections 64; }}
http {{
    access_log off;
    client_body_temp_path {d}/client_body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
    include {d}/site.conf;
}}
"
    );
    std::fs::write(dir.join("nginx.conf"), conf).expect("write nginx.conf");
    let mut command = Command::new(program("nginx"));
    // `-e`: the error log before the configuration is read, which would
    // otherwise be /var/log/nginx/error.log.
    command
        .env_clear()
        .arg("-p")
        .arg(dir)
        .arg("-e")
        .arg(dir.join("error.log"))
        .arg("-c")
        .arg(dir.join("nginx.conf"));
    command
}

/// `caddy run` with no admin endpoint, no automatic HTTPS, and its home and
/// data in `dir`.
fn caddy(dir: &Path, listen: &str, multitoken: &str, app: &str) -> Command {
    let site = render(
        CADDY_SITE,
        &[
            ("SITE", &format!("http://{listen}")),
            ("MULTITOKEN", multitoken),
            ("APP", app),
        ],
    );
    let caddyfile =
        format!("{{\n\tadmin off\n\tauto_https off\n\tdefault_bind 127.0.0.1\n}}\n\n{site}");
    std::fs::write(dir.join("Caddyfile"), caddyfile).expect("write Caddyfile");
    let mut command = Command::new(program("caddy"));
    command
        .env_clear()
        .env("HOME", dir)
        .env("XDG_CONFIG_HOME", dir.join("config"))
        .env("XDG_DATA_HOME", dir.join("data"))
        .args(["run", "--adapter", "caddyfile", "--config"])
        .arg(dir.join("Caddyfile"));
    command
}

/// multitoken, the app, and the proxy in front of both.
pub(super) struct Stack {
    pub(super) app: TestApp,
    pub(super) upstream: Upstream,
    pub(super) proxy: Proxy,
}

impl Stack {
    pub(super) async fn start(kind: Kind, backend: Backend) -> Stack {
        Self::start_with(kind, backend, |_| {}).await
    }

    async fn start_with(
        kind: Kind,
        backend: Backend,
        configure: impl FnOnce(&mut multitoken::config::Settings),
    ) -> Stack {
        let app = TestApp::spawn_with(backend, configure).await;
        let upstream = Upstream::start();
        let multitoken = app.address.trim_start_matches("http://").to_owned();
        let proxy = Proxy::start(kind, &multitoken, &upstream.address);
        Stack {
            app,
            upstream,
            proxy,
        }
    }

    /// A request to the proxy.
    fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.app.http.request(method, self.proxy.url(path))
    }

    /// Sends `request`, which the proxy must let through to the app, and
    /// returns the identity headers the app received.
    async fn identity_seen(
        &self,
        request: RequestBuilder,
        case: &str,
    ) -> BTreeMap<String, Vec<String>> {
        let response = request.sent().await;
        let status = response.status();
        let text = response.text().await.expect("body");
        assert_eq!(
            status,
            StatusCode::OK,
            "{case}: {text}\nthe proxy's log:\n{}",
            self.proxy.log()
        );
        let body: Value = serde_json::from_str(&text)
            .unwrap_or_else(|error| panic!("{case}: the app's JSON: {error}: {text:?}"));
        identity_of(&body)
    }
}

/// The identity headers among those the app received, underscore
/// spellings included (CGI-style frameworks read `X_Auth_Request_User` as
/// `X-Auth-Request-User`).
fn identity_of(received: &Value) -> BTreeMap<String, Vec<String>> {
    let headers: BTreeMap<String, Vec<String>> =
        serde_json::from_value(received["headers"].clone()).expect("headers");
    headers
        .into_iter()
        .filter(|(name, _)| IDENTITY_HEADERS.contains(&name.replace('_', "-").as_str()))
        .collect()
}

fn identity(pairs: &[(&str, &str)]) -> BTreeMap<String, Vec<String>> {
    pairs
        .iter()
        .map(|(name, value)| ((*name).to_owned(), vec![(*value).to_owned()]))
        .collect()
}

/// Adds every identity header, and its underscore spelling, with a value
/// that would make the client someone else.
fn forged(request: RequestBuilder) -> RequestBuilder {
    IDENTITY_HEADERS.iter().fold(request, |request, name| {
        let value = match *name {
            "x-multitoken-user-id" => "1",
            "x-multitoken-admin" => "true",
            "x-multitoken-scopes" => "admin",
            "x-multitoken-client" => "console",
            _ => "root",
        };
        request
            .header(*name, value)
            .header(name.replace('-', "_"), value)
    })
}

fn token(request: RequestBuilder, key: &str) -> RequestBuilder {
    request.header("Authorization", format!("Token {key}"))
}

/// Asserts the contract's refusal, as multitoken gives it, came through the
/// proxy: status, JSON body, and `WWW-Authenticate: Token` exactly once on
/// a 401 (never on a 403).
async fn assert_refused(response: Response, status: StatusCode, detail: &str, case: &str) {
    assert_eq!(response.status(), status, "{case}");
    let challenges: Vec<_> = response
        .headers()
        .get_all("www-authenticate")
        .iter()
        .map(|value| value.to_str().expect("ASCII").to_owned())
        .collect();
    let expected: &[&str] = if status == StatusCode::UNAUTHORIZED {
        &["Token"]
    } else {
        &[]
    };
    assert_eq!(challenges, expected, "{case}: WWW-Authenticate");
    assert_eq!(content_type(&response), Some("application/json"), "{case}");
    let body: Value = response.json().await.expect("JSON body");
    assert_eq!(body, json!({ "detail": detail }), "{case}");
}

async fn a_request_without_a_valid_key_gets_the_contract_401_and_never_reaches_the_app(
    kind: Kind,
    backend: Backend,
) {
    let stack = Stack::start(kind, backend).await;
    let cases = [
        ("no key", stack.request(Method::GET, "/notes"), NOT_PROVIDED),
        (
            "no key, a POST with a body",
            stack
                .request(Method::POST, "/notes")
                .json(&json!({"note": "hi"})),
            NOT_PROVIDED,
        ),
        (
            "another scheme",
            stack
                .request(Method::GET, "/notes")
                .header("Authorization", "Basic YWxpY2U6c2VjcmV0"),
            NOT_PROVIDED,
        ),
        (
            "no key on the location that needs a scope",
            stack.request(Method::DELETE, "/orders/7"),
            NOT_PROVIDED,
        ),
        (
            "an unknown key",
            token(stack.request(Method::GET, "/notes"), "mt_unknown"),
            "Invalid token.",
        ),
        (
            "an unknown X-Api-Key",
            stack
                .request(Method::GET, "/notes")
                .header("X-Api-Key", "mt_unknown"),
            "Invalid token.",
        ),
        (
            "Token with nothing after it",
            stack
                .request(Method::GET, "/notes")
                .header("Authorization", "Token"),
            "Invalid token header. No credentials provided.",
        ),
    ];
    for (case, request, detail) in cases {
        let response = request.sent().await;
        assert_refused(response, StatusCode::UNAUTHORIZED, detail, case).await;
    }

    let head = stack.request(Method::HEAD, "/notes").sent().await;
    assert_eq!(head.status(), StatusCode::UNAUTHORIZED, "HEAD");
    assert_eq!(
        head.headers().get("www-authenticate").map(|v| v.as_bytes()),
        Some(&b"Token"[..]),
        "HEAD"
    );

    assert_eq!(
        stack.upstream.seen(),
        Vec::<Value>::new(),
        "the app saw a request"
    );
}

async fn the_app_sees_the_identity_of_the_key_and_never_headers_the_client_sent(
    kind: Kind,
    backend: Backend,
) {
    let stack = Stack::start(kind, backend).await;
    let alice = stack.app.create_user("alice", "alice@example.com", false);
    let bob = stack.app.create_user("bob", "", true);
    let web = stack.app.login("alice", "web").await;
    let cli = stack
        .app
        .login_with_scopes("bob", "cli", json!(&["orders:write", "reports"]))
        .await;
    let alice_id = alice.to_string();
    let bob_id = bob.to_string();
    let as_alice = identity(&[
        ("x-auth-request-user", "alice"),
        ("remote-user", "alice"),
        ("x-auth-request-email", "alice@example.com"),
        ("remote-email", "alice@example.com"),
        ("x-multitoken-user-id", &alice_id),
        ("x-multitoken-client", "web"),
        ("x-multitoken-admin", "false"),
    ]);
    // No e-mail, so no e-mail headers; restricted, so its scopes.
    let as_bob = identity(&[
        ("x-auth-request-user", "bob"),
        ("remote-user", "bob"),
        ("x-multitoken-user-id", &bob_id),
        ("x-multitoken-client", "cli"),
        ("x-multitoken-admin", "true"),
        ("x-multitoken-scopes", "orders:write reports"),
    ]);

    let cases = [
        (
            "Authorization: Token",
            token(stack.request(Method::GET, "/notes"), &web),
            &as_alice,
        ),
        (
            "Authorization: Bearer, a PUT",
            stack
                .request(Method::PUT, "/notes/1")
                .header("Authorization", format!("Bearer {web}"))
                .json(&json!({"note": "hi"})),
            &as_alice,
        ),
        (
            "X-Api-Key",
            stack
                .request(Method::POST, "/notes")
                .header("X-Api-Key", &cli),
            &as_bob,
        ),
        (
            "X-Api-Key beside an Authorization of another scheme",
            stack
                .request(Method::GET, "/notes")
                .header("Authorization", "Basic YWxpY2U6c2VjcmV0")
                .header("X-Api-Key", &cli),
            &as_bob,
        ),
    ];
    for (case, request, expected) in cases {
        let plain = stack
            .identity_seen(request.try_clone().expect("clone"), case)
            .await;
        assert_eq!(&plain, expected, "{case}");
        let forging = format!("{case}, with forged identity headers");
        let seen = stack.identity_seen(forged(request), &forging).await;
        assert_eq!(&seen, expected, "{forging}");
    }

    let seen = stack.upstream.seen();
    assert_eq!(seen.len(), 8, "every request reached the app once");
    assert_eq!(seen[2]["method"], "PUT");
    assert_eq!(seen[2]["uri"], "/notes/1");
    assert_no_key_reached_the_app(&seen);
}

/// The recipes keep the caller's key between the proxy and multitoken: the
/// app gets the identity, never a live key it could replay.
fn assert_no_key_reached_the_app(seen: &[Value]) {
    for received in seen {
        for name in ["authorization", "x-api-key"] {
            assert_eq!(
                received["headers"].get(name),
                None,
                "the app received {name}: {received}"
            );
        }
    }
}

async fn a_revoked_key_is_refused_on_the_very_next_request(kind: Kind, backend: Backend) {
    let stack = Stack::start(kind, backend).await;
    stack.app.create_user("alice", "alice@example.com", false);
    let web = stack.app.login("alice", "web").await;
    let phone = stack.app.login("alice", "phone").await;
    let as_phone = || token(stack.request(Method::GET, "/notes"), &phone);

    let seen = stack
        .identity_seen(as_phone(), "before the revocation")
        .await;
    assert_eq!(seen["x-multitoken-client"], ["phone"]);

    let revoked = stack.app.delete_with_token("/tokens/phone", &web).await;
    assert_eq!(revoked.status(), StatusCode::NO_CONTENT);
    let response = as_phone().sent().await;
    assert_refused(
        response,
        StatusCode::UNAUTHORIZED,
        "Invalid token.",
        "the revoked key",
    )
    .await;

    let seen = stack
        .identity_seen(
            token(stack.request(Method::GET, "/notes"), &web),
            "the other device",
        )
        .await;
    assert_eq!(seen["x-multitoken-client"], ["web"]);
    assert_eq!(
        stack.upstream.seen().len(),
        2,
        "the revoked key never reached the app"
    );
}

async fn a_location_that_needs_a_scope_refuses_a_token_without_it(kind: Kind, backend: Backend) {
    let stack = Stack::start(kind, backend).await;
    stack.app.create_user("alice", "alice@example.com", false);
    let unrestricted = stack.app.login("alice", "web").await;
    let reader = stack
        .app
        .login_with_scopes("alice", "reader", json!(&["orders:read"]))
        .await;
    let writer = stack
        .app
        .login_with_scopes("alice", "writer", json!(&["orders:write"]))
        .await;

    let response = token(stack.request(Method::POST, "/orders/7"), &reader)
        .json(&json!({"quantity": 1}))
        .sent()
        .await;
    assert_refused(
        response,
        StatusCode::FORBIDDEN,
        DENIED,
        "orders:read on the orders:write location",
    )
    .await;

    let seen = stack
        .identity_seen(
            token(stack.request(Method::GET, "/notes"), &reader),
            "orders:read where no scope is needed",
        )
        .await;
    assert_eq!(seen["x-multitoken-scopes"], ["orders:read"]);
    let seen = stack
        .identity_seen(
            token(stack.request(Method::POST, "/orders/7"), &writer),
            "orders:write",
        )
        .await;
    assert_eq!(seen["x-multitoken-scopes"], ["orders:write"]);
    let seen = stack
        .identity_seen(
            token(
                stack.request(Method::POST, "/orders/7?dry_run=1"),
                &unrestricted,
            ),
            "an unrestricted token",
        )
        .await;
    assert_eq!(seen["x-multitoken-client"], ["web"]);
    assert!(!seen.contains_key("x-multitoken-scopes"));

    let uris: Vec<Value> = stack
        .upstream
        .seen()
        .iter()
        .map(|received| received["uri"].clone())
        .collect();
    assert_eq!(
        uris,
        [
            json!("/notes"),
            json!("/orders/7"),
            json!("/orders/7?dry_run=1")
        ]
    );
}

async fn a_public_location_passes_no_identity_headers_at_all(kind: Kind, backend: Backend) {
    let stack = Stack::start(kind, backend).await;
    stack.app.create_user("alice", "alice@example.com", false);
    let web = stack.app.login("alice", "web").await;
    let none = BTreeMap::new();

    let seen = stack
        .identity_seen(stack.request(Method::GET, "/public/page"), "no key")
        .await;
    assert_eq!(seen, none, "no key");
    let seen = stack
        .identity_seen(
            forged(stack.request(Method::GET, "/public/page")),
            "forged identity headers",
        )
        .await;
    assert_eq!(seen, none, "forged identity headers");
    let seen = stack
        .identity_seen(
            forged(token(stack.request(Method::GET, "/public/page"), &web)),
            "a valid key and forged identity headers",
        )
        .await;
    assert_eq!(seen, none, "a valid key and forged identity headers");
    assert_no_key_reached_the_app(&stack.upstream.seen());
}

/// The book shows the very files these tests run, not copies, and its way of
/// filling them in leaves no placeholder unfilled.
/// A key that a real OAuth client got through the device grant
/// (oauth4webapi, `tests/device_client/client.mjs`) passes nginx's
/// `auth_request` like any device key: the app sees the device's identity.
#[actix_web::test]
#[cfg_attr(
    not(all(nginx_tests, device_client_tests)),
    ignore = "nginx or tests/device_client not found (install nginx, run npm ci in tests/device_client)"
)]
async fn a_key_from_the_device_grant_passes_nginx_auth_request() {
    use crate::auth::device_grant::{approve, fast_polls, DeviceProcess};
    let stack = Stack::start_with(Kind::Nginx, Backend::Sqlite, fast_polls).await;
    stack.app.create_user("alice", "alice@example.com", false);
    let phone = stack.app.login("alice", "phone").await;
    let client = DeviceProcess::start(
        Path::new("node"),
        "tests/device_client/client.mjs",
        &[&stack.app.address, "cli", "", &stack.proxy.url("/notes")],
    );
    let codes = client.next(Duration::from_secs(20)).await;
    let user_code = codes["user_code"].as_str().expect("user_code");
    let approved = approve(&stack.app, &phone, user_code, json!({})).await;
    assert_eq!(approved.status(), StatusCode::OK);
    let outcome = client.next(Duration::from_secs(20)).await;
    assert_eq!(
        outcome["resource"]["status"],
        200,
        "{outcome}\n{}",
        stack.proxy.log()
    );
    let seen = identity_of(&outcome["resource"]["body"]);
    assert_eq!(seen["x-multitoken-client"], ["cli"]);
    assert_eq!(seen["x-auth-request-user"], ["alice"]);
}

#[test]
fn the_book_includes_the_proxy_configurations_these_tests_run() {
    let to_root = "../".repeat(RECIPES_PAGE_FOLDER.split('/').count());
    for (template, values, path) in [
        (
            NGINX_SITE,
            &RECIPES_PAGE_NGINX,
            "tests/proxies/nginx.conf.template",
        ),
        (
            CADDY_SITE,
            &RECIPES_PAGE_CADDY,
            "tests/proxies/Caddyfile.template",
        ),
    ] {
        let include = format!("{{{{#include {to_root}{path}}}}}");
        assert!(
            RECIPES_PAGE.contains(&include),
            "{RECIPES_PAGE_FOLDER}/protecting-apis.md should show {path} with `{include}`"
        );
        // `render` fails on a placeholder that the values leave unfilled.
        render(template, values);
        let fills = values
            .iter()
            .map(|(name, value)| format!("-e 's/{{{{{name}}}}}/{value}/'"))
            .collect::<Vec<_>>()
            .join(" ");
        let sed = format!("sed {fills} {path}");
        assert!(
            RECIPES_PAGE.contains(&sed),
            "{RECIPES_PAGE_FOLDER}/protecting-apis.md should fill in {path} with `{sed}`"
        );
    }
}

/// The book's Envoy recipe is not run (Envoy is not in Debian's
/// registry), but what it relies on is: Envoy sends the check to
/// `path_prefix` + the request's own path, with the request's method and
/// `Content-Length: 0`.
#[on_both_backends]
async fn the_path_that_envoy_appends_to_auth_verify_changes_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_user("alice", "alice@example.com", false);
    let reader = app
        .login_with_scopes("alice", "reader", json!(&["orders:read"]))
        .await;
    let writer = app
        .login_with_scopes("alice", "writer", json!(&["orders:write"]))
        .await;
    let cases = [
        ("/auth/verify?path=/notes/1?page=2", &reader, StatusCode::OK),
        (
            "/auth/verify?scope=orders:write&path=/orders/7?dry_run=1",
            &writer,
            StatusCode::OK,
        ),
        (
            "/auth/verify?scope=orders:write&path=/orders/7?dry_run=1",
            &reader,
            StatusCode::FORBIDDEN,
        ),
    ];
    for (path, key, status) in cases {
        let response = app
            .with_token(Method::POST, path, key)
            .header("Content-Length", "0")
            .sent()
            .await;
        assert_eq!(response.status(), status, "{path}");
    }
}
