//! The throttles of the anonymous endpoints: attempts allowed per window
//! (`ATTEMPTS/DURATION`) for logins, registrations, password resets,
//! verification mails and revocations by key; and how long a device proof
//! exempts its holder from the username's count of failed logins.

use super::parse::named;
use crate::domain::{parse_duration, ThrottleLimit};
use clap::Args;
use std::time::Duration;

#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Throttles")]
pub struct ThrottleSettings {
    /// Failed logins allowed per username (or per device proof, for a sign-in presenting a valid one), and per client address, per window (ATTEMPTS/DURATION).
    #[arg(long, env = "LOGIN_THROTTLE", default_value = "10/15m", global = true,
          value_parser = named(ThrottleLimit::parse))]
    pub login_throttle: ThrottleLimit,

    /// Registrations (POST /register, successful or not) allowed per client address per window (ATTEMPTS/DURATION).
    #[arg(long, env = "REGISTER_THROTTLE", default_value = "100/1h", global = true,
          value_parser = named(ThrottleLimit::parse))]
    pub register_throttle: ThrottleLimit,

    /// Password-reset requests allowed per e-mail address, and per client address, per window (ATTEMPTS/DURATION); past it the answer is the same, but no mail is sent.
    #[arg(long, env = "PASSWORD_RESET_THROTTLE", default_value = "20/1h", global = true,
          value_parser = named(ThrottleLimit::parse))]
    pub password_reset_throttle: ThrottleLimit,

    /// Verification mails POST /register/resend-email may send per e-mail address per window (ATTEMPTS/DURATION); past it the answer is the same, but no mail is sent.
    #[arg(long, env = "EMAIL_VERIFICATION_RESEND_THROTTLE", default_value = "5/1h", global = true,
          value_parser = named(ThrottleLimit::parse))]
    pub email_verification_resend_throttle: ThrottleLimit,

    /// Requests to POST /revoke (one key or a list) allowed per client address per window (ATTEMPTS/DURATION).
    #[arg(long, env = "REVOKE_THROTTLE", default_value = "100/1m", global = true,
          value_parser = named(ThrottleLimit::parse))]
    pub revoke_throttle: ThrottleLimit,

    /// How long the device proof of a sign-in stays valid: a later sign-in presenting it is counted against the proof instead of the username (LOGIN_THROTTLE).
    #[arg(long, env = "DEVICE_PROOF_TTL", default_value = "180d", global = true,
          value_parser = named(parse_duration))]
    pub device_proof_ttl: Duration,
}
