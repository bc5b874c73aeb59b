//! Rebuilds the crate when a migration changes: they are embedded in the
//! binary by `diesel_migrations::embed_migrations!`, which cargo cannot see.
//!
//! Nothing here looks at the machine: what the HTTP tests can run is probed
//! by `tests/api/build.rs`, in a package of its own, so that installing a
//! tool or changing `PATH` never rebuilds the service.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
