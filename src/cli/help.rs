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
pub(super) fn acts_on(command: &str) -> Option<&'static [&'static str]> {
    const DATABASE: &[&str] = &["database_url", "log_filter"];
    match command {
        "migrate" | "events" => Some(DATABASE),
        // Their changes record events, which queue webhooks (sent by a
        // running server) and carry sids (under the stored or given key);
        // their revocations wait for the serving instances' acknowledgements.
        "user" | "tokens" => Some(&[
            "database_url",
            "log_filter",
            "secret_key",
            "webhook_urls",
            "webhook_secret",
            "webhook_events",
            "revocation_ack_timeout",
        ]),
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
