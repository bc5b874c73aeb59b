//! Which `SECRET_KEY` the server signs with: the configured one; else the
//! one kept in the database; else, on a loopback address only, a new one
//! that is kept in the database, so that restarts keep reset links valid.
//! A server reachable from elsewhere never invents its secret: several
//! instances behind a balancer must share one, so the operator sets it.

use crate::db::{secrets, AnyConnection};
use crate::domain::{SecretKey, Timestamp};
use std::net::SocketAddr;

const STORED_NAME: &str = "SECRET_KEY";

/// The configured `SECRET_KEY`, else the one kept in the database, if any;
/// never a new one (for the command line, which must not invent one).
pub fn known(conn: &mut AnyConnection, configured: Option<&SecretKey>) -> Option<SecretKey> {
    if let Some(configured) = configured {
        return Some(configured.clone());
    }
    let stored = secrets::get(conn, STORED_NAME).ok()??;
    SecretKey::parse(&stored).ok()
}

pub fn resolve(
    conn: &mut AnyConnection,
    configured: Option<&SecretKey>,
    bind: SocketAddr,
) -> Result<SecretKey, String> {
    if let Some(configured) = configured {
        return Ok(configured.clone());
    }
    let storage =
        |e: diesel::result::Error| format!("cannot read or store the generated SECRET_KEY: {e}");
    if let Some(stored) = secrets::get(conn, STORED_NAME).map_err(storage)? {
        return SecretKey::parse(&stored)
            .map_err(|e| format!("the SECRET_KEY stored in the database is unusable: {e}"));
    }
    if !bind.ip().is_loopback() {
        return Err(format!(
            "SECRET_KEY must be set when MULTITOKEN_BIND ({bind}) is not a loopback address: it signs password-reset links and console sessions, which every instance must accept"
        ));
    }
    let generated = SecretKey::generate();
    let stored = secrets::insert_or_get(
        conn,
        STORED_NAME,
        generated.expose(),
        Timestamp::now().millis(),
    )
    .map_err(storage)?;
    log::info!("SECRET_KEY is not set: generated one and stored it in the database");
    SecretKey::parse(&stored)
        .map_err(|e| format!("the SECRET_KEY stored in the database is unusable: {e}"))
}
