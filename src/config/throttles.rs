//! The throttles of the anonymous endpoints: attempts allowed per window
//! (`ATTEMPTS/DURATION`) for logins, registrations, password resets,
//! verification mails and revocations by key; and how long a device proof
//! exempts its holder from the username's count of failed logins.

use super::parse::named;
use crate::domain::{parse_duration, ThrottleLimit};
use std::time::Duration;

settings_group! {
    #[command(next_help_heading = "Throttles")]
    pub struct ThrottleSettings {
        /// Failed logins allowed per username (or per device proof, for a sign-in presenting a valid one), and per client address, per window (ATTEMPTS/DURATION).
        login_throttle: ThrottleLimit = "10/15m" => named(ThrottleLimit::parse),

        /// Registrations (POST /register, successful or not) allowed per client address per window (ATTEMPTS/DURATION).
        register_throttle: ThrottleLimit = "100/1h" => named(ThrottleLimit::parse),

        /// Password-reset requests allowed per e-mail address, and per client address, per window (ATTEMPTS/DURATION); past it the answer is the same, but no mail is sent.
        password_reset_throttle: ThrottleLimit = "20/1h" => named(ThrottleLimit::parse),

        /// Verification mails POST /register/resend-email may send per e-mail address per window (ATTEMPTS/DURATION); past it the answer is the same, but no mail is sent.
        email_verification_resend_throttle: ThrottleLimit = "5/1h" => named(ThrottleLimit::parse),

        /// Requests to POST /revoke (one key or a list) allowed per client address per window (ATTEMPTS/DURATION).
        revoke_throttle: ThrottleLimit = "100/1m" => named(ThrottleLimit::parse),

        /// How long the device proof of a sign-in stays valid: a later sign-in presenting it is counted against the proof instead of the username (LOGIN_THROTTLE).
        device_proof_ttl: Duration = "180d" => named(parse_duration),
    }
}
