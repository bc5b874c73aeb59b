//! Pure rules of the service: values that are valid once constructed, and the
//! arithmetic of token lifetimes. Nothing in here touches the network or the
//! database, and it imports nothing else of the crate; the only outside
//! inputs are `Timestamp::now` and the operating system's random numbers,
//! so every rule is unit-tested beside its type.

/// `as_str` and `Display` for a newtype over the `String` that its
/// `parse` checked: it reads and shows as that text.
macro_rules! checked_text {
    ($name:ident) => {
        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

pub mod account;
pub mod client_address;
pub mod client_name;
pub mod device_grant;
pub mod device_proof;
pub mod django_password;
pub mod dpop;
pub mod duration;
pub mod email;
pub mod email_verification;
pub mod event;
pub mod expiry;
pub mod jws;
pub mod jwt;
pub mod messages;
pub mod oidc;
pub mod page;
pub mod password;
pub mod principal;
pub mod public_url;
pub mod random;
pub mod registration;
pub mod reset_token;
pub mod scope;
pub mod sealed;
pub mod secret;
pub mod secret_scanning;
mod signed_stamp;
pub mod throttle;
pub mod time;
pub mod token;
pub mod two_factor;
pub mod username;
pub mod validation;
pub mod webhook;

pub use client_name::ClientName;
pub use duration::parse_duration;
pub use expiry::TokenPolicy;
pub use password::{NewPassword, Password};
pub use public_url::PublicUrl;
pub use scope::{AllowedScopes, Scopes};
pub use secret::SecretKey;
pub use throttle::ThrottleLimit;
pub use time::Timestamp;
pub use token::{PlainToken, TokenDigest, Unusable};
pub use username::Username;
pub use validation::FieldErrors;
