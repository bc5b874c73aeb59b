//! HTTP integration tests: each runs the real server on a random port with a
//! database of its own, on SQLite and (with `TEST_DATABASE_URL`) PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod helpers;

mod accounts_support;

mod account_throttles;
mod admin;
mod admin_guards;
mod authentication;
mod bad_bytes;
mod browser;
mod cli;
mod console;
mod console_sessions;
mod conventions;
mod devices;
mod django_import;
mod django_passwords;
mod django_project;
mod durability;
mod email_verification;
mod events;
mod expiry;
mod faults;
mod forward_auth;
mod introspection;
mod jwt;
mod jwt_verifiers;
mod legacy_keys;
mod login;
mod mail;
mod metrics;
mod oidc;
mod openapi;
mod outbox;
mod password_change;
mod password_reset;
mod proxies;
mod races;
mod registration;
mod resource_server;
mod scopes;
mod secrets;
mod smtp_tls;
mod storage;
mod sweep;
mod throttle;
mod timing;
mod token_cache;
mod two_factor;
mod usernames;
