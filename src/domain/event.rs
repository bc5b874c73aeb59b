//! Security events: the words of the append-only record of what happened to
//! accounts and devices (its types, who did it, how a device was revoked),
//! and where a change came from. The record never holds a secret: these
//! types have no room for one.

use std::fmt;
use std::net::IpAddr;

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    Login,
    LoginFailed,
    Throttled,
    Logout,
    Revoked,
    PasswordChanged,
    PasswordReset,
    /// An admin had a password-reset mail sent to the user.
    PasswordResetMailed,
    EmailVerified,
    TwoFactorEnabled,
    TwoFactorDisabled,
    UserCreated,
    UserUpdated,
    Imported,
    /// A device's key was rotated (`POST /tokens/rotate`, or `/token/refresh`
    /// with `ROTATE_REFRESH_TOKENS`).
    Rotated,
    /// A signed-in person approved a device's request (OAuth device grant).
    DeviceApproved,
    /// A signed-in person denied a device's request, or approving it would exceed the client limit.
    DeviceDenied,
}

impl EventKind {
    pub const ALL: [EventKind; 17] = [
        Self::Login,
        Self::LoginFailed,
        Self::Throttled,
        Self::Logout,
        Self::Revoked,
        Self::PasswordChanged,
        Self::PasswordReset,
        Self::PasswordResetMailed,
        Self::EmailVerified,
        Self::TwoFactorEnabled,
        Self::TwoFactorDisabled,
        Self::UserCreated,
        Self::UserUpdated,
        Self::Imported,
        Self::Rotated,
        Self::DeviceApproved,
        Self::DeviceDenied,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Login => "login",
            Self::LoginFailed => "login_failed",
            Self::Throttled => "throttled",
            Self::Logout => "logout",
            Self::Revoked => "revoked",
            Self::PasswordChanged => "password_changed",
            Self::PasswordReset => "password_reset",
            Self::PasswordResetMailed => "password_reset_mailed",
            Self::EmailVerified => "email_verified",
            Self::TwoFactorEnabled => "two_factor_enabled",
            Self::TwoFactorDisabled => "two_factor_disabled",
            Self::UserCreated => "user_created",
            Self::UserUpdated => "user_updated",
            Self::Imported => "imported",
            Self::Rotated => "rotated",
            Self::DeviceApproved => "device_approved",
            Self::DeviceDenied => "device_denied",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.as_str() == text)
    }

    /// Whether an event of this kind is about one device, and so carries
    /// its `sid` (by name, so that every such kind is covered).
    pub fn carries_sid(self) -> bool {
        matches!(self.as_str(), "login" | "logout" | "revoked" | "rotated")
    }
}

/// How a device was revoked: the `detail` of a `revoked` event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RevokedBy {
    Logout,
    LogoutAll,
    LogoutOthers,
    Device,
    PasswordChange,
    PasswordReset,
    Deactivated,
    Relogin,
    RevokeEndpoint,
    /// Reported by a secret scanner (GitHub's partner program).
    Leaked,
    Expired,
    /// A rotated key was used after its grace window: it was copied.
    ReuseDetected,
}

impl RevokedBy {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Logout => "logout",
            Self::LogoutAll => "logout_all",
            Self::LogoutOthers => "logout_others",
            Self::Device => "device",
            Self::PasswordChange => "password_change",
            Self::PasswordReset => "password_reset",
            Self::Deactivated => "deactivated",
            Self::Relogin => "relogin",
            Self::RevokeEndpoint => "revoke_endpoint",
            Self::Leaked => "leaked",
            Self::Expired => "expired",
            Self::ReuseDetected => "reuse_detected",
        }
    }
}

/// Who made a change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Actor {
    /// The user the event is about (`"self"`).
    Owner,
    /// An admin, through the admin API or the console.
    Admin(i64),
    /// Someone at the command line.
    Cli,
    /// The service itself (the expiry sweep).
    System,
}

impl fmt::Display for Actor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Actor::Owner => f.write_str("self"),
            Actor::Admin(id) => write!(f, "admin:{id}"),
            Actor::Cli => f.write_str("cli"),
            Actor::System => f.write_str("system"),
        }
    }
}

/// Where a change came from: who, and for a request, its client address
/// (under the `TRUSTED_PROXIES` rule) and `User-Agent`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventSource {
    pub actor: Actor,
    pub ip: Option<IpAddr>,
    pub user_agent: Option<String>,
}

impl EventSource {
    /// A change made outside any request (the command line, the sweep).
    pub fn without_request(actor: Actor) -> Self {
        EventSource {
            actor,
            ip: None,
            user_agent: None,
        }
    }

    /// The same request, made by someone else (an admin acting on a user).
    pub fn by(&self, actor: Actor) -> Self {
        EventSource {
            actor,
            ..self.clone()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_read_back_from_their_names_and_nothing_else_does() {
        for kind in EventKind::ALL {
            assert_eq!(EventKind::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(EventKind::parse("Login"), None);
        assert_eq!(EventKind::parse(""), None);
    }

    #[test]
    fn actors_are_written_as_the_contract_spells_them() {
        assert_eq!(Actor::Owner.to_string(), "self");
        assert_eq!(Actor::Admin(7).to_string(), "admin:7");
        assert_eq!(Actor::Cli.to_string(), "cli");
        assert_eq!(Actor::System.to_string(), "system");
    }
}
