//! The login throttle's rule, as operators write it (`10/15m`: ten failed
//! logins per fifteen minutes), and the arithmetic of its fixed windows.

use super::duration::{format_duration, parse_duration};
use super::Timestamp;
use std::fmt;
use std::time::Duration;

/// At most `attempts` failed logins per `window`, counted per username and
/// per client address. A window opens with the first failure and lasts
/// `window`; once it has passed, counting starts again from zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThrottleLimit {
    pub attempts: u32,
    pub window: Duration,
}

impl ThrottleLimit {
    /// Parses `N/DURATION`, such as `10/15m`; both parts must be above zero.
    pub fn parse(text: &str) -> Result<Self, String> {
        let invalid = |why: &str| {
            format!("invalid throttle {text:?}: {why}; expected ATTEMPTS/DURATION such as 10/15m")
        };
        let (attempts, window) = text
            .trim()
            .split_once('/')
            .ok_or_else(|| invalid("no '/'"))?;
        let attempts = match attempts.trim().parse::<u32>() {
            Ok(attempts) if attempts > 0 => attempts,
            _ => {
                return Err(invalid(
                    "the number of attempts must be a whole number of at least 1",
                ))
            }
        };
        let window = parse_duration(window).map_err(|e| invalid(&e))?;
        if window.is_zero() {
            return Err(invalid("the window must be longer than 0s"));
        }
        Ok(ThrottleLimit { attempts, window })
    }

    /// Whether a window opened at `window_start` is still running at `now`.
    pub fn window_is_open(&self, window_start: Timestamp, now: Timestamp) -> bool {
        window_start.plus(self.window) > now
    }

    /// Whole seconds, at least one, until the window opened at
    /// `window_start` closes.
    pub fn seconds_until_reopened(&self, window_start: Timestamp, now: Timestamp) -> u64 {
        let remaining_ms = window_start
            .plus(self.window)
            .millis()
            .saturating_sub(now.millis());
        u64::try_from(remaining_ms)
            .unwrap_or(0)
            .div_ceil(1000)
            .max(1)
    }
}

impl fmt::Display for ThrottleLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.attempts, format_duration(self.window))
    }
}

/// The contract's 429 message.
pub fn throttled_detail(seconds: u64) -> String {
    let unit = if seconds == 1 { "second" } else { "seconds" };
    format!("Request was throttled. Expected available in {seconds} {unit}.")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_are_written_attempts_slash_duration() {
        assert_eq!(
            ThrottleLimit::parse("10/15m"),
            Ok(ThrottleLimit {
                attempts: 10,
                window: Duration::from_secs(900)
            })
        );
        assert_eq!(
            ThrottleLimit::parse(" 3 / 90s "),
            Ok(ThrottleLimit {
                attempts: 3,
                window: Duration::from_secs(90)
            })
        );
        assert_eq!(
            ThrottleLimit::parse("5/1h").map(|l| l.to_string()),
            Ok("5/1h".into())
        );
    }

    #[test]
    fn malformed_limits_are_refused_with_the_input_named() {
        for bad in [
            "", "10", "10/", "/15m", "0/15m", "-1/15m", "x/15m", "10/0s", "10/15", "10/15m/2",
        ] {
            let error = ThrottleLimit::parse(bad).expect_err(bad);
            assert!(error.contains("throttle"), "{bad}: {error}");
        }
    }

    #[test]
    fn the_wait_is_rounded_up_to_whole_seconds_and_never_zero() {
        let limit = ThrottleLimit::parse("1/60s").unwrap_or(ThrottleLimit {
            attempts: 1,
            window: Duration::ZERO,
        });
        let start = Timestamp(1_000_000);
        assert_eq!(limit.seconds_until_reopened(start, start), 60);
        let later = Timestamp(1_000_000 + 59_001);
        assert_eq!(limit.seconds_until_reopened(start, later), 1);
        let after = Timestamp(1_000_000 + 70_000);
        assert_eq!(limit.seconds_until_reopened(start, after), 1);
        assert!(limit.window_is_open(start, later));
        assert!(!limit.window_is_open(start, Timestamp(1_060_000)));
    }

    #[test]
    fn the_message_says_second_for_one() {
        assert_eq!(
            throttled_detail(1),
            "Request was throttled. Expected available in 1 second."
        );
        assert_eq!(
            throttled_detail(42),
            "Request was throttled. Expected available in 42 seconds."
        );
    }
}
