//! Signing in and using a token: logins, the 401 table, devices and logout,
//! expiry, scopes, the key format and its checksum, imported keys, throttles,
//! timing, races, social login.

mod authentication;
pub mod device_grant;
mod devices;
mod expiry;
pub mod key_format;
mod legacy_keys;
mod login;
mod oidc;
mod races;
mod scopes;
mod throttle;
mod timing;
