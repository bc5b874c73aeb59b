//! The name of a device or front-end that holds one of a user's tokens.

use crate::domain::messages::INVALID_CLIENT;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ClientName(String);

impl ClientName {
    pub fn parse(name: &str) -> Result<Self, &'static str> {
        let valid_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
        if (1..=64).contains(&name.len()) && name.chars().all(valid_char) {
            Ok(ClientName(name.to_owned()))
        } else {
            Err(INVALID_CLIENT)
        }
    }
}

checked_text!(ClientName);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_letters_digits_dots_underscores_and_dashes() {
        for good in ["web", "ios", "cli", "a", "Pixel-8_pro.2", &"x".repeat(64)] {
            assert_eq!(
                ClientName::parse(good).map(|c| c.to_string()),
                Ok(good.to_string())
            );
        }
    }

    #[test]
    fn rejects_empty_long_and_exotic_names() {
        for bad in [
            "",
            " web",
            "web ",
            "my phone",
            "é",
            "a/b",
            "a:b",
            "😀",
            &"x".repeat(65),
        ] {
            assert_eq!(ClientName::parse(bad), Err(INVALID_CLIENT), "{bad:?}");
        }
    }
}
