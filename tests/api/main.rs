//! HTTP integration tests: each runs the real server on a random port with a
//! database of its own, on SQLite and (with `TEST_DATABASE_URL`) PostgreSQL.
//!
//! By area: `auth/` (signing in, using and losing a token), `accounts/`
//! (users, passwords, e-mail, two-factor, imports), `admin/` (the admin API
//! and the console), `services/` (what other services use to check a
//! token), `ops/` (running it: the CLI, metrics, faults, mail, events, the
//! contract's conventions). Everything two files share is in `helpers/`,
//! whose `client.rs` is the typed client (one `TestApp` method per
//! endpoint); `#[on_both_backends]` (in `macros/`) makes a test's twins.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod helpers;

mod accounts;
mod admin;
mod auth;
mod ops;
mod services;
