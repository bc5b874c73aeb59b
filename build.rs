//! Rebuilds the crate when a migration changes: they are embedded in the
//! binary by `diesel_migrations::embed_migrations!`, which cargo cannot see.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
