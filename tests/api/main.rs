//! HTTP integration tests: each runs the real server on a random port with a
//! database of its own, on SQLite and (with `TEST_DATABASE_URL`) PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod helpers;

mod authentication;
mod cli;
mod conventions;
mod devices;
mod durability;
mod expiry;
mod faults;
mod login;
mod process;
mod secrets;
mod sweep;
mod throttle;
mod timing;
