//! The README's and the book's shell samples, run by `tests/docs/run.py`
//! against the real server, on SQLite and on PostgreSQL: a sample whose
//! shown output went stale, or a shell block neither run nor marked as not
//! run, fails here with the page and line.

use crate::helpers::{on_both_backends, postgres_admin_url, Backend};
use std::path::Path;
use std::process::Command;

#[on_both_backends(needs docs_tests, "python3, bash, curl or jq is not on the PATH, or .venv-tests has no Django")]
async fn every_shell_sample_of_the_readme_and_the_book_prints_what_it_shows(backend: Backend) {
    let repository = Path::new(env!("MULTITOKEN_REPOSITORY"));
    let mut runner = Command::new("python3");
    runner
        .arg(repository.join("tests/docs/run.py"))
        .env(
            "MULTITOKEN_BIN",
            env!("CARGO_BIN_EXE_multitoken-under-test"),
        )
        .current_dir(repository);
    if backend == Backend::Postgres {
        // Each page gets a schema of its own in this database.
        runner.env(
            "DOCS_POSTGRES_URL",
            postgres_admin_url().expect("TEST_DATABASE_URL"),
        );
    }
    let output = runner.output().expect("run python3 tests/docs/run.py");
    let report = String::from_utf8_lossy(&output.stdout);
    let errors = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "tests/docs/run.py on {backend:?}: a sample's output differs from what it shows \
         (rerun one page with `MULTITOKEN_BIN=target/debug/multitoken-under-test \
         python3 tests/docs/run.py PAGE`, and DOCS_POSTGRES_URL for PostgreSQL):\n{report}{errors}"
    );
    // The report's last line counts what ran: a runner that silently found
    // no block would pass without checking anything.
    assert!(
        !report.contains("docs-run: 0 block(s)"),
        "tests/docs/run.py ran no block:\n{report}"
    );
}
