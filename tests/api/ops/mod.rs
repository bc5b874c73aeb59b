//! Running the service: the access log, the command line, metrics, the OpenAPI document,
//! faults and durability, storage, the sweep, mail and its outbox, the token
//! cache, secrets at rest, the contract's conventions, bad bytes, events.

mod access_log;
mod bad_bytes;
mod bootstrap_admin;
mod cli;
mod conventions;
mod docs;
mod durability;
mod events;
pub(crate) mod faults;
mod first_run;
mod mail;
mod metrics;
mod openapi;
mod outbox;
mod password_prompt;
mod revocation_sync;
mod secrets;
mod shutdown;
mod smtp_tls;
mod storage;
mod sweep;
mod token_cache;
