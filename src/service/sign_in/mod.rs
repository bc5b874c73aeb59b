//! Proving who you are: a password ([`login`], through the one
//! [`credentials`] check and the argon2 hasher), a social login ([`oidc`]),
//! the second factor ([`two_factor`]), under the guessing [`throttle`]; then
//! the [`device_key`] every sign-in asks for; then
//! what follows a sign-in: the [`device_proof`] that exempts the device from
//! its username's lockout, the new-device mail ([`new_device`]) and, for the
//! console, a server-side session ([`console_sessions`]).
//!
//! Builds on `tokens` (a sign-in ends in an issued token) and on `shared`;
//! imports nothing of `accounts` (`tests/layers.rs` holds that).

pub mod console_sessions;
pub mod credentials;
pub mod device_grant;
pub mod device_key;
pub mod device_proof;
pub mod login;
pub mod new_device;
pub mod oidc;
pub mod throttle;
pub mod two_factor;
