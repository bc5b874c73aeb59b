//! The metrics as scraped and as documented: every series there from the
//! start, every family in the reference, and the labels of methods.

use super::*;
use std::collections::BTreeSet;

#[test]
fn every_series_is_rendered_from_the_start() {
    let Ok(metrics) = Metrics::new() else {
        panic!("metrics")
    };
    metrics.login(LoginOutcome::Failed);
    metrics.revoked(RevocationCause::Admin, 3);
    let scraped = Scraped {
        active_tokens: 7,
        pool_idle: 3,
        pool_in_use: 2,
        mails_pending: 4,
        webhooks_pending: 0,
    };
    let text = metrics.render(&scraped).unwrap_or_default();
    let build_info = format!(
        "multitoken_build_info{{version=\"{}\"}} 1",
        env!("CARGO_PKG_VERSION")
    );
    for line in [
        "multitoken_logins_total{outcome=\"ok\"} 0",
        "multitoken_logins_total{outcome=\"failed\"} 1",
        "multitoken_logins_total{outcome=\"throttled\"} 0",
        "multitoken_throttled_total{action=\"password_reset\"} 0",
        "multitoken_throttled_total{action=\"email_resend\"} 0",
        "multitoken_token_checks_total{outcome=\"expired\"} 0",
        "multitoken_revocations_total{cause=\"admin\"} 3",
        "multitoken_revocations_total{cause=\"logout_others\"} 0",
        "multitoken_revocations_total{cause=\"key\"} 0",
        "multitoken_forward_auth_total{outcome=\"forbidden\"} 0",
        "multitoken_dpop_proofs_total{result=\"replayed\"} 0",
        "multitoken_introspections_total{result=\"inactive\"} 0",
        "multitoken_active_tokens 7",
        "multitoken_token_checksum_failures_total 0",
        "multitoken_db_pool_connections{state=\"idle\"} 3",
        "multitoken_db_pool_connections{state=\"in_use\"} 2",
        "multitoken_outbox_pending{table=\"mail\"} 4",
        "multitoken_outbox_pending{table=\"webhooks\"} 0",
        build_info.as_str(),
    ] {
        assert!(text.lines().any(|l| l == line), "{line} in\n{text}");
    }
}

#[test]
fn the_metrics_reference_lists_every_family_served() {
    let page = include_str!("../../docs/src/reference/metrics.md");
    let documented: BTreeSet<&str> = page
        .lines()
        .filter_map(|line| line.strip_prefix("| `")?.split('`').next())
        .collect();
    let Ok(metrics) = Metrics::new() else {
        panic!("metrics")
    };
    // A histogram with labels shows once it has a series.
    metrics.observe_request("GET", "/healthz", 200, 0.001);
    let text = metrics.render(&Scraped::default()).unwrap_or_default();
    let served: BTreeSet<&str> = text
        .lines()
        .filter_map(|line| line.strip_prefix("# TYPE ")?.split(' ').next())
        // The process collector's families, one row.
        .map(|name| match name.starts_with("process_") {
            true => "process_*",
            false => name,
        })
        .collect();
    assert!(served.contains("process_*"), "{text}");
    assert_eq!(documented, served, "docs/src/reference/metrics.md");
}

#[test]
fn unusual_methods_share_one_label() {
    assert_eq!(method_label("BREW"), "other");
    assert_eq!(method_label("PATCH"), "PATCH");
}
