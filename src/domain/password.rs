//! Passwords in clear, which exist only between the request and the hasher,
//! and the rules a new password must pass.
//!
//! The rules and their messages are Django's default validators, in Django's
//! order, so that clients written for dj-rest-auth or djoser show the same
//! errors: similar to the username or e-mail, too short, too common,
//! entirely numeric. Every rule that fails is reported.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::LazyLock;

use crate::domain::messages::{
    ENTIRELY_NUMERIC, SIMILAR_TO_EMAIL, SIMILAR_TO_USERNAME, TOO_COMMON, TOO_SHORT,
};
use crate::domain::validation::FieldErrors;

const MIN_LENGTH: usize = 8;
/// Django's `UserAttributeSimilarityValidator` default.
const MAX_SIMILARITY: f64 = 0.7;

/// The 19,640 most common passwords, lower-cased, one a line: Django's list
/// (from Royce Williams' compilation), shipped as data so that the rule is
/// the same as in the Django services this one replaces.
static COMMON_PASSWORDS: LazyLock<HashSet<&'static str>> = LazyLock::new(|| {
    include_str!("../../data/common-passwords.txt")
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .collect()
});

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

    /// Every rule a new password for the user `username` (with `email`, which
    /// may be empty) breaks, in the contract's words, so that all of them are
    /// reported at once.
    pub fn problems_as_new_password(&self, username: &str, email: &str) -> Vec<&'static str> {
        let mut problems = Vec::new();
        if let Some(similar) = too_similar(&self.0, username, email) {
            problems.push(similar);
        }
        if self.0.chars().count() < MIN_LENGTH {
            problems.push(TOO_SHORT);
        }
        if is_common(&self.0) {
            problems.push(TOO_COMMON);
        }
        if !self.0.is_empty() && self.0.chars().all(|c| c.is_ascii_digit()) {
            problems.push(ENTIRELY_NUMERIC);
        }
        problems
    }
}

/// A password that passed the rules of a new password for its user: what
/// sign-up, a password change and the command line store.
#[derive(Debug, Clone)]
pub struct NewPassword(Password);

impl NewPassword {
    /// The password, or every rule it breaks for the user `username` (with
    /// `email`, which may be empty), in the contract's words.
    pub fn parse(
        password: Password,
        username: &str,
        email: &str,
    ) -> Result<Self, Vec<&'static str>> {
        let problems = password.problems_as_new_password(username, email);
        if problems.is_empty() {
            Ok(NewPassword(password))
        } else {
            Err(problems)
        }
    }

    /// [`NewPassword::parse`], its problems recorded under `field`.
    pub fn parse_into(
        password: Password,
        (username, email): (&str, &str),
        field: &str,
        errors: &mut FieldErrors,
    ) -> Option<Self> {
        Self::parse(password, username, email)
            .map_err(|problems| {
                for problem in problems {
                    errors.add(field, problem);
                }
            })
            .ok()
    }

    pub fn into_password(self) -> Password {
        self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

/// Whether the password, lower-cased and trimmed, is on the common list.
fn is_common(password: &str) -> bool {
    COMMON_PASSWORDS.contains(password.trim().to_lowercase().as_str())
}

/// Django's `UserAttributeSimilarityValidator`: the password is compared
/// with each attribute, and with each of its parts split on non-word
/// characters (so `alice.smith@example.com` also yields `alice`, `smith`,
/// `example`, `com`); the first attribute that is too similar is named.
fn too_similar(password: &str, username: &str, email: &str) -> Option<&'static str> {
    let password: Vec<char> = password.to_lowercase().chars().collect();
    [(username, SIMILAR_TO_USERNAME), (email, SIMILAR_TO_EMAIL)]
        .into_iter()
        .filter(|(value, _)| !value.is_empty())
        .find(|(value, _)| {
            let value = value.to_lowercase();
            value
                .split(|c: char| !(c.is_alphanumeric() || c == '_'))
                .chain(std::iter::once(value.as_str()))
                .map(|part| part.chars().collect::<Vec<char>>())
                .any(|part| {
                    !exceeds_maximum_length_ratio(password.len(), part.len())
                        && quick_ratio(&password, &part) >= MAX_SIMILARITY
                })
        })
        .map(|(_, message)| message)
}

/// Django's shortcut: a value much shorter than the password cannot reach
/// the similarity threshold, so it is not compared.
fn exceeds_maximum_length_ratio(password_len: usize, value_len: usize) -> bool {
    let length_bound_similarity = MAX_SIMILARITY / 2.0 * password_len as f64;
    password_len >= 10 * value_len && (value_len as f64) < length_bound_similarity
}

/// Python's `difflib.SequenceMatcher.quick_ratio`: twice the number of
/// characters the two have in common (as multisets) over their total length.
fn quick_ratio(a: &[char], b: &[char]) -> f64 {
    let total = a.len() + b.len();
    if total == 0 {
        return 1.0;
    }
    let mut available: HashMap<char, usize> = HashMap::new();
    for c in b {
        *available.entry(*c).or_default() += 1;
    }
    let mut matches = 0;
    for c in a {
        if let Some(count) = available.get_mut(c) {
            if *count > 0 {
                *count -= 1;
                matches += 1;
            }
        }
    }
    2.0 * matches as f64 / total as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problems(clear: &str) -> Vec<&'static str> {
        Password::new(clear.to_owned()).problems_as_new_password("alice", "")
    }

    #[test]
    fn a_long_mixed_password_passes() {
        assert!(problems("correct horse battery").is_empty());
    }

    #[test]
    fn every_broken_rule_is_reported_together_in_djangos_order() {
        assert_eq!(
            problems("1234"),
            vec![TOO_SHORT, TOO_COMMON, ENTIRELY_NUMERIC]
        );
        assert_eq!(problems("xq7"), vec![TOO_SHORT]);
        assert_eq!(problems("9876543210123"), vec![ENTIRELY_NUMERIC]);
        assert_eq!(
            problems("alice"),
            vec![SIMILAR_TO_USERNAME, TOO_SHORT, TOO_COMMON]
        );
    }

    #[test]
    fn length_counts_characters_not_bytes() {
        assert_eq!(problems("éçéçéç"), vec![TOO_SHORT]);
        assert!(problems("éçéçéçéç").is_empty());
    }

    #[test]
    fn common_passwords_match_without_regard_to_case_or_surrounding_space() {
        for common in [
            "password",
            "PASSWORD",
            "Password1",
            " letmein ",
            "qwerty123",
        ] {
            assert_eq!(
                Password::new(common.into()).problems_as_new_password("zed", ""),
                if common.chars().count() < 8 {
                    vec![TOO_SHORT, TOO_COMMON]
                } else {
                    vec![TOO_COMMON]
                },
                "{common:?}"
            );
        }
        assert!(COMMON_PASSWORDS.len() >= 10_000);
        assert!(!is_common("correct horse battery"));
    }

    #[test]
    fn passwords_like_the_username_or_email_are_refused_with_the_attribute_named() {
        let check = |password: &str, username: &str, email: &str| {
            Password::new(password.into())
                .problems_as_new_password(username, email)
                .into_iter()
                .filter(|p| *p == SIMILAR_TO_USERNAME || *p == SIMILAR_TO_EMAIL)
                .collect::<Vec<_>>()
        };
        assert_eq!(
            check("margaret123", "Margaret", ""),
            vec![SIMILAR_TO_USERNAME]
        );
        assert_eq!(
            check("teragram1", "margaret", ""),
            vec![SIMILAR_TO_USERNAME],
            "same letters in another order are as similar for quick_ratio"
        );
        assert_eq!(
            check("smithereens", "bob", "bob.smithers@example.com"),
            vec![SIMILAR_TO_EMAIL],
            "a part of the address is compared alone"
        );
        assert_eq!(
            check("margaret1", "margaret", "margaret@example.com"),
            vec![SIMILAR_TO_USERNAME],
            "only the first similar attribute is named, as in Django"
        );
        assert!(check("correct horse battery", "margaret", "m@example.com").is_empty());
        assert!(
            check("a-very-long-password-with-x", "x", "").is_empty(),
            "a value far shorter than the password is not compared"
        );
    }

    #[test]
    fn quick_ratio_matches_python_difflib() {
        let chars = |s: &str| s.chars().collect::<Vec<_>>();
        // SequenceMatcher(a="abcd", b="bcde").quick_ratio() == 0.75
        assert_eq!(quick_ratio(&chars("abcd"), &chars("bcde")), 0.75);
        // SequenceMatcher(a="aab", b="abb").quick_ratio() == 2*2/6
        assert!((quick_ratio(&chars("aab"), &chars("abb")) - 4.0 / 6.0).abs() < 1e-12);
        assert_eq!(quick_ratio(&[], &[]), 1.0);
    }

    #[test]
    fn debug_output_hides_the_password() {
        let shown = format!("{:?}", Password::new("hunter2-secret".into()));
        assert!(!shown.contains("hunter2"), "{shown}");
    }
}
