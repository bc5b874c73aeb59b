//! The console in a real browser: headless Chromium driven through
//! WebDriver (chromedriver) with fantoccini.
//!
//! Needs the Debian packages `chromium` and `chromium-driver` (or
//! `CHROMEDRIVER` and `CHROME_BIN` pointing at a driver and a browser).
//! `build.rs` looks for the driver as `cargo test` builds: without one the
//! test is built as ignored, so that `cargo test` works on a fresh machine
//! and says the test did not run; under CI (`CI` set) it always runs, and a
//! missing driver fails it.
//! The devices page is saved as `target/tmp/console-screenshot.png`.

use crate::helpers::{assert_unauthorized, Backend, TestApp, PASSWORD};
use fantoccini::{Client, ClientBuilder, Locator};
use reqwest::{Method, StatusCode};
use serde_json::{json, Map, Value};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const NOT_AN_ADMIN: &str = "This console is for administrators only.";

fn find_on_path(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(name))
            .find(|candidate| candidate.is_file())
    })
}

fn chromedriver() -> Option<PathBuf> {
    std::env::var_os("CHROMEDRIVER")
        .filter(|path| !path.is_empty())
        .map(PathBuf::from)
        .or_else(|| find_on_path("chromedriver"))
}

fn chrome_binary() -> Option<PathBuf> {
    std::env::var_os("CHROME_BIN")
        .filter(|path| !path.is_empty())
        .map(PathBuf::from)
        .or_else(|| find_on_path("chromium"))
}

/// chromedriver on a free port, stopped when dropped.
struct Driver {
    child: Child,
    url: String,
}

impl Driver {
    fn start(binary: &Path) -> Driver {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("a free port")
            .port();
        let child = Command::new(binary)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let started = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "chromedriver did not listen on port {port}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        Driver {
            child,
            url: format!("http://127.0.0.1:{port}"),
        }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn browser(driver: &Driver, profile: &Path) -> Client {
    let mut options = Map::new();
    options.insert(
        "args".into(),
        json!([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--window-size=1280,800",
            format!("--user-data-dir={}", profile.display()),
        ]),
    );
    if let Some(binary) = chrome_binary() {
        options.insert("binary".into(), json!(binary.display().to_string()));
    }
    let mut capabilities = Map::new();
    capabilities.insert("browserName".into(), json!("chrome"));
    capabilities.insert("goog:chromeOptions".into(), Value::Object(options));
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(capabilities)
        .connect(&driver.url)
        .await
        .expect("a WebDriver session with headless Chromium")
}

async fn fill(browser: &Client, css: &str, text: &str) {
    let field = browser.find(Locator::Css(css)).await.expect(css);
    field.clear().await.expect("clear");
    field.send_keys(text).await.expect("type");
}

async fn click(browser: &Client, css: &str) {
    browser
        .find(Locator::Css(css))
        .await
        .expect(css)
        .click()
        .await
        .expect("click");
}

/// Waits (up to 10 s) until the browser is at `path_and_query`: a click
/// that submits a form returns before the next page has loaded.
async fn wait_for(browser: &Client, path_and_query: &str) {
    let started = Instant::now();
    loop {
        let url = browser.current_url().await.expect("url");
        let here = match url.query() {
            Some(query) => format!("{}?{query}", url.path()),
            None => url.path().to_owned(),
        };
        if here == path_and_query {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "still at {here}, waiting for {path_and_query}"
        );
        actix_web::rt::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn path_of(browser: &Client) -> String {
    browser.current_url().await.expect("url").path().to_owned()
}

async fn text_of(browser: &Client, css: &str) -> String {
    browser
        .wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css(css))
        .await
        .expect(css)
        .text()
        .await
        .expect("text")
}

async fn sign_in(browser: &Client, app: &TestApp, username: &str) {
    browser
        .goto(&app.url("/console/login"))
        .await
        .expect("sign-in page");
    fill(browser, "#username", username).await;
    fill(browser, "#password", PASSWORD).await;
    click(browser, "#sign-in").await;
}

#[actix_web::test]
#[cfg_attr(
    not(browser_tests),
    ignore = "chromedriver not found (install the Debian packages chromium and chromium-driver, \
              or set CHROMEDRIVER)"
)]
async fn an_admin_revokes_a_lost_phone_in_the_browser_and_the_api_refuses_it_at_once() {
    let Some(driver_binary) = chromedriver() else {
        panic!(
            "chromedriver not found (install the Debian packages chromium and \
             chromium-driver, or set CHROMEDRIVER)"
        );
    };
    let driver = Driver::start(&driver_binary);
    let profile = tempfile::tempdir().expect("profile dir");
    let browser = browser(&driver, profile.path()).await;

    let app = TestApp::spawn(Backend::Sqlite).await;
    app.create_user("root", "root@example.com", true);
    let alice = app.create_user("alice", "alice@example.com", false);
    app.create_user("alina", "alina@example.com", false);
    app.create_user("bob", "bob@example.com", false);
    let server = &app;
    let login = |agent: &'static str, client: &'static str| async move {
        let answer: Value = server
            .request(Method::POST, "/login")
            .header("User-Agent", agent)
            .json(&json!({"username": "alice", "password": PASSWORD, "client": client}))
            .send()
            .await
            .expect("login")
            .json()
            .await
            .expect("json");
        let key = answer["auth_token"].as_str();
        key.unwrap_or_else(|| panic!("{client} key: {answer}"))
            .to_owned()
    };
    let web = login("Mozilla/5.0 (X11; Linux x86_64) Firefox/133.0", "web").await;
    let ios = login("AliceApp/2.4 (iPhone; iOS 18.1)", "ios").await;

    // A non-admin cannot sign in.
    sign_in(&browser, &app, "bob").await;
    assert_eq!(text_of(&browser, "#error").await, NOT_AN_ADMIN);
    browser
        .goto(&app.url("/console/users"))
        .await
        .expect("users");
    assert_eq!(
        path_of(&browser).await,
        "/console/login",
        "bob has no session"
    );

    // The admin signs in, finds alice, and opens her devices.
    sign_in(&browser, &app, "root").await;
    wait_for(&browser, "/console/users").await;
    fill(&browser, "#search", "ALI").await;
    click(&browser, "#search-button").await;
    wait_for(&browser, "/console/users?search=ALI").await;
    assert_eq!(text_of(&browser, "p.count").await, "2 users");
    browser
        .find(Locator::LinkText("alice"))
        .await
        .expect("alice's link")
        .click()
        .await
        .expect("click");
    wait_for(&browser, &format!("/console/users/{alice}")).await;
    assert_eq!(text_of(&browser, "h1").await, "alice");
    let clients = browser
        .find_all(Locator::Css("table.devices td.client"))
        .await
        .expect("devices");
    let mut names = Vec::new();
    for cell in clients {
        names.push(cell.text().await.expect("client"));
    }
    assert_eq!(names, ["ios", "web"]);
    assert!(text_of(&browser, "tr[data-client=ios] td.agent")
        .await
        .contains("iPhone"));

    let screenshot = browser.screenshot().await.expect("screenshot");
    let shot = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("console-screenshot.png");
    std::fs::write(&shot, screenshot).expect("save the screenshot");
    eprintln!("console screenshot saved to {}", shot.display());

    // Revoke the lost phone.
    click(&browser, "#revoke-ios").await;
    assert_eq!(
        text_of(&browser, "p.flash").await,
        "Revoked the ios device of alice."
    );
    assert!(browser
        .find_all(Locator::Css("tr[data-client=ios]"))
        .await
        .expect("rows")
        .is_empty());
    assert_unauthorized(app.whoami(&ios).await, "Invalid token.").await;
    assert_eq!(app.whoami_status(&web).await, StatusCode::OK);

    // A form posted without its CSRF token is refused.
    browser
        .execute(
            "document.querySelector('tr[data-client=web] input[name=csrf_token]').remove()",
            vec![],
        )
        .await
        .expect("drop the token from the form");
    click(&browser, "#revoke-web").await;
    wait_for(&browser, &format!("/console/users/{alice}/revoke")).await;
    assert_eq!(text_of(&browser, "h1").await, "Forbidden");
    assert!(text_of(&browser, "p.error")
        .await
        .contains("security token"));
    app.assert_whoami(&web, StatusCode::OK, "web still works")
        .await;

    // Signing out ends the session.
    browser
        .goto(&app.url("/console/users"))
        .await
        .expect("users");
    click(&browser, "#sign-out").await;
    wait_for(&browser, "/console/login").await;
    browser
        .goto(&app.url("/console/users"))
        .await
        .expect("users");
    assert_eq!(path_of(&browser).await, "/console/login");

    browser.close().await.expect("close the browser");
}
