//! Property tests (proptest, standing in for `cargo fuzz`, which needs a
//! nightly toolchain) of the domain's parsers; those of the HTTP layer's
//! header and body parsers are unit tests in `src/http/`. The parsers that
//! read untrusted input never panic,
//! accept exactly what they should, and round-trip where a round trip exists.
//! `PROPTEST_CASES` sets how many inputs each property tries (256 by default).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use multitoken::domain::client_address::{client_address, TrustedProxies};
use multitoken::domain::duration::format_duration;
use multitoken::domain::{parse_duration, ThrottleLimit};
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
}
