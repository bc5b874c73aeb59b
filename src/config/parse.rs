//! The value parsers the settings share. A refusal names the setting's
//! environment variable (`TOKEN_TTL: invalid duration …`), taken from the
//! argument itself, so no declaration spells its variable a second time.

use clap::builder::TypedValueParser;
use clap::error::ErrorKind;
use std::ffi::OsStr;

/// The name a refusal starts with: the argument's environment variable,
/// or its value name when the variable was taken off (the unit tests do
/// that for variables set where they run; the value name is the variable's
/// name for every setting but `--bind` and `--log`).
fn setting_name(arg: Option<&clap::Arg>) -> String {
    let Some(arg) = arg else {
        return String::new();
    };
    match (arg.get_env(), arg.get_value_names()) {
        (Some(env), _) => env.to_string_lossy().into_owned(),
        (None, Some([name, ..])) => name.to_string(),
        (None, _) => arg.get_id().to_string().to_uppercase(),
    }
}

/// A parser of text that prefixes its refusals with the setting's name.
#[derive(Clone)]
pub struct Named<T> {
    parse: fn(&str) -> Result<T, String>,
    /// Whether a refusal may repeat the value (not when it may hold a password).
    shows_value: bool,
}

/// `value_parser = named(parse_duration)`: `parse`, with refusals that
/// name the setting.
pub fn named<T>(parse: fn(&str) -> Result<T, String>) -> Named<T> {
    Named {
        parse,
        shows_value: true,
    }
}

/// Like [`named`], for a value that may hold a password: the refusal is
/// clap's "raw" error, which does not repeat the value.
pub fn secret<T>(parse: fn(&str) -> Result<T, String>) -> Named<T> {
    Named {
        parse,
        shows_value: false,
    }
}

impl<T: Clone + Send + Sync + 'static> TypedValueParser for Named<T> {
    type Value = T;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        arg: Option<&clap::Arg>,
        value: &OsStr,
    ) -> Result<T, clap::Error> {
        let name = setting_name(arg);
        let parse = self.parse;
        if self.shows_value {
            // clap's own closure parser writes the message (`invalid value
            // 'x' for '--flag <NAME>': …`); only the prefix is ours.
            let prefixed = move |text: &str| parse(text).map_err(|e| format!("{name}: {e}"));
            return prefixed.parse_ref(cmd, arg, value);
        }
        let refuse = |message: String| {
            clap::Error::raw(ErrorKind::ValueValidation, format!("{name}: {message}\n"))
        };
        let text = value
            .to_str()
            .ok_or_else(|| refuse("not valid UTF-8".into()))?;
        parse(text).map_err(refuse)
    }
}

/// `true`/`false` (also `1`/`0`, `yes`/`no`, `on`/`off`; empty is false).
pub fn boolean(text: &str) -> Result<bool, String> {
    match text.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" | "" => Ok(false),
        _ => Err(format!("invalid value {text:?}: expected true or false")),
    }
}

/// A count of at least 1.
pub fn positive(text: &str) -> Result<u32, String> {
    match text.trim().parse::<u32>() {
        Ok(value) if value > 0 => Ok(value),
        _ => Err(format!(
            "invalid value {text:?}: expected a whole number of at least 1"
        )),
    }
}

/// A link for a mail: http(s), one short line, with every placeholder.
pub fn link(text: &str, placeholders: &[&str]) -> Result<String, String> {
    let text = text.trim();
    // Kept short and on one line so that the mail can carry it unwrapped.
    if text.len() > 512 || text.chars().any(char::is_control) {
        return Err("must be one line of at most 512 characters".into());
    }
    if !(text.starts_with("http://") || text.starts_with("https://")) {
        return Err(format!("{text:?} must start with http:// or https://"));
    }
    for placeholder in placeholders {
        if !text.contains(placeholder) {
            return Err(format!("{text:?} must contain {placeholder}"));
        }
    }
    Ok(text.to_owned())
}

/// The most common rule of a group: a length of time that must not be zero.
pub fn longer_than_zero(name: &str, value: std::time::Duration) -> Result<(), String> {
    match value.is_zero() {
        true => Err(format!("{name} must be longer than 0s")),
        false => Ok(()),
    }
}
