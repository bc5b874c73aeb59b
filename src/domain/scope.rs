//! Scopes: what a restricted token may be used for. A token without scopes
//! is unrestricted.

use std::collections::BTreeSet;
use std::fmt;

use crate::domain::messages::INVALID_SCOPES;
pub const MAX_SCOPES: usize = 32;

/// A token's scopes, each valid, without duplicates, in the order first
/// given. Empty means unrestricted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scopes(Vec<String>);

fn is_valid_scope(scope: &str) -> bool {
    let valid_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, ':' | '.' | '_' | '-');
    (1..=64).contains(&scope.len()) && scope.chars().all(valid_char)
}

impl Scopes {
    /// No scopes: an unrestricted token.
    pub fn unrestricted() -> Self {
        Scopes::default()
    }

    /// One space-separated string (the form-body and string form).
    pub fn parse(text: &str) -> Result<Self, &'static str> {
        Self::parse_list(text.split(' ').filter(|part| !part.is_empty()))
    }

    /// A list, one scope per item; an empty list is unrestricted.
    pub fn parse_list<'a>(items: impl IntoIterator<Item = &'a str>) -> Result<Self, &'static str> {
        let mut scopes: Vec<String> = Vec::new();
        for item in items {
            if !is_valid_scope(item) {
                return Err(INVALID_SCOPES);
            }
            if !scopes.iter().any(|held| held == item) {
                scopes.push(item.to_owned());
            }
        }
        if scopes.len() > MAX_SCOPES {
            return Err(INVALID_SCOPES);
        }
        Ok(Scopes(scopes))
    }

    /// As the database keeps them: space-separated, empty when unrestricted.
    /// Read back without checks: only valid scopes are ever written.
    pub fn from_stored(text: &str) -> Self {
        Scopes(
            text.split(' ')
                .filter(|part| !part.is_empty())
                .map(str::to_owned)
                .collect(),
        )
    }

    pub fn to_stored(&self) -> String {
        self.0.join(" ")
    }

    pub fn is_restricted(&self) -> bool {
        !self.0.is_empty()
    }

    /// Whether the token may do what `scope` names: an unrestricted token
    /// holds every scope.
    pub fn holds(&self, scope: &str) -> bool {
        !self.is_restricted() || self.0.iter().any(|held| held == scope)
    }

    pub fn as_slice(&self) -> &[String] {
        &self.0
    }

    pub fn into_vec(self) -> Vec<String> {
        self.0
    }
}

/// `ALLOWED_SCOPES`: the scopes a token may ask for; unset allows any.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowedScopes(Option<BTreeSet<String>>);

impl AllowedScopes {
    /// Space- or comma-separated scopes; an empty text allows any scope.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut allowed = BTreeSet::new();
        for scope in text
            .split(|c: char| c == ',' || c.is_whitespace())
            .filter(|part| !part.is_empty())
        {
            if !is_valid_scope(scope) {
                return Err(format!("{scope:?} is not a valid scope"));
            }
            allowed.insert(scope.to_owned());
        }
        Ok(AllowedScopes((!allowed.is_empty()).then_some(allowed)))
    }

    pub fn is_set(&self) -> bool {
        self.0.is_some()
    }

    /// The allowed scopes, sorted; `None` when any is allowed.
    pub fn listed(&self) -> Option<Vec<String>> {
        self.0
            .as_ref()
            .map(|allowed| allowed.iter().cloned().collect())
    }

    /// `Err` with the contract's message for the first scope not allowed.
    pub fn check(&self, scopes: &Scopes) -> Result<(), String> {
        let Some(allowed) = &self.0 else {
            return Ok(());
        };
        match scopes.0.iter().find(|scope| !allowed.contains(*scope)) {
            Some(unknown) => Err(format!("Unknown scope \"{unknown}\".")),
            None => Ok(()),
        }
    }
}

impl fmt::Display for AllowedScopes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Some(allowed) = &self.0 else {
            return Ok(());
        };
        let list: Vec<&str> = allowed.iter().map(String::as_str).collect();
        f.write_str(&list.join(" "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_come_as_a_list_or_one_space_separated_string() {
        let from_list = Scopes::parse_list(["orders:read", "profile.v2_x-y"]).unwrap();
        let from_text = Scopes::parse("orders:read  profile.v2_x-y").unwrap();
        assert_eq!(from_list, from_text);
        assert_eq!(from_list.as_slice(), ["orders:read", "profile.v2_x-y"]);
        assert!(from_list.is_restricted());
    }

    #[test]
    fn nothing_is_unrestricted_and_holds_every_scope() {
        for none in [Scopes::parse("").unwrap(), Scopes::parse_list([]).unwrap()] {
            assert!(!none.is_restricted());
            assert!(none.holds("anything"));
            assert_eq!(none.to_stored(), "");
        }
    }

    #[test]
    fn duplicates_collapse_keeping_the_first_order() {
        let scopes = Scopes::parse("b a b a c").unwrap();
        assert_eq!(scopes.as_slice(), ["b", "a", "c"]);
        assert!(scopes.holds("a") && !scopes.holds("d"));
    }

    #[test]
    fn invalid_scopes_are_refused_with_the_contract_message() {
        let long = "x".repeat(65);
        let many: Vec<String> = (0..33).map(|i| format!("s{i}")).collect();
        for bad in [
            Scopes::parse_list(["ok", ""]),
            Scopes::parse_list(["a b"]),
            Scopes::parse("caf\u{e9}"),
            Scopes::parse("a/b"),
            Scopes::parse(&long),
            Scopes::parse_list(many.iter().map(String::as_str)),
        ] {
            assert_eq!(bad, Err(INVALID_SCOPES));
        }
        let thirty_two: Vec<String> = (0..32).map(|i| format!("s{i}")).collect();
        assert!(Scopes::parse_list(thirty_two.iter().map(String::as_str)).is_ok());
        assert!(Scopes::parse(&"x".repeat(64)).is_ok());
    }

    #[test]
    fn stored_scopes_round_trip() {
        let scopes = Scopes::parse("a:b c").unwrap();
        assert_eq!(Scopes::from_stored(&scopes.to_stored()), scopes);
        assert_eq!(Scopes::from_stored(""), Scopes::unrestricted());
    }

    #[test]
    fn allowed_scopes_name_the_first_unknown_one() {
        let any = AllowedScopes::parse("").unwrap();
        assert!(!any.is_set());
        assert_eq!(any.check(&Scopes::parse("x").unwrap()), Ok(()));
        let allowed = AllowedScopes::parse("orders:read, orders:write profile").unwrap();
        assert_eq!(allowed.to_string(), "orders:read orders:write profile");
        assert_eq!(
            allowed.check(&Scopes::parse("profile orders:read").unwrap()),
            Ok(())
        );
        assert_eq!(
            allowed.check(&Scopes::parse("profile x y").unwrap()),
            Err("Unknown scope \"x\".".to_owned())
        );
        assert!(AllowedScopes::parse("a/b").is_err());
    }
}
