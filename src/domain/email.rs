//! E-mail addresses, checked for shape only (delivery is the real test).

pub const INVALID_EMAIL: &str = "Enter a valid email address.";

/// `local@domain.tld`, no whitespace, at most 254 characters.
pub fn is_valid_email(address: &str) -> bool {
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
    fn ordinary_addresses_pass() {
        for good in ["alice@example.com", "a.b+tag@sub.example.org", "x@y.io"] {
            assert!(is_valid_email(good), "{good}");
        }
    }

    #[test]
    fn malformed_addresses_fail() {
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
            assert!(!is_valid_email(bad), "{bad}");
        }
        assert!(!is_valid_email(&format!("{}@example.com", "a".repeat(250))));
    }
}
