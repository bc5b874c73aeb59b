//! multitoken: one API token per (user, client), checked on every request,
//! revocable one device at a time. The crate is a library so that tests and
//! benchmarks start the very application the binary serves.
//!
//! Layers, each importing only those below it (checked by `tests/layers.rs`):
//! `domain` (pure rules) and `db` (storage), `metrics` and `mail` at the
//! bottom; `service` (use cases, no HTTP); `http` (what the API and the
//! console share); `routes` (the JSON API) and `console` (HTML); then
//! `startup`, `jobs` and `cli`, which wire it together.

pub mod cli;
pub mod config;
mod console;
pub mod db;
pub mod domain;
mod http;
mod jobs;
pub mod mail;
mod metrics;
pub mod routes;
pub mod service;
pub mod startup;
