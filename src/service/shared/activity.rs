//! What the console's dashboard charts: sign-ins that succeeded and failed,
//! throttled attempts and revocations, per hour over the last 24 hours and
//! per UTC day over the last 30 days, counted from the events.

use crate::db::activity as queries;
use crate::db::AnyConnection;
use crate::domain::event::EventKind;
use crate::domain::Timestamp;
use crate::service::Error;
use std::collections::HashMap;

pub const HOUR: i64 = 3_600_000;
pub const DAY: i64 = 24 * HOUR;
/// Bars in the hourly charts, the current hour the last.
pub const HOURS: i64 = 24;
/// Bars in the daily charts, today (UTC) the last.
pub const DAYS: i64 = 30;

/// One bar: the events counted from `start` for one bucket's width.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bucket {
    pub start: Timestamp,
    pub count: i64,
}

/// The four series over one range, each one bucket a bar, oldest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Series {
    pub signins: Vec<Bucket>,
    pub failed: Vec<Bucket>,
    pub throttled: Vec<Bucket>,
    /// `revoked` and `logout` events: a sign-out ends its device too.
    pub revocations: Vec<Bucket>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Activity {
    pub hours: Series,
    pub days: Series,
}

const KINDS: [EventKind; 5] = [
    EventKind::Login,
    EventKind::LoginFailed,
    EventKind::Throttled,
    EventKind::Revoked,
    EventKind::Logout,
];

/// The activity up to `now`: the hour and the UTC day that hold it are
/// the last bars.
pub fn activity(conn: &mut AnyConnection, now: Timestamp) -> Result<Activity, Error> {
    let hour = now.millis().div_euclid(HOUR) * HOUR;
    let day = now.millis().div_euclid(DAY) * DAY;
    let hours = series(conn, hour - (HOURS - 1) * HOUR, HOUR, HOURS)?;
    let days = series(conn, day - (DAYS - 1) * DAY, DAY, DAYS)?;
    Ok(Activity { hours, days })
}

fn series(conn: &mut AnyConnection, first: i64, width: i64, buckets: i64) -> Result<Series, Error> {
    let counted: HashMap<(String, i64), i64> =
        queries::counts(conn, &KINDS, first, width, buckets)?
            .into_iter()
            .map(|row| ((row.kind, row.bucket_start), row.count))
            .collect();
    let bars = |kinds: &[EventKind]| -> Vec<Bucket> {
        (0..buckets)
            .map(|index| {
                let start = first + index * width;
                let count = kinds
                    .iter()
                    .map(|kind| {
                        counted
                            .get(&(kind.as_str().to_owned(), start))
                            .copied()
                            .unwrap_or(0)
                    })
                    .sum();
                Bucket {
                    start: Timestamp(start),
                    count,
                }
            })
            .collect()
    };
    Ok(Series {
        signins: bars(&[EventKind::Login]),
        failed: bars(&[EventKind::LoginFailed]),
        throttled: bars(&[EventKind::Throttled]),
        revocations: bars(&[EventKind::Revoked, EventKind::Logout]),
    })
}
