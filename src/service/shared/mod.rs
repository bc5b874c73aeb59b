//! What several capabilities share and none owns: the security
//! [`events`] every use case records, the mail [`outbox`], the argon2
//! [`passwords`] hasher (signing in verifies, accounts hash), the
//! resolved [`secret_key`], the [`webhooks`] that push events out and the
//! [`outbound`] client of requests to the services trusted for keys.
//!
//! Imports nothing of `tokens`, `sign_in` or `accounts` (`tests/layers.rs`
//! holds that), so each of them may use it.

pub mod activity;
pub mod answer_floor;
pub mod events;
pub mod outbound;
pub mod outbox;
pub mod passwords;
pub mod secret_key;
pub mod webhooks;
