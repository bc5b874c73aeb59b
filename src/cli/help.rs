//! Which settings each command shows in its `--help`: the ones it acts on.
//!
//! Every setting stays a global flag that every command accepts and checks
//! as the server would (a command never runs on settings the server
//! refuses, and `multitoken --database-url X user list` keeps working); a
//! command gets hidden copies of the settings it does not act on, so that
//! `multitoken healthcheck --help` is a screen, not the server's manual.

use clap::Command;

/// The settings, by argument id, that a command acts on; `None`: all of
/// them (the server, and any command not listed here yet).
fn acts_on(command: &str) -> Option<&'static [&'static str]> {
    const DATABASE: &[&str] = &["database_url", "log_filter"];
    match command {
        "migrate" | "user" | "tokens" | "events" => Some(DATABASE),
        "healthcheck" => Some(&["bind", "log_filter"]),
        // Rotating a key resolves SECRET_KEY, which is generated only on a
        // loopback MULTITOKEN_BIND.
        "jwt" => Some(&[
            "database_url",
            "log_filter",
            "secret_key",
            "bind",
            "access_token_lifetime",
            "jwt_private_key_file",
        ]),
        "import-django" => Some(&[
            "database_url",
            "log_filter",
            "token_ttl",
            "token_max_age",
            "token_touch_interval",
        ]),
        _ => None,
    }
}

/// `root` with, in each subcommand, a hidden copy of every setting that
/// subcommand does not act on. clap propagates a global argument only to
/// the subcommands that have none of that id, and the copies are global
/// too, so a nested command (`user create`) inherits its parent's.
pub fn show_only_used_settings(root: Command) -> Command {
    let settings: Vec<clap::Arg> = root
        .get_arguments()
        .filter(|arg| arg.is_global_set())
        .cloned()
        .collect();
    let names: Vec<String> = root
        .get_subcommands()
        .map(|sub| sub.get_name().to_owned())
        .collect();
    names.iter().fold(root, |root, name| {
        let Some(used) = acts_on(name) else {
            return root;
        };
        root.mut_subcommand(name, |sub| {
            settings
                .iter()
                .filter(|arg| !used.contains(&arg.get_id().as_str()))
                .fold(sub, |sub, arg| sub.arg(arg.clone().hide(true)))
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_setting_named_is_a_setting() {
        let root = crate::cli::Cli::definition();
        let ids: Vec<&str> = root.get_arguments().map(|a| a.get_id().as_str()).collect();
        for sub in root.get_subcommands() {
            for id in acts_on(sub.get_name()).unwrap_or_default() {
                assert!(ids.contains(id), "{}: no setting {id}", sub.get_name());
            }
        }
    }

    #[test]
    fn a_command_shows_the_settings_it_acts_on_and_accepts_all_of_them() {
        let mut root = crate::cli::Cli::definition();
        root.build();
        let help = |path: &[&str]| {
            let mut command = root.clone();
            for name in path {
                command = command.find_subcommand(name).expect(name).clone();
            }
            command.render_help().to_string()
        };
        let healthcheck = help(&["healthcheck"]);
        assert!(healthcheck.lines().count() <= 25, "{healthcheck}");
        assert!(healthcheck.contains("--bind") && !healthcheck.contains("--token-ttl"));
        let create = help(&["user", "create"]);
        assert!(create.contains("--database-url") && !create.contains("--mail-from"));
        assert!(help(&["serve"]).contains("--mail-from"));
        let parse = |args: &[&str]| {
            crate::cli::Cli::try_parse_args(
                std::iter::once("multitoken").chain(args.iter().copied()),
            )
        };
        let refused = parse(&["healthcheck", "--token-ttl", "soon"]).map(|_| ());
        assert!(refused.is_err_and(|e| e.to_string().contains("TOKEN_TTL: ")));
        for args in [
            &["--token-ttl", "2h", "user", "list"][..],
            &[
                "user",
                "create",
                "bob",
                "--password-stdin",
                "--token-ttl",
                "2h",
            ][..],
        ] {
            let ttl = parse(args).map(|cli| cli.settings.tokens.token_ttl);
            assert_eq!(
                ttl.ok(),
                Some(std::time::Duration::from_secs(7200)),
                "{args:?}"
            );
        }
    }

    /// One row of the settings reference: variable, flag, default, and the
    /// heading it is under.
    struct Row {
        variable: String,
        flag: String,
        default: String,
        heading: String,
    }

    fn reference_rows() -> Vec<Row> {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/docs/src/reference/configuration.md"
        );
        let page = std::fs::read_to_string(path).expect("the settings reference");
        let mut heading = String::new();
        let mut rows = Vec::new();
        for line in page.lines() {
            if let Some(title) = line.strip_prefix("## ") {
                heading = title.to_owned();
            }
            let cells: Vec<&str> = line.split(" | ").collect();
            if let [first, flag, default, _meaning] = cells[..] {
                if let Some(variable) = first.strip_prefix("| `") {
                    rows.push(Row {
                        variable: variable.trim_end_matches('`').to_owned(),
                        flag: flag.to_owned(),
                        default: default.to_owned(),
                        heading: heading.clone(),
                    });
                }
            }
        }
        rows
    }

    /// Every argument of every command that reads a variable.
    fn settings(command: &clap::Command) -> Vec<clap::Arg> {
        let mut found: Vec<clap::Arg> = command
            .get_arguments()
            .filter(|arg| arg.get_env().is_some())
            .cloned()
            .collect();
        for sub in command.get_subcommands() {
            for arg in settings(sub) {
                if !found.iter().any(|seen| seen.get_id() == arg.get_id()) {
                    found.push(arg);
                }
            }
        }
        found
    }

    #[test]
    fn the_settings_reference_lists_every_variable_with_its_flag_heading_and_default() {
        let rows = reference_rows();
        let settings = settings(&crate::cli::Cli::definition());
        let mut documented: Vec<&str> = rows.iter().map(|row| row.variable.as_str()).collect();
        let mut declared: Vec<String> = settings
            .iter()
            .filter_map(|arg| arg.get_env())
            .map(|env| env.to_string_lossy().into_owned())
            .collect();
        documented.sort_unstable();
        declared.sort_unstable();
        assert_eq!(documented, declared, "docs/src/reference/configuration.md");
        for arg in &settings {
            let variable = arg.get_env().map(|env| env.to_string_lossy().into_owned());
            let Some(row) = rows
                .iter()
                .find(|row| Some(&row.variable) == variable.as_ref())
            else {
                continue;
            };
            let flag = format!("`--{}`", arg.get_long().unwrap_or_default());
            assert_eq!(row.flag, flag, "{}", row.variable);
            assert_eq!(
                Some(row.heading.as_str()),
                arg.get_help_heading(),
                "{} is under the heading of its group",
                row.variable
            );
            match arg.get_default_values() {
                [default] if default.is_empty() => {
                    assert!(row.default.starts_with("unset"), "{}", row.variable)
                }
                [default] => assert_eq!(
                    row.default,
                    format!("`{}`", default.to_string_lossy()),
                    "{}",
                    row.variable
                ),
                // No default: the page says what happens when it is unset.
                _ => assert!(!row.default.starts_with('`'), "{}", row.variable),
            }
        }
    }
}
