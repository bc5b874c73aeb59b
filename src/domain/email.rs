//! E-mail addresses, checked for shape only (delivery is the real test).

use crate::domain::messages::INVALID_EMAIL;

/// An address of the shape `local@domain.tld`: no whitespace, at most 254
/// characters. Parsed once where it comes in, so what holds one needs no
/// second check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    /// The address, or the field message (`INVALID_EMAIL`) that refuses it.
    pub fn parse(address: &str) -> Result<Self, &'static str> {
        if has_the_shape_of_an_address(address) {
            Ok(Email(address.to_owned()))
        } else {
            Err(INVALID_EMAIL)
        }
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

checked_text!(Email);

fn has_the_shape_of_an_address(address: &str) -> bool {
    let Some((local, domain)) = address.rsplit_once('@') else {
        return false;
    };
    address.len() <= 254
        && !local.is_empty()
        && !address.chars().any(|c| c.is_whitespace() || c.is_control())
        && !local.contains('@')
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains("..")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinary_addresses_pass_unchanged() {
        for good in ["alice@example.com", "a.b+tag@sub.example.org", "x@y.io"] {
            let email = Email::parse(good).unwrap_or_else(|message| panic!("{good}: {message}"));
            assert_eq!(email.as_str(), good);
            assert_eq!(email.to_string(), good);
            assert_eq!(email.into_string(), good);
        }
    }

    #[test]
    fn malformed_addresses_fail_with_the_field_message() {
        for bad in [
            "",
            "alice",
            "@example.com",
            "alice@",
            "alice@example",
            "a b@example.com",
            "a@b@c.com",
            "a@.com",
            "a@com.",
            "a@b..com",
        ] {
            assert_eq!(Email::parse(bad), Err(INVALID_EMAIL), "{bad}");
        }
        let too_long = format!("{}@example.com", "a".repeat(250));
        assert_eq!(Email::parse(&too_long), Err(INVALID_EMAIL));
    }

    #[test]
    fn the_longest_address_allowed_is_254_characters() {
        let longest = format!("{}@example.com", "a".repeat(254 - "@example.com".len()));
        assert_eq!(longest.len(), 254);
        assert!(Email::parse(&longest).is_ok());
    }
}
