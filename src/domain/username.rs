//! Usernames: what people type, and the case-folded key that makes them unique.
//!
//! As Django's `AbstractBaseUser.normalize_username` does, a name is first
//! brought to Unicode normalisation form NFKC: compatibility forms become
//! the plain letters they stand for (`ｒｏｏｔ`, `𝐫𝐨𝐨𝐭` and `root²` are
//! `root`, `root`, `root2`), and a decomposed `é` the one composed
//! character. Names are validated, stored and keyed in that form, so
//! look-alikes collide with the name they imitate.

use unicode_normalization::UnicodeNormalization;

use crate::domain::messages::{INVALID_USERNAME, USERNAME_TOO_LONG};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Username(String);

impl Username {
    /// Validates a username as a user chooses it, after NFKC (Django's
    /// rules: letters, digits and `@.+-_`, at most 150 characters), and
    /// keeps it in that form. Characters that show nothing (Unicode's
    /// default-ignorable code points, such as the Hangul fillers, which
    /// count as letters) are refused too, so no name can look blank or
    /// like another with something invisible added.
    pub fn parse(name: &str) -> Result<Self, &'static str> {
        let name = normalize(name);
        if name.chars().count() > 150 {
            return Err(USERNAME_TOO_LONG);
        }
        let valid_char = |c: char| {
            (c.is_alphanumeric() || matches!(c, '@' | '.' | '+' | '-' | '_'))
                && !is_default_ignorable(c)
        };
        if name.is_empty() || !name.chars().all(valid_char) {
            return Err(INVALID_USERNAME);
        }
        Ok(Username(name))
    }

    /// The form under which usernames are unique and looked up.
    pub fn key(&self) -> String {
        lookup_key(&self.0)
    }
}

/// NFKC, as Django normalises usernames.
pub fn normalize(name: &str) -> String {
    name.nfkc().collect()
}

/// Normalises and case-folds any typed name, valid or not, for a lookup.
/// Keys stored before names were normalised are brought to this form at
/// migration (`db::users::rekey_usernames`).
pub fn lookup_key(name: &str) -> String {
    normalize(name).to_lowercase()
}

/// Unicode's `Default_Ignorable_Code_Point` (DerivedCoreProperties.txt,
/// Unicode 15.1): code points that render as nothing.
fn is_default_ignorable(c: char) -> bool {
    matches!(
        u32::from(c),
        0x00AD
            | 0x034F
            | 0x061C
            | 0x115F..=0x1160
            | 0x17B4..=0x17B5
            | 0x180B..=0x180F
            | 0x200B..=0x200F
            | 0x202A..=0x202E
            | 0x2060..=0x206F
            | 0x3164
            | 0xFE00..=0xFE0F
            | 0xFEFF
            | 0xFFA0
            | 0xFFF0..=0xFFF8
            | 0x1BCA0..=0x1BCA3
            | 0x1D173..=0x1D17A
            | 0xE0000..=0xE0FFF
    )
}

checked_text!(Username);

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
    fn names_are_kept_in_nfkc_so_look_alikes_collide() {
        for (typed, stored) in [
            ("ｒｏｏｔ", "root"),
            ("𝐫𝐨𝐨𝐭", "root"),
            ("root²", "root2"),
            ("e\u{301}x", "\u{e9}x"),
            ("Ｒｏｏｔ", "Root"),
        ] {
            let parsed = Username::parse(typed);
            assert_eq!(
                parsed.as_ref().map(Username::as_str),
                Ok(stored),
                "{typed:?}"
            );
            assert_eq!(
                parsed.map(|name| name.key()),
                Ok(lookup_key(stored)),
                "{typed:?}"
            );
        }
        assert_eq!(lookup_key("ＲＯＯＴ"), "root");
    }

    #[test]
    fn invisible_and_blank_looking_names_are_refused() {
        for bad in [
            "\u{3164}",
            "root\u{3164}",
            "\u{FFA0}\u{FFA0}",
            "ro\u{200B}ot",
            "root\u{FE0F}",
            "\u{115F}x",
            "root\u{2060}",
            "root\u{AD}",
        ] {
            assert_eq!(Username::parse(bad), Err(INVALID_USERNAME), "{bad:?}");
        }
        // NFKC can make punctuation out of a compatibility form; that is
        // then refused like the punctuation itself.
        assert_eq!(Username::parse("a\u{FF0F}b"), Err(INVALID_USERNAME));
        // The length is the normalised one.
        assert_eq!(
            Username::parse(&"\u{FDFA}".repeat(10)),
            Err(USERNAME_TOO_LONG)
        );
    }

    #[test]
    fn the_key_ignores_case() {
        let upper = Username::parse("Alice").map(|u| u.key());
        let lower = Username::parse("alice").map(|u| u.key());
        assert_eq!(upper, lower);
        assert_eq!(lookup_key("ZOË"), "zoë");
    }
}
