//! The `multitoken` binary: parse the command line, then serve, migrate or
//! run an operations command (`cli`). Every failure is a message on
//! standard error and exit status 1, never a panic.

use multitoken::cli::{Cli, Command};
use std::process::ExitCode;

fn main() -> ExitCode {
    let Cli { settings, command } = match Cli::try_parse_args(std::env::args_os()) {
        Ok(cli) => cli,
        Err(error) => {
            // Help and version go to stdout with status 0; a bad setting or
            // usage is an error like any other: stderr and status 1.
            let _ = error.print();
            return if error.use_stderr() {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    env_logger::Builder::new()
        .parse_filters(&settings.server.log_filter)
        .format_timestamp_millis()
        .init();
    let result = Command::run(
        command,
        settings,
        &mut std::io::stdin().lock(),
        &mut std::io::stdout(),
    );
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("multitoken: {error}");
            ExitCode::FAILURE
        }
    }
}
