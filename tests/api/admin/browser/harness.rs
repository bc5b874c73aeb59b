//! What the browser tests share: chromedriver and a headless Chromium at a
//! given width (one browser at a time across the suite), the steps a person
//! takes (fill, click, wait for a page), and the checks every page must
//! pass: nothing sideways ([`Browser::assert_fits`]) and no serious or
//! critical axe-core finding ([`Browser::assert_accessible`]).

use crate::helpers::{wait_until_listening, TestApp, PASSWORD};
use fantoccini::actions::{InputSource, MouseActions, PointerAction};
use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Map, Value};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The widths every page must hold at: a phone, a laptop, a desktop.
pub const WIDTHS: [u32; 3] = [390, 1280, 1920];
/// The window's height, as a laptop's.
pub const HEIGHT: u32 = 900;

/// What the buttons of a page are: real buttons, links styled as buttons
/// (the user page's actions and each device's Revoke), submit inputs.
const BUTTONS: &str = "button, a.button, input[type=submit], #actions a, a[id^=\"revoke-\"]";

/// The console session's cookie (`http::session`, not public).
const SESSION_COOKIE: &str = "multitoken_console";

/// How long a page, an element or a form's answer is waited for. A wait
/// ends as soon as what it waits for is there, so the bound costs a
/// passing test nothing; it only decides when a test gives up, and under
/// the whole suite's load (two cores shared by Chromium, every test's
/// server and its Argon2 hashes) it must be generous.
const PAGE_WAIT: Duration = Duration::from_secs(30);

/// How long a page's size must stay put, after a resize, to count as the
/// size the resize gave (a window with a frame never reaches the size
/// asked for at the first try).
const SIZE_SETTLES: Duration = Duration::from_secs(1);

const NO_DRIVER: &str = "chromedriver not found (install the Debian packages chromium and \
                         chromium-driver, or set CHROMEDRIVER)";

/// Chromium is heavy on the two shared cores and each test's own server
/// runs beside it: the browser tests take turns. A tokio mutex, not std's:
/// it is held across awaits, and each test has a runtime of its own.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn find_on_path(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(name))
            .find(|candidate| candidate.is_file())
    })
}

fn chromedriver() -> PathBuf {
    std::env::var_os("CHROMEDRIVER")
        .filter(|path| !path.is_empty())
        .map(PathBuf::from)
        .or_else(|| find_on_path("chromedriver"))
        .unwrap_or_else(|| panic!("{NO_DRIVER}"))
}

fn chrome_binary() -> Option<PathBuf> {
    std::env::var_os("CHROME_BIN")
        .filter(|path| !path.is_empty())
        .map(PathBuf::from)
        .or_else(|| find_on_path("chromium"))
}

/// axe-core's script, from `tests/console_browser/node_modules` (`npm ci`
/// there, as `.ci/run` does). `build.rs` builds the tests that need it as
/// ignored when it is missing, except under CI, where this fails them.
fn axe_source() -> &'static str {
    static SOURCE: OnceLock<String> = OnceLock::new();
    SOURCE.get_or_init(|| {
        let path = Path::new(env!("MULTITOKEN_REPOSITORY"))
            .join("tests/console_browser/node_modules/axe-core/axe.min.js");
        std::fs::read_to_string(&path).unwrap_or_else(|error| {
            panic!(
                "axe-core not found at {} ({error}): run `npm ci` in tests/console_browser",
                path.display()
            )
        })
    })
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
        let mut child = Command::new(binary)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        if let Err(why) = wait_until_listening(&mut child, port, Duration::from_secs(20)) {
            panic!("chromedriver {why}");
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

/// A headless Chromium session on the console of one test's server.
pub struct Browser {
    pub client: Client,
    base: String,
    // Dropped after the client's session: the driver, then its profile.
    _driver: Driver,
    _profile: tempfile::TempDir,
    _turn: tokio::sync::MutexGuard<'static, ()>,
}

impl Browser {
    /// Starts chromedriver and Chromium, `width` pixels wide, once the
    /// browser before it has finished.
    pub async fn open(app: &TestApp, width: u32) -> Browser {
        let turn = ONE_AT_A_TIME.lock().await;
        let driver = Driver::start(&chromedriver());
        let profile = tempfile::tempdir().expect("profile dir");
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
                "--hide-scrollbars",
                "--force-device-scale-factor=1",
                format!("--window-size={width},{HEIGHT}"),
                format!("--user-data-dir={}", profile.path().display()),
            ]),
        );
        if let Some(binary) = chrome_binary() {
            options.insert("binary".into(), json!(binary.display().to_string()));
        }
        let mut capabilities = Map::new();
        capabilities.insert("browserName".into(), json!("chrome"));
        capabilities.insert("goog:chromeOptions".into(), Value::Object(options));
        let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(capabilities)
            .connect(&driver.url)
            .await
            .expect("a WebDriver session with headless Chromium");
        let browser = Browser {
            client,
            base: app.address.clone(),
            _driver: driver,
            _profile: profile,
            _turn: turn,
        };
        browser.goto("/console/login").await;
        browser.set_width(width).await;
        browser
    }

    /// Resizes the window so that the page is `width` CSS pixels wide
    /// (`window.innerWidth`), whatever the window's frame takes.
    pub async fn set_width(&self, width: u32) {
        self.set_size(width, HEIGHT).await;
    }

    async fn set_size(&self, width: u32, height: u32) {
        let (mut outer_width, mut outer_height) = (width, height);
        for _ in 0..3 {
            self.client
                .set_window_size(outer_width, outer_height)
                .await
                .expect("set the window's size");
            let (inner_width, inner_height) = self.inner_size_once_settled(width, height).await;
            if inner_width == width && inner_height == height {
                return;
            }
            // The frame around the page, if any, comes on top.
            outer_width = (outer_width + width).saturating_sub(inner_width);
            outer_height = (outer_height + height).saturating_sub(inner_height);
        }
        let (inner_width, inner_height) = self.inner_size().await;
        panic!(
            "asked for a page of {width}×{height} CSS pixels, Chromium gives \
             {inner_width}×{inner_height}"
        );
    }

    /// The page's size once it is `width`×`height`, or once it has stayed
    /// the same for a while: a loaded machine can answer the resize before
    /// the page has seen it, and a frame measured from a stale size would
    /// be wrong.
    async fn inner_size_once_settled(&self, width: u32, height: u32) -> (u32, u32) {
        let mut last = self.inner_size().await;
        let mut unchanged_since = Instant::now();
        let started = Instant::now();
        while last != (width, height)
            && unchanged_since.elapsed() < SIZE_SETTLES
            && started.elapsed() < PAGE_WAIT
        {
            actix_web::rt::time::sleep(Duration::from_millis(50)).await;
            let now = self.inner_size().await;
            if now != last {
                last = now;
                unchanged_since = Instant::now();
            }
        }
        last
    }

    async fn inner_size(&self) -> (u32, u32) {
        let inner = self
            .script("return [window.innerWidth, window.innerHeight]")
            .await;
        let size = |index: usize| {
            inner[index]
                .as_u64()
                .and_then(|pixels| u32::try_from(pixels).ok())
                .unwrap_or_else(|| panic!("the window's inner size: {inner}"))
        };
        (size(0), size(1))
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn goto(&self, path: &str) {
        self.client
            .goto(&self.url(path))
            .await
            .unwrap_or_else(|error| panic!("open {path}: {error}"));
    }

    pub async fn script(&self, script: &str) -> Value {
        self.client
            .execute(script, vec![])
            .await
            .unwrap_or_else(|error| panic!("run `{script}`: {error}"))
    }

    pub async fn find(&self, css: &str) -> Element {
        let found = self
            .client
            .wait()
            .at_most(PAGE_WAIT)
            .for_element(Locator::Css(css))
            .await;
        match found {
            Ok(element) => element,
            Err(error) => panic!("no {css} on {}: {error}", self.here().await),
        }
    }

    pub async fn find_all(&self, css: &str) -> Vec<Element> {
        self.client
            .find_all(Locator::Css(css))
            .await
            .unwrap_or_else(|error| panic!("{css}: {error}"))
    }

    pub async fn fill(&self, css: &str, text: &str) {
        let field = self.find(css).await;
        field.clear().await.expect("clear");
        field.send_keys(text).await.expect("type");
    }

    pub async fn click(&self, css: &str) {
        self.find(css).await.click().await.expect("click");
    }

    pub async fn text_of(&self, css: &str) -> String {
        self.find(css).await.text().await.expect("text")
    }

    pub async fn attr_of(&self, css: &str, name: &str) -> Option<String> {
        self.find(css).await.attr(name).await.expect("attribute")
    }

    /// Moves the mouse over the element, as a person pointing at it.
    pub async fn hover(&self, element: &Element) {
        let pointer = MouseActions::new("mouse".into()).then(PointerAction::MoveToElement {
            element: element.clone(),
            duration: None,
            x: 0,
            y: 0,
        });
        self.client
            .perform_actions(pointer)
            .await
            .expect("move the mouse");
    }

    /// Path and query of the page shown.
    pub async fn here(&self) -> String {
        let url = self.client.current_url().await.expect("url");
        match url.query() {
            Some(query) => format!("{}?{query}", url.path()),
            None => url.path().to_owned(),
        }
    }

    pub async fn path(&self) -> String {
        self.client
            .current_url()
            .await
            .expect("url")
            .path()
            .to_owned()
    }

    /// Waits (up to [`PAGE_WAIT`]) until the browser is at `path_and_query`: a click
    /// that submits a form returns before the next page has loaded.
    pub async fn wait_for(&self, path_and_query: &str) {
        self.wait_until(|here| here == path_and_query, path_and_query)
            .await;
    }

    /// Waits (up to [`PAGE_WAIT`]) until the path and query shown pass `test`.
    pub async fn wait_until(&self, test: impl Fn(&str) -> bool, what: &str) {
        let started = Instant::now();
        loop {
            let here = self.here().await;
            let loaded = self.script("return document.readyState").await;
            if test(&here) && loaded == "complete" {
                return;
            }
            assert!(
                started.elapsed() < PAGE_WAIT,
                "still at {here}, waiting for {what}"
            );
            actix_web::rt::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Signs in through the form and waits for the answer: another page,
    /// or the form again with its error.
    pub async fn sign_in(&self, username: &str) {
        self.goto("/console/login").await;
        self.fill("#username", username).await;
        self.fill("#password", PASSWORD).await;
        self.click("#sign-in").await;
        let started = Instant::now();
        while self.path().await == "/console/login" && self.find_all("#error").await.is_empty() {
            assert!(
                started.elapsed() < PAGE_WAIT,
                "signing in as {username}: no answer"
            );
            actix_web::rt::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The console's session cookie as a `Cookie` header, for requests
    /// made over HTTP on the browser's behalf.
    pub async fn session_cookie(&self) -> String {
        let cookie = self
            .client
            .get_named_cookie(SESSION_COOKIE)
            .await
            .expect("the console's session cookie");
        format!("{}={}", cookie.name(), cookie.value())
    }

    /// Fails unless the page at `what` fits the window: no sideways
    /// scrolling (`document.documentElement.scrollWidth <= innerWidth`),
    /// and every visible button inside [0, innerWidth]. The message names
    /// the offending buttons and the widest elements past the edge.
    pub async fn assert_fits(&self, what: &str) {
        if let Err(failure) = self.fits(what).await {
            panic!("{failure}");
        }
    }

    /// [`Browser::assert_fits`]'s check, its failure as a message.
    pub async fn fits(&self, what: &str) -> Result<(), String> {
        let report = self
            .client
            .execute(
                r#"
                window.scrollTo(0, 0);
                const width = window.innerWidth;
                const describe = (element) => {
                    const box = element.getBoundingClientRect();
                    const name = element.tagName.toLowerCase()
                        + (element.id ? '#' + element.id : '')
                        + [...element.classList].map((c) => '.' + c).join('');
                    const text = (element.innerText || element.value || '').trim().slice(0, 40);
                    return `${name} "${text}" left ${Math.round(box.left)} right ${Math.round(box.right)} width ${Math.round(box.width)}`;
                };
                const visible = (element) => {
                    const box = element.getBoundingClientRect();
                    const style = getComputedStyle(element);
                    return (box.width > 0 || box.height > 0) && style.visibility !== 'hidden';
                };
                const buttons = [...document.querySelectorAll(arguments[0])]
                    .filter(visible)
                    .filter((element) => {
                        const box = element.getBoundingClientRect();
                        return box.left < 0 || box.right > width + 0.5;
                    })
                    .map(describe);
                // The outermost elements past the right edge say what pushes
                // the page wider.
                const wide = [...document.body.querySelectorAll('*')]
                    .filter(visible)
                    .filter((element) => element.getBoundingClientRect().right > width + 0.5)
                    .filter((element) => !(element.parentElement
                        && element.parentElement.getBoundingClientRect().right > width + 0.5))
                    .slice(0, 8)
                    .map(describe);
                return {
                    innerWidth: width,
                    scrollWidth: document.documentElement.scrollWidth,
                    buttons,
                    wide,
                };
                "#,
                vec![json!(BUTTONS)],
            )
            .await
            .expect("measure the page");
        let width = report["innerWidth"].as_u64().expect("innerWidth");
        let scroll = report["scrollWidth"].as_u64().expect("scrollWidth");
        let buttons = report["buttons"].as_array().expect("buttons");
        eprintln!(
            "{what}: the page is {scroll} px wide in a {width} px window, {} buttons outside",
            buttons.len()
        );
        if scroll > width || !buttons.is_empty() {
            return Err(format!(
                "{what} does not fit {width} px: the page is {scroll} px wide; \
                 buttons outside the window: {buttons:#?}; outermost elements past the edge: {:#?}",
                report["wide"]
            ));
        }
        Ok(())
    }

    /// Fails if axe-core finds a serious or critical violation on the page
    /// shown; lesser ones are printed. WebDriver's scripts run outside the
    /// page's Content-Security-Policy, so the console's CSP does not stop
    /// axe-core (nor does the console have to allow it).
    pub async fn assert_accessible(&self, what: &str) {
        if let Err(failure) = self.accessible(what).await {
            panic!("{failure}");
        }
    }

    /// [`Browser::assert_accessible`]'s check, its failure as a message.
    pub async fn accessible(&self, what: &str) -> Result<(), String> {
        let source = axe_source();
        self.client
            .execute(&format!("{source}\nreturn typeof axe;"), vec![])
            .await
            .expect("inject axe-core");
        let found = self
            .client
            .execute_async(
                r#"
                const done = arguments[arguments.length - 1];
                axe.run(document, { resultTypes: ['violations'] })
                    .then((results) => done(results.violations.map((violation) => ({
                        id: violation.id,
                        impact: violation.impact,
                        help: violation.help,
                        targets: violation.nodes.map((node) => node.target.join(' ')),
                    }))))
                    .catch((error) => done({ error: String(error) }));
                "#,
                vec![],
            )
            .await
            .expect("run axe-core");
        if let Some(error) = found.get("error") {
            panic!("axe-core failed on {what}: {error}");
        }
        let violations = found.as_array().expect("axe-core's violations");
        let (grave, lesser): (Vec<&Value>, Vec<&Value>) =
            violations.iter().partition(|violation| {
                matches!(violation["impact"].as_str(), Some("serious" | "critical"))
            });
        for violation in &lesser {
            eprintln!("axe-core on {what} (not failing): {violation}");
        }
        if grave.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "axe-core: serious or critical violations on {what}: {:#}",
                Value::from(grave.into_iter().cloned().collect::<Vec<_>>())
            ))
        }
    }

    /// A picture of the whole page (the window made as tall as it is),
    /// `width` pixels wide, then the window back to its usual height.
    pub async fn screenshot_whole(&self, width: u32) -> Vec<u8> {
        let height = self
            .script("return Math.max(document.documentElement.scrollHeight, document.body.scrollHeight)")
            .await
            .as_u64()
            .expect("the page's height") as u32;
        self.set_size(width, height.max(HEIGHT)).await;
        let picture = self.client.screenshot().await.expect("screenshot");
        self.set_size(width, HEIGHT).await;
        picture
    }

    pub async fn close(self) {
        self.client
            .clone()
            .close()
            .await
            .expect("close the browser");
    }
}
