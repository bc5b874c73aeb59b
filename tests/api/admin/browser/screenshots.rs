//! Pictures of each console page at 1280 and 390 pixels, whole pages, for
//! the book: `scripts/console-screenshots` runs this test with
//! `CONSOLE_SCREENSHOTS=docs/src/images/console`. Otherwise the pictures
//! go to `target/tmp/console-screenshots/`, never into `docs/`.

use super::harness::Browser;
use super::Console;
use crate::helpers::in_browser;
use std::path::{Path, PathBuf};

/// Each page: the picture's name, its path (`{alice}` is alice's id) and a
/// CSS selector only that page has, to be sure it is the page meant.
const PAGES: [(&str, &str, &str); 6] = [
    ("login", "/console/login", "#sign-in"),
    ("dashboard", "/console/", "svg#chart-signins-24h"),
    ("users", "/console/users", "a[href^=\"/console/users/\"]"),
    ("user", "/console/users/{alice}", "[data-client=ios]"),
    (
        "confirm",
        "/console/users/{alice}/revoke?client=ios",
        "button#confirm",
    ),
    ("events", "/console/events", "form#filters"),
];

#[in_browser]
async fn screenshots() {
    let folder = std::env::var_os("CONSOLE_SCREENSHOTS")
        .filter(|folder| !folder.is_empty())
        // cargo runs the tests in their package's folder: a relative
        // folder is the repository's.
        .map(|folder| Path::new(env!("MULTITOKEN_REPOSITORY")).join(folder))
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("console-screenshots"));
    std::fs::create_dir_all(&folder).expect("the screenshots' folder");
    let console = Console::start().await;
    let browser = Browser::open(&console.app, 1280).await;
    let mut missing = Vec::new();
    for width in [1280, 390] {
        browser.set_width(width).await;
        for (name, path, marker) in PAGES {
            // The sign-in page is seen signed out, the others signed in.
            if name == "login" {
                browser.client.delete_all_cookies().await.expect("sign out");
            } else if browser.path().await == "/console/login" {
                browser.sign_in("root").await;
            }
            let path = path.replace("{alice}", &console.alice.to_string());
            browser.goto(&path).await;
            // A page that is not there yet is reported, not pictured.
            if browser.find_all(marker).await.is_empty() {
                missing.push(format!("{name}: no {marker} at {}", browser.here().await));
                continue;
            }
            let picture = browser.screenshot_whole(width).await;
            let file = folder.join(format!("{name}-{width}.png"));
            std::fs::write(&file, picture).expect("save the screenshot");
            eprintln!("{}", file.display());
        }
    }
    browser.close().await;
    assert!(missing.is_empty(), "pages not pictured: {missing:#?}");
}
