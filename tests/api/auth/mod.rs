//! Signing in and using a token: logins, the 401 table, devices and logout,
//! expiry, scopes, the key format and its checksum, imported keys, throttles,
//! timing, races, key rotation, social login, sign-ins that cannot be locked out.

mod authentication;
pub mod device_grant;
mod device_keys;
mod devices;
mod dpop;
mod expiry;
pub mod key_format;
mod legacy_keys;
mod lockout;
mod login;
mod oidc;
mod races;
mod rotation;
mod scopes;
mod throttle;
mod timing;
