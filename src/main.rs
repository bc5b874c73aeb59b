//! The `multitoken` binary: parse the command line, then serve, migrate or
//! run an operations command. Every failure is a message on standard error
//! and exit status 1, never a panic.

use clap::Parser;
use multitoken::cli::{self, CliError};
use multitoken::config::{Cli, Command, Settings};
use multitoken::db;
use multitoken::startup::Application;
use std::process::ExitCode;

fn main() -> ExitCode {
    let Cli { settings, command } = match Cli::try_parse() {
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
        .parse_filters(&settings.log_filter)
        .format_timestamp_millis()
        .init();
    let result = match command {
        None | Some(Command::Serve) => serve(settings),
        Some(Command::Migrate) => migrate(&settings),
        Some(Command::User(command)) => cli::run_user(
            &settings,
            command,
            &mut std::io::stdin().lock(),
            &mut std::io::stdout(),
        ),
        Some(Command::Tokens(command)) => {
            cli::run_tokens(&settings, command, &mut std::io::stdout())
        }
        Some(Command::Healthcheck) => cli::healthcheck(settings.bind),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("multitoken: {error}");
            ExitCode::FAILURE
        }
    }
}

fn serve(settings: Settings) -> Result<(), CliError> {
    actix_web::rt::System::new().block_on(async move {
        let application = Application::build(settings).map_err(|e| CliError(e.to_string()))?;
        application
            .run_until_stopped()
            .await
            .map_err(|e| CliError(format!("server stopped: {e}")))
    })
}

fn migrate(settings: &Settings) -> Result<(), CliError> {
    let applied = db::migrate(&settings.database_url)?;
    println!(
        "applied {applied} migration(s) to {}",
        settings.database_url.describe()
    );
    Ok(())
}
