//! HTTP integration tests: each runs the real server on a random port with a
//! database of its own, on SQLite and (with `TEST_DATABASE_URL`) PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod helpers;

mod accounts;
mod admin;
mod auth;
mod ops;
mod services;
