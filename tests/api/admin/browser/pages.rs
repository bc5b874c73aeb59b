//! Every console page at every width: no sideways scrolling, every button
//! inside the window, no serious or critical axe-core violation. Each test
//! checks one page at 390, 1280 and 1920 pixels and reports every failure
//! at once, so that one run shows the whole picture.

use super::harness::{Browser, WIDTHS};
use super::Console;
use crate::helpers::in_browser;

/// Opens `path` at each width, checks that it is the page meant (`marker`,
/// a CSS selector only that page has), then its fit and its accessibility.
async fn check_page(browser: &Browser, path: &str, marker: &str) {
    let mut failures = Vec::new();
    for width in WIDTHS {
        browser.set_width(width).await;
        browser.goto(path).await;
        if browser.find_all(marker).await.is_empty() {
            panic!(
                "{path} is not the page expected (no {marker}) at {}: {}",
                browser.here().await,
                browser.text_of("h1").await
            );
        }
        let what = format!("{path} at {width} px");
        if let Err(failure) = browser.fits(&what).await {
            failures.push(failure);
        }
        if let Err(failure) = browser.accessible(&what).await {
            failures.push(failure);
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// Signs `root` in and checks each of `pages` (path, marker).
async fn check_signed_in(pages: &[(&str, &str)]) {
    let (console, browser) = Console::signed_in(WIDTHS[0]).await;
    for (path, marker) in pages {
        let path = path.replace("{alice}", &console.alice.to_string());
        check_page(&browser, &path, marker).await;
    }
    browser.close().await;
}

#[in_browser(axe)]
async fn the_sign_in_page_fits_every_width_and_passes_axe_core() {
    let console = Console::start().await;
    let browser = Browser::open(&console.app, WIDTHS[0]).await;
    check_page(&browser, "/console/login", "#sign-in").await;
    // With its error message too.
    browser.fill("#username", "root").await;
    browser.fill("#password", "not-the-password").await;
    browser.click("#sign-in").await;
    browser.find("#error").await;
    for width in WIDTHS {
        browser.set_width(width).await;
        let what = format!("the sign-in page with an error at {width} px");
        browser.assert_fits(&what).await;
        browser.assert_accessible(&what).await;
    }
    browser.close().await;
}

#[in_browser(axe)]
async fn the_users_list_fits_every_width_and_passes_axe_core() {
    check_signed_in(&[("/console/users", "a[href^=\"/console/users/\"]")]).await;
}

/// Alice's page: three devices whose user agents are 300 characters
/// without a space, scopes, a linked identity, her events.
#[in_browser(axe)]
async fn a_users_page_with_long_user_agents_fits_every_width_and_passes_axe_core() {
    check_signed_in(&[("/console/users/{alice}", "[data-client=ios]")]).await;
}

#[in_browser(axe)]
async fn the_dashboard_fits_every_width_and_passes_axe_core() {
    check_signed_in(&[
        ("/console/", "svg#chart-signins-24h"),
        ("/console", "table#newest-events"),
    ])
    .await;
}

#[in_browser(axe)]
async fn the_create_user_form_fits_every_width_and_passes_axe_core() {
    check_signed_in(&[("/console/users/new", "button#create")]).await;
}

#[in_browser(axe)]
async fn the_confirmation_pages_fit_every_width_and_pass_axe_core() {
    check_signed_in(&[
        ("/console/users/{alice}/revoke?client=web", "button#confirm"),
        ("/console/users/{alice}/deactivate", "button#confirm"),
    ])
    .await;
}

#[in_browser(axe)]
async fn the_events_page_fits_every_width_and_passes_axe_core() {
    check_signed_in(&[
        ("/console/events", "form#filters"),
        ("/console/events?type=login_failed", "table.events"),
    ])
    .await;
}

/// The checker can fail: a page made wider than the window, and a button
/// pushed past its edge, are both caught, with their figures.
#[in_browser]
async fn the_width_check_catches_a_page_wider_than_the_window() {
    let console = Console::start().await;
    let browser = Browser::open(&console.app, 390).await;
    browser.goto("/console/login").await;
    browser.assert_fits("the sign-in page").await;
    // What the page's own CSP forbids a page to do, WebDriver may.
    browser
        .script(
            "document.querySelector('#sign-in').style.marginLeft = '500px';\
             document.querySelector('#sign-in').style.width = '120px';",
        )
        .await;
    let failure = browser.fits("the pushed button").await.expect_err("caught");
    assert!(failure.contains("button#sign-in"), "{failure}");
    assert!(failure.contains("does not fit 390 px"), "{failure}");
    browser.close().await;
}

/// The accessibility check can fail: a field whose label is taken away is
/// a critical violation (axe-core's `label`), named with its target.
#[in_browser(axe)]
async fn the_accessibility_check_catches_a_field_without_a_label() {
    let console = Console::start().await;
    let browser = Browser::open(&console.app, 1280).await;
    browser.goto("/console/login").await;
    browser.assert_accessible("the sign-in page").await;
    browser
        .script("document.querySelector('label[for=username]').remove()")
        .await;
    let failure = browser
        .accessible("the sign-in page without its label")
        .await
        .expect_err("caught");
    assert!(failure.contains("\"label\""), "{failure}");
    assert!(failure.contains("#username"), "{failure}");
    browser.close().await;
}
