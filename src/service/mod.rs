//! Use cases, called alike by HTTP handlers and the command line.
//!
//! Functions that only touch the database take `&mut AnyConnection` and are
//! synchronous; the ones that also hash passwords are async and take the
//! shared [`crate::state::AppState`].

pub mod admin;
pub mod authenticate;
pub mod devices;
pub mod login;
pub mod password_change;
pub mod password_reset;
pub mod passwords;
pub mod registration;
pub mod secret_key;
pub mod throttle;
pub mod users;
