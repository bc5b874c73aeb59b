//! Property tests (proptest, standing in for `cargo fuzz`, which needs a
//! nightly toolchain) of the domain's parsers; those of the HTTP layer's
//! header and body parsers are unit tests in `src/http/`. The parsers that
//! read untrusted input never panic,
//! accept exactly what they should, and round-trip where a round trip exists.
//! `PROPTEST_CASES` sets how many inputs each property tries (256 by default).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use multitoken::domain::client_address::{client_address, TrustedProxies};
use multitoken::domain::duration::format_duration;
use multitoken::domain::jws::{has_low_s_signature, with_low_s};
use multitoken::domain::oidc::{
    id_token_digest, is_acceptable_subject, issued_recently, remembered_until, username_base,
};
use multitoken::domain::username::Username;
use multitoken::domain::{parse_duration, ThrottleLimit, Timestamp};
use proptest::prelude::*;
use std::net::IpAddr;
use std::time::Duration;

const MAX_SECONDS: u64 = 10_000 * 365 * 86_400;

proptest! {
    #[test]
    fn the_duration_parser_never_panics_and_stays_in_range(text in "\\PC{0,30}") {
        if let Ok(duration) = parse_duration(&text) {
            prop_assert!(duration.as_secs() <= MAX_SECONDS);
        }
    }

    #[test]
    fn numbers_with_a_unit_parse_to_what_they_say(number in 0u64..10_000_000, unit in prop_oneof![Just(("s", 1u64)), Just(("m", 60)), Just(("h", 3600)), Just(("d", 86_400))]) {
        let parsed = parse_duration(&format!("{number}{}", unit.0));
        match number.checked_mul(unit.1).filter(|s| *s <= MAX_SECONDS) {
            Some(seconds) => prop_assert_eq!(parsed, Ok(Duration::from_secs(seconds))),
            None => prop_assert!(parsed.is_err()),
        }
    }

    #[test]
    fn formatted_durations_parse_back(seconds in 0u64..=MAX_SECONDS) {
        let duration = Duration::from_secs(seconds);
        prop_assert_eq!(parse_duration(&format_duration(duration)), Ok(duration));
    }

    #[test]
    fn throttle_limits_never_panic_and_round_trip(text in "\\PC{0,20}", attempts in 1u32.., seconds in 1u64..=MAX_SECONDS) {
        let _ = ThrottleLimit::parse(&text);
        let limit = ThrottleLimit { attempts, window: Duration::from_secs(seconds) };
        prop_assert_eq!(ThrottleLimit::parse(&limit.to_string()), Ok(limit));
    }

    #[test]
    fn untrusted_peers_are_the_client_whatever_the_header(peer in any::<IpAddr>(), header in "\\PC{0,80}") {
        let address = client_address(peer, [header.as_str()].into_iter(), &TrustedProxies::default());
        prop_assert_eq!(address, peer.to_canonical());
    }

    #[test]
    fn behind_a_trusted_proxy_the_rightmost_untrusted_hop_wins(
        spoofed in "\\PC{0,40}",
        client in any::<std::net::Ipv4Addr>(),
        other_bits in 1u32..,
    ) {
        let proxy = std::net::Ipv4Addr::from(u32::from(client) ^ other_bits);
        let trusted = TrustedProxies::parse(&proxy.to_string()).unwrap();
        let header = format!("{spoofed}, {client}, {proxy}");
        let address = client_address(IpAddr::V4(proxy), [header.as_str()].into_iter(), &trusted);
        prop_assert_eq!(address, IpAddr::V4(client));
    }

    // The claims of an ID token, as social login reads them: whatever a
    // provider (or a forger with a provider's key) puts in them.

    #[test]
    fn an_accepted_subject_is_storable_text_of_at_most_255_bytes(subject in "\\PC{0,300}|.{0,300}|[\\x00-\\x1f]{1,5}") {
        if is_acceptable_subject(&subject) {
            prop_assert!(!subject.is_empty() && subject.len() <= 255);
            prop_assert!(!subject.contains('\0'));
            prop_assert!(!subject.chars().any(char::is_control));
        }
    }

    #[test]
    fn new_usernames_from_any_claims_are_valid_usernames(
        preferred in proptest::option::of("\\PC{0,200}|.{0,200}"),
        email in proptest::option::of("\\PC{0,200}|.{0,200}"),
    ) {
        let base = username_base(preferred.as_deref(), email.as_deref());
        prop_assert!(Username::parse(&base).is_ok(), "{:?}", base);
        // Room for the suffix that makes it unique.
        let numbered = format!("{base}1000");
        prop_assert!(Username::parse(&numbered).is_ok(), "{:?}", numbered);
    }

    #[test]
    fn any_iat_is_judged_without_panicking_and_only_recent_ones_pass(iat in any::<i64>(), now_seconds in 0i64..4_000_000_000) {
        let now = Timestamp(now_seconds * 1000);
        if issued_recently(iat, now) {
            prop_assert!(iat >= now_seconds - 600 && iat <= now_seconds + 60);
        }
    }

    #[test]
    fn a_used_id_token_is_remembered_at_most_twelve_minutes_past_its_iat(iat in any::<i64>(), exp in any::<i64>()) {
        let until = remembered_until(iat, exp).millis();
        if iat.checked_add(720).and_then(|s| s.checked_mul(1000)).is_some() {
            prop_assert!(until <= (iat + 720) * 1000);
        }
    }

    #[test]
    fn id_token_digests_differ_with_the_signed_part_not_the_signature(
        header in "[A-Za-z0-9_-]{1,20}",
        claims in "[A-Za-z0-9_-]{1,40}",
        one in "[A-Za-z0-9_-]{0,40}",
        other in "[A-Za-z0-9_-]{0,40}",
        other_claims in "[A-Za-z0-9_-]{1,40}",
    ) {
        let digest = id_token_digest("corp", &format!("{header}.{claims}.{one}"));
        prop_assert_eq!(digest, id_token_digest("corp", &format!("{header}.{claims}.{other}")));
        if other_claims != claims {
            prop_assert_ne!(digest, id_token_digest("corp", &format!("{header}.{other_claims}.{one}")));
        }
    }

    #[test]
    fn the_low_s_rule_never_panics_and_low_s_tokens_pass_it(token in "\\PC{0,200}", signature in proptest::collection::vec(any::<u8>(), 64)) {
        let _ = has_low_s_signature(&token);
        let _ = with_low_s(&token);
        use base64::Engine;
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let es256 = format!("{}.e30.{}", b64.encode(r#"{"alg":"ES256"}"#), b64.encode(&signature));
        let low = with_low_s(&es256);
        prop_assert!(has_low_s_signature(&low));
        // n - s is below n for s in 1..n: the other half, unless s is 0 or n/2.
        prop_assert_eq!(with_low_s(&low), low);
    }
}
