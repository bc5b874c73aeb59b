//! The accounts: who may register, whether e-mail addresses must be
//! verified, the links of the verification and password-reset mails, and
//! the mail on a new device's first sign-in.

use super::parse::{boolean, link, longer_than_zero, named};
use crate::domain::email_verification::EmailVerification;
use crate::domain::registration::Registration;
use crate::domain::{parse_duration, PublicUrl};
use std::time::Duration;

settings_group! {
    #[command(next_help_heading = "Accounts")]
    pub struct AccountSettings {
        /// Whether anyone may sign up with POST /register: open or closed.
        registration: Registration = "open" => named(Registration::parse),

        /// E-mail verification: none, optional (mails are sent, sign-in does not wait) or mandatory (no sign-in until the address is verified).
        email_verification: EmailVerification = "none" => named(EmailVerification::parse),

        /// Link put in the verification mail; {key} is filled in. Default: PUBLIC_URL + /verify-email?key={key}, the hosted page.
        email_verification_url: Option<String> => named(|text: &str| link(text, &["{key}"])),

        /// How long a verification link works.
        email_verification_timeout: Duration = "3d" => named(parse_duration),

        /// Link put in the password-reset mail; {uid} and {token} are filled in. Default: PUBLIC_URL + /reset?uid={uid}&token={token}, the hosted page.
        password_reset_url: Option<String> => named(|text: &str| link(text, &["{uid}", "{token}"])),

        /// How long a password-reset link works.
        password_reset_timeout: Duration = "1h" => named(parse_duration),

        /// Mail the user when a client name they never used before signs in: true or false.
        #[arg(action = clap::ArgAction::Set)]
        new_device_mail: bool = "false" => named(boolean),
    }
}

/// The hosted pages' paths, with the placeholders the mails fill in.
pub const HOSTED_RESET_PATH: &str = "/reset?uid={uid}&token={token}";
pub const HOSTED_VERIFICATION_PATH: &str = "/verify-email?key={key}";

impl AccountSettings {
    /// `PASSWORD_RESET_URL`, or the hosted page under `public_url`.
    pub fn password_reset_url(&self, public_url: &PublicUrl) -> String {
        match &self.password_reset_url {
            Some(url) => url.clone(),
            None => public_url.join(HOSTED_RESET_PATH),
        }
    }

    /// `EMAIL_VERIFICATION_URL`, or the hosted page under `public_url`.
    pub fn email_verification_url(&self, public_url: &PublicUrl) -> String {
        match &self.email_verification_url {
            Some(url) => url.clone(),
            None => public_url.join(HOSTED_VERIFICATION_PATH),
        }
    }

    pub fn validate(&self) -> Result<(), String> {
        longer_than_zero("PASSWORD_RESET_TIMEOUT", self.password_reset_timeout)?;
        longer_than_zero(
            "EMAIL_VERIFICATION_TIMEOUT",
            self.email_verification_timeout,
        )
    }
}
