//! The wall clock, for the shells only (daemon, client library, tools): the
//! cores take time as an argument and never read it.

use std::time::{SystemTime, UNIX_EPOCH};

/// Microseconds since the UNIX epoch now (0 if the clock is before 1970).
pub fn now_unix_us() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
}

/// Seconds since the UNIX epoch now.
pub fn now_unix_s() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64())
}
