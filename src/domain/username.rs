//! Usernames: what people type, and the case-folded key that makes them unique.

use std::fmt;

pub const INVALID_USERNAME: &str =
    "Enter a valid username. This value may contain only letters, numbers, and @/./+/-/_ characters.";
pub const USERNAME_TOO_LONG: &str = "Ensure this field has no more than 150 characters.";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Username(String);

impl Username {
    /// Validates a username as a user chooses it (Django's rules: letters,
    /// digits and `@.+-_`, at most 150 characters).
    pub fn parse(name: &str) -> Result<Self, &'static str> {
        if name.chars().count() > 150 {
            return Err(USERNAME_TOO_LONG);
        }
        let valid_char = |c: char| c.is_alphanumeric() || matches!(c, '@' | '.' | '+' | '-' | '_');
        if name.is_empty() || !name.chars().all(valid_char) {
            return Err(INVALID_USERNAME);
        }
        Ok(Username(name.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The form under which usernames are unique and looked up.
    pub fn key(&self) -> String {
        lookup_key(&self.0)
    }
}

/// Case-folds any typed name, valid or not, for a lookup.
pub fn lookup_key(name: &str) -> String {
    name.to_lowercase()
}

impl fmt::Display for Username {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_django_style_usernames() {
        for good in ["alice", "Bob_2", "a@b.c", "x+y-z", "Zoë", &"u".repeat(150)] {
            assert!(Username::parse(good).is_ok(), "{good}");
        }
    }

    #[test]
    fn rejects_empty_spaced_and_punctuated_names() {
        for bad in ["", "a b", "a/b", "a:b", "a\u{0}", "<script>"] {
            assert_eq!(Username::parse(bad), Err(INVALID_USERNAME), "{bad:?}");
        }
        assert_eq!(Username::parse(&"u".repeat(151)), Err(USERNAME_TOO_LONG));
    }

    #[test]
    fn the_key_ignores_case() {
        let upper = Username::parse("Alice").map(|u| u.key());
        let lower = Username::parse("alice").map(|u| u.key());
        assert_eq!(upper, lower);
        assert_eq!(lookup_key("ZOË"), "zoë");
    }
}
