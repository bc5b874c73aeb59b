//! The address clients use to reach the service (`PUBLIC_URL`): the base of
//! links in mails, of the device grant's verification URI, of the OAuth
//! metadata's `issuer` and of the URL a DPoP proof's `htu` must name.

use std::net::SocketAddr;

/// An `http(s)://host[:port][/prefix]` URL, normalised the way RFC 9449
/// compares `htu`: scheme and host lower-cased, the default port dropped,
/// no trailing slash, no query or fragment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicUrl(String);

impl PublicUrl {
    pub fn parse(text: &str) -> Result<Self, String> {
        let url = url::Url::parse(text.trim())
            .map_err(|e| format!("{e}: expected http(s)://HOST[:PORT][/PATH]"))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err("expected an http:// or https:// URL".into());
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err("expected a host, as in https://auth.example.com".into());
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err("expected no query and no fragment".into());
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err("expected no user name or password in the URL".into());
        }
        // `Url` already lower-cases the scheme and host and drops a default port.
        let mut normalised = url.to_string();
        while normalised.ends_with('/') {
            normalised.pop();
        }
        Ok(Self(normalised))
    }

    /// The default: `http://` and the address the server listens on.
    pub fn from_bind(bind: SocketAddr) -> Self {
        Self(format!("http://{bind}"))
    }

    /// The base followed by `path`, which starts with `/`.
    pub fn join(&self, path: &str) -> String {
        format!("{}{path}", self.0)
    }
}

checked_text!(PublicUrl);

#[cfg(test)]
mod tests {
    use super::PublicUrl;

    #[test]
    fn scheme_and_host_are_lower_cased_and_the_default_port_dropped() {
        let url = PublicUrl::parse("HTTPS://Auth.Example.COM:443/").unwrap();
        assert_eq!(url.as_str(), "https://auth.example.com");
        assert_eq!(url.join("/device"), "https://auth.example.com/device");
    }

    #[test]
    fn a_path_prefix_and_another_port_are_kept() {
        let url = PublicUrl::parse("http://localhost:8080/auth/").unwrap();
        assert_eq!(url.join("/device"), "http://localhost:8080/auth/device");
    }

    #[test]
    fn other_schemes_queries_and_credentials_are_refused() {
        for bad in [
            "ftp://x.example",
            "https://x.example/?a=1",
            "https://x.example/#f",
            "https://u:p@x.example",
            "example.com",
            "",
        ] {
            assert!(PublicUrl::parse(bad).is_err(), "{bad} was accepted");
        }
    }

    #[test]
    fn the_default_is_http_and_the_bind_address() {
        let url = PublicUrl::from_bind("127.0.0.1:8000".parse().unwrap());
        assert_eq!(url.as_str(), "http://127.0.0.1:8000");
    }
}
