//! A new account: the rules of a new user's name, password and e-mail
//! address, written once for sign-up (`POST /register`), the admin API
//! (`POST /admin/users`) and the command line (`user create`).

use crate::domain::email::Email;
use crate::domain::messages::REQUIRED;
use crate::domain::password::{NewPassword, Password};
use crate::domain::username::Username;
use crate::domain::validation::FieldErrors;

/// A new user's name, password and address, each past its rules: the
/// password is not like the name or the address.
#[derive(Debug, Clone)]
pub struct NewAccount {
    pub username: Username,
    pub password: NewPassword,
    pub email: Option<Email>,
}

/// A new account's fields as typed; `None` for a required field that was
/// missing (its reader recorded why), an empty `email` for none.
pub struct AccountInput<'a> {
    pub username: Option<&'a str>,
    pub password: Option<Password>,
    pub email: &'a str,
    /// Whether an address is required (sign-up under
    /// `EMAIL_VERIFICATION=mandatory`).
    pub email_required: bool,
}

/// A new account's fields, each parsed by its own rule. The name is kept
/// apart so that what needs the database (whether it is taken) can be
/// checked, and reported with the other problems, even when another field
/// failed.
pub struct AccountFields {
    pub username: Option<Username>,
    account: Option<NewAccount>,
}

impl AccountFields {
    /// Checks every field, recording each problem under its field name
    /// (`username`, `email`, `password`) in `errors`. The password is
    /// compared with the name and address as typed.
    pub fn parse(input: AccountInput<'_>, errors: &mut FieldErrors) -> Self {
        let username = input.username.and_then(|name| {
            Username::parse(name)
                .map_err(|message| errors.add("username", message))
                .ok()
        });
        let mut email_ok = true;
        let email = if input.email.is_empty() {
            if input.email_required {
                errors.add("email", REQUIRED);
                email_ok = false;
            }
            None
        } else {
            Email::parse(input.email)
                .map_err(|message| {
                    errors.add("email", message);
                    email_ok = false;
                })
                .ok()
        };
        let similar_to = (input.username.unwrap_or_default(), input.email);
        let password = input
            .password
            .and_then(|password| NewPassword::parse_into(password, similar_to, "password", errors));
        let account = match (username.clone(), password, email_ok) {
            (Some(username), Some(password), true) => Some(NewAccount {
                username,
                password,
                email,
            }),
            _ => None,
        };
        AccountFields { username, account }
    }

    /// The account, when every one of its fields passed its rules.
    pub fn account(self) -> Option<NewAccount> {
        self.account
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::messages::{INVALID_EMAIL, INVALID_USERNAME, SIMILAR_TO_USERNAME};
    use serde_json::json;

    fn parse(
        username: &str,
        password: &str,
        email: &str,
        required: bool,
    ) -> (AccountFields, FieldErrors) {
        let mut errors = FieldErrors::new();
        let input = AccountInput {
            username: Some(username),
            password: Some(Password::new(password.into())),
            email,
            email_required: required,
        };
        (AccountFields::parse(input, &mut errors), errors)
    }

    #[test]
    fn a_good_account_is_built_with_its_address() {
        let (fields, errors) = parse("alice", "correct horse battery", "a@example.com", true);
        assert!(errors.is_empty(), "{errors}");
        let account = fields.account().expect("valid");
        assert_eq!(account.username.as_str(), "alice");
        assert_eq!(
            account.email.map(Email::into_string).as_deref(),
            Some("a@example.com")
        );
    }

    #[test]
    fn every_problem_is_recorded_and_a_valid_name_kept() {
        // (username, password, email, required, the errors, whether the name is kept)
        for (username, password, email, required, expected, name_kept) in [
            (
                "margaret",
                "margaret-xq7",
                "nope",
                false,
                json!({"email": [INVALID_EMAIL], "password": [SIMILAR_TO_USERNAME]}),
                true,
            ),
            (
                "a b",
                "correct horse battery",
                "",
                true,
                json!({"username": [INVALID_USERNAME], "email": [REQUIRED]}),
                false,
            ),
        ] {
            let (fields, errors) = parse(username, password, email, required);
            assert_eq!(errors.to_json(), expected, "{username}");
            assert_eq!(fields.username.is_some(), name_kept, "{username}");
            assert!(fields.account().is_none(), "{username}");
        }
    }
}
