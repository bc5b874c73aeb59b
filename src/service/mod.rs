//! Use cases, called alike by HTTP handlers and the command line.
//!
//! Functions that only touch the database take `&mut AnyConnection` and are
//! synchronous; the ones that also hash passwords are async and take the
//! shared [`crate::state::AppState`].

pub mod authenticate;
pub mod devices;
pub mod login;
pub mod passwords;
pub mod throttle;
pub mod users;
