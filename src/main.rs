//! The `multitoken` binary: parse the command line, then serve, migrate or
//! run an operations command (`cli`). Every failure is one message on
//! standard error, `error: …` as clap's own are, and exit status 1, never a
//! panic.

use multitoken::cli::{Cli, Command};
use std::process::ExitCode;

fn main() -> ExitCode {
    let Cli { settings, command } = match Cli::try_parse_args(std::env::args_os()) {
        Ok(cli) => cli,
        Err(error) => {
            // A refused value is a bad setting, one line like every other
            // error at start: clap's pointer to --help under it adds nothing.
            if error.kind() == clap::error::ErrorKind::ValueValidation {
                let rendered = error.render().to_string();
                eprintln!("{}", rendered.lines().next().unwrap_or_default());
                return ExitCode::FAILURE;
            }
            // Help and version go to stdout with status 0; usage is an
            // error like any other: stderr and status 1.
            let _ = error.print();
            return if error.use_stderr() {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    start_logging(&settings.server.log_filter);
    let result = Command::run(
        command,
        settings,
        &mut std::io::stdin().lock(),
        &mut std::io::stdout(),
    );
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

/// Logs through env_logger with `filter` (`RUST_LOG`). A filter with a
/// mistake in it is replaced by `info`, with a warning: env_logger reads an
/// unknown word such as `infoo` or `warning` as the name of a module to log,
/// and a server that logs nothing at all looks healthy until it is not.
fn start_logging(filter: &str) {
    let mistake = log_filter_mistake(filter);
    env_logger::Builder::new()
        .parse_filters(if mistake.is_some() { "info" } else { filter })
        .format_timestamp_millis()
        .init();
    if let Some(mistake) = mistake {
        log::warn!("RUST_LOG={filter:?} is not a log filter ({mistake}): logging at info instead");
    }
}

/// What is wrong with a `RUST_LOG` value, if anything. Accepted: levels
/// (`off`, `error`, `warn`, `info`, `debug`, `trace`, in any case),
/// `module=level` directives, multitoken's own modules alone (every level),
/// separated by commas, and one `/filter` after them. Anything else is a
/// mistake, even where env_logger would take it for a module.
fn log_filter_mistake(filter: &str) -> Option<String> {
    let mut parts = filter.split('/');
    let directives = parts.next().unwrap_or_default();
    if parts.nth(1).is_some() {
        return Some("more than one \"/\"".into());
    }
    for directive in directives.split(',').map(str::trim) {
        let level = match directive.split_once('=') {
            // `module=` is the module at every level.
            Some((_, level)) if level.trim().is_empty() => continue,
            Some((_, level)) => level.trim(),
            None if directive.is_empty() || is_our_module(directive) => continue,
            None => directive,
        };
        if level.parse::<log::LevelFilter>().is_err() {
            return Some(format!(
                "{level:?} is not a level: use off, error, warn, info, debug or trace, alone or after a module, as in multitoken=debug"
            ));
        }
    }
    None
}

fn is_our_module(target: &str) -> bool {
    target == "multitoken" || target.starts_with("multitoken::")
}

#[cfg(test)]
mod tests {
    use super::log_filter_mistake;

    #[test]
    fn log_filters_with_levels_and_modules_are_taken_as_they_are() {
        for filter in [
            "info",
            "WARN",
            "off",
            "",
            "debug,actix_web=warn",
            "multitoken=trace, r2d2 = off",
            "multitoken",
            "multitoken::startup,info",
            "info/serving",
        ] {
            assert_eq!(log_filter_mistake(filter), None, "{filter:?}");
        }
    }

    #[test]
    fn log_filters_that_would_silence_everything_are_mistakes() {
        for (filter, word) in [
            ("infoo", "\"infoo\""),
            ("warning", "\"warning\""),
            ("!!!", "\"!!!\""),
            ("info,actix_web=loud", "\"loud\""),
            ("multitoken=debug=trace", "\"debug=trace\""),
        ] {
            let mistake = log_filter_mistake(filter).unwrap_or_default();
            assert!(mistake.starts_with(word), "{filter:?}: {mistake}");
        }
        assert_eq!(
            log_filter_mistake("info/a/b").as_deref(),
            Some("more than one \"/\"")
        );
    }
}
