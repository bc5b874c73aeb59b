//! The console in a real browser: headless Chromium driven through
//! WebDriver (chromedriver) with fantoccini, one browser at a time.
//!
//! - `pages`: every page at 390, 1280 and 1920 pixels wide: nothing
//!   scrolls sideways, every button is inside the window, and axe-core
//!   finds no serious or critical violation;
//! - `flows`: what an admin does, by the ids of the console's spec
//!   (sign in by keyboard, create a user, revoke a device and deactivate a
//!   user through the confirmation step, filter the events and download
//!   them as CSV, read a long user agent on hover);
//! - `device`: the device grant's hosted page, `/device`, approving a TV
//!   from a phone-sized window;
//! - `screenshots`: each page at 1280 and 390 pixels, for the book
//!   (`scripts/console-screenshots`).
//!
//! Needs the Debian packages `chromium` and `chromium-driver` (or
//! `CHROMEDRIVER` and `CHROME_BIN` pointing at a driver and a browser), and
//! for the accessibility checks axe-core (`npm ci` in
//! `tests/console_browser`). `build.rs` looks for both as `cargo test`
//! builds: without them the tests are built as ignored, so that `cargo
//! test` works on a fresh machine and says they did not run; under CI (`CI`
//! set) they always run, and a missing driver or axe-core fails them.

mod device;
mod flows;
mod harness;
mod hosted;
mod pages;
mod screenshots;

use crate::helpers::{Backend, TestApp, PASSWORD};
use harness::Browser;
use reqwest::Method;
use serde_json::{json, Value};

/// The console as the browser tests find it: an admin `root`, `alice` with
/// three devices whose user agents are long and unbroken (300 characters,
/// no space), scopes, a linked identity and failed sign-ins, and enough
/// other users to fill the list.
pub struct Console {
    pub app: TestApp,
    pub alice: i64,
    /// Alice's devices: client name, key, user agent as stored.
    pub devices: Vec<(&'static str, String, String)>,
}

/// A user agent of exactly 300 characters without a space, as a broken or
/// hostile client may send, which a page must neither widen nor wrap out
/// of its box.
pub fn long_agent(client: &str) -> String {
    let mut agent = format!("Mozilla/5.0_({client};Linux;x86_64)");
    while agent.len() < 300 {
        agent.push_str("AppleWebKit/537.36_(KHTML,like_Gecko)_Chrome/131.0.6778.85_Safari/537.36;");
    }
    agent.truncate(300);
    agent
}

impl Console {
    pub async fn start() -> Console {
        let app = TestApp::spawn(Backend::Sqlite).await;
        app.create_user("root", "root@example.com", true);
        let alice = app.create_user("alice", "alice@example.com", false);
        app.create_user("bob", "bob@example.com", false);
        app.create_service_user("metrics");
        app.create_users("user", 12);
        let mut devices = Vec::new();
        for (client, scopes) in [
            (
                "web",
                json!([
                    "profile:read",
                    "profile:write",
                    "orders:read",
                    "orders:write",
                    "payments:read",
                    "audit:read",
                ]),
            ),
            ("ios", json!(["profile:read"])),
            ("cli", json!([])),
        ] {
            let agent = long_agent(client);
            let answer: Value = app
                .request(Method::POST, "/login")
                .header("User-Agent", &agent)
                .json(&json!({
                    "username": "alice",
                    "password": PASSWORD,
                    "client": client,
                    "scopes": scopes,
                }))
                .send()
                .await
                .expect("login")
                .json()
                .await
                .expect("json");
            let key = answer["auth_token"]
                .as_str()
                .unwrap_or_else(|| panic!("{client} key: {answer}"))
                .to_owned();
            // The contract keeps the first 256 characters.
            devices.push((client, key, agent.chars().take(256).collect()));
        }
        // Failed sign-ins, for the events page and the dashboard.
        for who in ["alice", "alice", "bob"] {
            app.post_login(who, "not-the-password", "web").await;
        }
        let now = multitoken::domain::Timestamp::now().millis();
        multitoken::db::identities::link(
            &mut app.connection(),
            "google",
            "108234567890123456789",
            alice,
            now,
        )
        .expect("link an identity");
        Console {
            app,
            alice,
            devices,
        }
    }

    /// The console, with `root` signed in in a browser `width` pixels wide.
    pub async fn signed_in(width: u32) -> (Console, Browser) {
        let console = Console::start().await;
        let browser = Browser::open(&console.app, width).await;
        browser.sign_in("root").await;
        (console, browser)
    }

    pub fn key_of(&self, client: &str) -> &str {
        self.devices
            .iter()
            .find(|(name, _, _)| *name == client)
            .map(|(_, key, _)| key.as_str())
            .unwrap_or_else(|| panic!("no device {client}"))
    }
}
