//! multitoken: one API token per (user, client), checked on every request,
//! revocable one device at a time. The crate is a library so that tests and
//! benchmarks start the very application the binary serves.

pub mod auth;
pub mod body;
pub mod cli;
pub mod config;
pub mod console;
pub mod db;
pub mod domain;
pub mod error;
pub mod mail;
pub mod metrics;
pub mod openapi;
pub mod routes;
pub mod service;
pub mod startup;
pub mod state;
