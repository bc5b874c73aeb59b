//! The HTTP client of the server's own requests to services it trusts for
//! keys (OpenID providers, GitHub's secret scanning keys).

use std::time::Duration;

/// A client that gives up after `timeout`, to connect as for the whole
/// exchange, and follows no redirect: as openidconnect advises, a redirect
/// could lead the server's requests anywhere (SSRF), and these services do
/// not redirect them. `purpose` names it in the error.
pub fn client(timeout: Duration, purpose: &str) -> Result<reqwest::Client, String> {
    reqwest::Client::builder()
        .connect_timeout(timeout)
        .timeout(timeout)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| format!("the HTTP client for {purpose}: {e}"))
}
