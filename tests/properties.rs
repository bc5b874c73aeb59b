//! Property tests (proptest, standing in for `cargo fuzz`, which needs a
//! nightly toolchain): the parsers that read untrusted input never panic,
//! accept exactly what they should, and round-trip where a round trip exists.
//! `PROPTEST_CASES` sets how many inputs each property tries (256 by default).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use actix_web::http::header::{HeaderMap, HeaderValue, AUTHORIZATION};
use multitoken::auth::{basic_credentials, token_from_header};
use multitoken::body::Fields;
use multitoken::domain::client_address::{client_address, TrustedProxies};
use multitoken::domain::duration::format_duration;
use multitoken::domain::{parse_duration, ThrottleLimit};
use multitoken::error::{ApiError, AuthFailure};
use proptest::prelude::*;
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::Duration;

const MAX_SECONDS: u64 = 10_000 * 365 * 86_400;

fn keyword() -> impl Strategy<Value = String> {
    prop_oneof![Just("Token"), Just("Bearer")].prop_flat_map(|word| {
        proptest::collection::vec(any::<bool>(), word.len()).prop_map(move |upper| {
            word.chars()
                .zip(upper)
                .map(|(c, up)| {
                    if up {
                        c.to_ascii_uppercase()
                    } else {
                        c.to_ascii_lowercase()
                    }
                })
                .collect()
        })
    })
}

proptest! {
    #[test]
    fn the_token_header_parser_never_panics(header in proptest::option::of(proptest::collection::vec(any::<u8>(), 0..200))) {
        let _ = token_from_header(header.as_deref());
    }

    #[test]
    fn a_parsed_key_is_printable_ascii_taken_from_the_header(header in proptest::collection::vec(any::<u8>(), 0..200)) {
        if let Ok(key) = token_from_header(Some(&header)) {
            prop_assert!(!key.is_empty());
            prop_assert!(key.bytes().all(|b| b.is_ascii_graphic()));
            prop_assert!(header.windows(key.len()).any(|w| w == key.as_bytes()));
        }
    }

    #[test]
    fn every_keyword_and_printable_key_round_trips(
        keyword in keyword(),
        key in "[!-~]{1,100}",
        before in "[ \t]{0,3}",
        between in "[ \t]{1,3}",
        after in "[ \t]{0,3}",
    ) {
        let header = format!("{before}{keyword}{between}{key}{after}");
        prop_assert_eq!(token_from_header(Some(header.as_bytes())), Ok(key.as_str()));
    }

    #[test]
    fn two_words_after_the_keyword_are_refused(keyword in keyword(), a in "[!-~]{1,20}", b in "[!-~]{1,20}") {
        let header = format!("{keyword} {a} {b}");
        prop_assert_eq!(token_from_header(Some(header.as_bytes())), Err(AuthFailure::ContainsSpaces));
    }

    #[test]
    fn basic_credentials_never_panic(header in "\\PC{0,100}") {
        let mut headers = HeaderMap::new();
        if let Ok(value) = HeaderValue::from_str(&format!("Basic {header}")) {
            headers.insert(AUTHORIZATION, value);
        }
        let _ = basic_credentials(&headers);
    }

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
    fn body_decoding_never_panics_nor_fails_as_a_server_error(
        content_type in prop_oneof![
            Just("application/json".to_owned()),
            Just("application/x-www-form-urlencoded; charset=utf-8".to_owned()),
            "\\PC{0,40}",
        ],
        body in proptest::collection::vec(any::<u8>(), 0..300),
    ) {
        match Fields::decode(&content_type, &body) {
            Ok(_) | Err(ApiError::BadRequest(_) | ApiError::Fields(_) | ApiError::UnsupportedMediaType(_)) => {}
            Err(other) => prop_assert!(false, "unexpected error {other:?}"),
        }
    }

    #[test]
    fn json_objects_of_strings_round_trip(fields in proptest::collection::btree_map("\\PC{0,10}", "\\PC{0,20}", 0..6)) {
        let body = serde_json::to_vec(&fields).unwrap();
        let decoded = Fields::decode("application/json", &body).unwrap();
        for (name, value) in &fields {
            prop_assert_eq!(decoded.text(name), Ok(Some(value.as_str())));
        }
    }

    #[test]
    fn forms_round_trip_and_the_last_repeat_wins(pairs in proptest::collection::vec(("[a-c]{1,2}", "\\PC{0,20}"), 1..8)) {
        let body = serde_urlencoded::to_string(&pairs).unwrap();
        let decoded = Fields::decode("application/x-www-form-urlencoded", body.as_bytes()).unwrap();
        let last: BTreeMap<&str, &str> = pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        for (name, value) in last {
            prop_assert_eq!(decoded.text(name), Ok(Some(value)));
        }
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
}
