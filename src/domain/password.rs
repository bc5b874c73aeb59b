//! Passwords in clear, which exist only between the request and the hasher,
//! and the rules a new password must pass.

use std::fmt;

pub const TOO_SHORT: &str = "This password is too short. It must contain at least 8 characters.";
pub const ENTIRELY_NUMERIC: &str = "This password is entirely numeric.";

/// A password in clear. `Debug` never prints it.
#[derive(Clone)]
pub struct Password(String);

impl Password {
    pub fn new(clear: String) -> Self {
        Password(clear)
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Every rule a new password breaks, in the contract's words, so that all
    /// of them are reported at once.
    pub fn problems_as_new_password(&self) -> Vec<&'static str> {
        let mut problems = Vec::new();
        if self.0.chars().count() < 8 {
            problems.push(TOO_SHORT);
        }
        if !self.0.is_empty() && self.0.chars().all(|c| c.is_ascii_digit()) {
            problems.push(ENTIRELY_NUMERIC);
        }
        problems
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problems(clear: &str) -> Vec<&'static str> {
        Password::new(clear.to_owned()).problems_as_new_password()
    }

    #[test]
    fn a_long_mixed_password_passes() {
        assert!(problems("correct horse battery").is_empty());
    }

    #[test]
    fn every_broken_rule_is_reported_together() {
        assert_eq!(problems("1234"), vec![TOO_SHORT, ENTIRELY_NUMERIC]);
        assert_eq!(problems("abc"), vec![TOO_SHORT]);
        assert_eq!(problems("9876543210123"), vec![ENTIRELY_NUMERIC]);
    }

    #[test]
    fn length_counts_characters_not_bytes() {
        assert_eq!(problems("éééééé"), vec![TOO_SHORT]);
        assert!(problems("éééééééé").is_empty());
    }

    #[test]
    fn debug_output_hides_the_password() {
        let shown = format!("{:?}", Password::new("hunter2-secret".into()));
        assert!(!shown.contains("hunter2"), "{shown}");
    }
}
