//! Which address a request comes from, for the login throttle.
//!
//! The peer address of the connection is the client's, unless the peer is a
//! configured trusted proxy (`TRUSTED_PROXIES`): then `X-Forwarded-For` is
//! read from the right, past every trusted hop, and the first address that
//! is not a trusted proxy is the client's. A client can put anything at the
//! left of that header, so nothing left of the first untrusted hop counts,
//! and from an untrusted peer the header is ignored altogether.

use ipnet::IpNet;
use std::fmt;
use std::net::{IpAddr, SocketAddr};

/// Addresses and CIDR ranges of the reverse proxies in front of the service.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    /// Parses a list separated by commas or spaces: `10.0.0.1, 10.1.0.0/16, ::1`.
    pub fn parse(text: &str) -> Result<Self, String> {
        text.split(|c: char| c == ',' || c.is_whitespace())
            .filter(|item| !item.is_empty())
            .map(|item| {
                item.parse::<IpNet>()
                    .or_else(|_| item.parse::<IpAddr>().map(IpNet::from))
                    .map_err(|_| {
                        format!("invalid address {item:?}: expected IP addresses or CIDR ranges such as 10.0.0.1 or 10.0.0.0/8, separated by commas")
                    })
            })
            .collect::<Result<Vec<_>, _>>()
            .map(TrustedProxies)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn contains(&self, address: IpAddr) -> bool {
        self.0.iter().any(|net| net.contains(&address))
    }
}

impl fmt::Display for TrustedProxies {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let items: Vec<String> = self.0.iter().map(IpNet::to_string).collect();
        f.write_str(&items.join(","))
    }
}

/// The client's address: `peer` itself, or, when `peer` is a trusted proxy,
/// the rightmost untrusted address of the `X-Forwarded-For` values (in the
/// order the headers came). An entry that is not an address ends the walk at
/// the last good hop.
pub fn client_address<'a>(
    peer: IpAddr,
    forwarded_for: impl DoubleEndedIterator<Item = &'a str>,
    trusted: &TrustedProxies,
) -> IpAddr {
    let peer = peer.to_canonical();
    if !trusted.contains(peer) {
        return peer;
    }
    let hops: Vec<&str> = forwarded_for.flat_map(|value| value.split(',')).collect();
    let mut client = peer;
    for hop in hops.into_iter().rev() {
        match parse_hop(hop) {
            Some(address) => {
                client = address;
                if !trusted.contains(address) {
                    break;
                }
            }
            None => break,
        }
    }
    client
}

/// One `X-Forwarded-For` entry: an address, maybe with a port (`1.2.3.4:80`,
/// `[::1]:80`).
fn parse_hop(hop: &str) -> Option<IpAddr> {
    let hop = hop.trim();
    hop.parse::<IpAddr>()
        .ok()
        .or_else(|| hop.parse::<SocketAddr>().ok().map(|socket| socket.ip()))
        .map(|address| address.to_canonical())
}

/// The throttle's key for an address: IPv4 addresses one by one, IPv6 ones
/// by their /64, since one subscriber usually holds a whole /64.
pub fn throttle_scope(address: IpAddr) -> String {
    match address.to_canonical() {
        IpAddr::V4(v4) => format!("addr:{v4}"),
        IpAddr::V6(v6) => {
            let net = ipnet::Ipv6Net::new(v6, 64)
                .map(|net| net.trunc().to_string())
                .unwrap_or_else(|_| v6.to_string());
            format!("addr:{net}")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap_or(IpAddr::from([0, 0, 0, 0]))
    }

    fn proxies(text: &str) -> TrustedProxies {
        TrustedProxies::parse(text).unwrap_or_default()
    }

    #[test]
    fn proxies_are_addresses_or_ranges_separated_by_commas() {
        let list = proxies("10.0.0.1, 192.168.0.0/16 ::1");
        assert!(list.contains(ip("10.0.0.1")));
        assert!(!list.contains(ip("10.0.0.2")));
        assert!(list.contains(ip("192.168.44.3")));
        assert!(list.contains(ip("::1")));
        assert_eq!(list.to_string(), "10.0.0.1/32,192.168.0.0/16,::1/128");
        assert_eq!(TrustedProxies::parse(""), Ok(TrustedProxies::default()));
        for bad in ["10.0.0", "proxy.internal", "10.0.0.0/33"] {
            assert!(
                TrustedProxies::parse(bad).is_err_and(|e| e.contains(bad)),
                "{bad}"
            );
        }
    }

    #[test]
    fn the_header_is_ignored_unless_the_peer_is_a_trusted_proxy() {
        let trusted = proxies("10.0.0.1");
        assert_eq!(
            client_address(ip("203.0.113.9"), ["198.51.100.1"].into_iter(), &trusted),
            ip("203.0.113.9")
        );
        assert_eq!(
            client_address(
                ip("203.0.113.9"),
                ["198.51.100.1"].into_iter(),
                &TrustedProxies::default()
            ),
            ip("203.0.113.9")
        );
    }

    #[test]
    fn from_a_trusted_proxy_the_rightmost_untrusted_hop_is_the_client() {
        let trusted = proxies("10.0.0.0/8");
        let cases: &[(&[&str], &str, &str)] = &[
            (&["198.51.100.1"], "198.51.100.1", "one hop"),
            (
                &["6.6.6.6, 198.51.100.1"],
                "198.51.100.1",
                "a spoofed entry on the left is ignored",
            ),
            (
                &["6.6.6.6, 198.51.100.1, 10.0.0.7"],
                "198.51.100.1",
                "trusted hops are skipped",
            ),
            (
                &["6.6.6.6", "198.51.100.1, 10.0.0.7"],
                "198.51.100.1",
                "several header lines in order",
            ),
            (
                &["198.51.100.1:4711"],
                "198.51.100.1",
                "an address with a port",
            ),
            (
                &["[2001:db8::1]:443"],
                "2001:db8::1",
                "an IPv6 address with a port",
            ),
            (
                &["10.0.0.9, 10.0.0.8"],
                "10.0.0.9",
                "only trusted hops: the farthest",
            ),
            (
                &["198.51.100.1, garbage"],
                "10.0.0.1",
                "garbage stops at the last good hop",
            ),
            (&[], "10.0.0.1", "no header: the proxy itself"),
        ];
        for (headers, expected, case) in cases {
            assert_eq!(
                client_address(ip("10.0.0.1"), headers.iter().copied(), &trusted),
                ip(expected),
                "{case}"
            );
        }
    }

    #[test]
    fn ipv4_mapped_peers_count_as_ipv4() {
        let trusted = proxies("127.0.0.1");
        assert_eq!(
            client_address(
                ip("::ffff:127.0.0.1"),
                ["198.51.100.1"].into_iter(),
                &trusted
            ),
            ip("198.51.100.1")
        );
    }

    #[test]
    fn ipv6_clients_are_throttled_by_their_64() {
        assert_eq!(throttle_scope(ip("198.51.100.1")), "addr:198.51.100.1");
        assert_eq!(
            throttle_scope(ip("2001:db8:1:2:3:4:5:6")),
            "addr:2001:db8:1:2::/64"
        );
        assert_eq!(
            throttle_scope(ip("2001:db8:1:2:ffff::1")),
            throttle_scope(ip("2001:db8:1:2::9"))
        );
        assert_eq!(
            throttle_scope(ip("::ffff:198.51.100.1")),
            "addr:198.51.100.1"
        );
    }
}
