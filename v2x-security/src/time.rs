//! IEEE 1609.2 time: `Time32` (TAI seconds) and `Time64` (TAI microseconds)
//! since 2004-01-01 00:00:00 UTC, converted to and from Unix time.
//!
//! 1609.2 counts *TAI* time from its epoch, so it runs ahead of UTC by the
//! leap seconds inserted since 2004 (5 since 2017-01-01). Unix time has no
//! leap seconds; the table below converts. If IERS announces a new leap
//! second, add it to [`LEAP_SECONDS`] (the Python helper `tools/spdu.py`
//! carries the same table).

/// Unix time (s) of 2004-01-01 00:00:00 UTC, the 1609.2 epoch.
pub const EPOCH_UNIX_S: i64 = 1_072_915_200;

/// Unix time (s) of the first second after each leap second inserted since
/// 2004 (IERS Bulletin C): 2005-12-31, 2008-12-31, 2012-06-30, 2015-06-30,
/// 2016-12-31. None has been announced since.
pub const LEAP_SECONDS: [i64; 5] = [1_136_073_600, 1_230_768_000, 1_341_100_800, 1_435_708_800, 1_483_228_800];

const US: i64 = 1_000_000;

/// Leap seconds between the 1609.2 epoch and Unix time `unix_s`.
fn leaps_at_unix(unix_s: i64) -> i64 {
    LEAP_SECONDS.iter().filter(|&&l| unix_s >= l).count() as i64
}

/// Unix µs → 1609.2 `Time64`; `None` before the 1609.2 epoch.
pub fn unix_us_to_time64(unix_us: i64) -> Option<u64> {
    let since = unix_us.checked_sub(EPOCH_UNIX_S * US)?;
    if since < 0 {
        return None;
    }
    let tai = since.checked_add(leaps_at_unix(unix_us.div_euclid(US)) * US)?;
    u64::try_from(tai).ok()
}

/// 1609.2 `Time64` → Unix µs; `None` if it does not fit an `i64`.
pub fn time64_to_unix_us(t: u64) -> Option<i64> {
    let tai = i64::try_from(t).ok()?;
    let naive = tai.checked_add(EPOCH_UNIX_S * US)?;
    // Subtract the leap seconds in force at the resulting UTC instant.
    let mut leaps = 0;
    for &l in &LEAP_SECONDS {
        if naive - (leaps + 1) * US >= l * US {
            leaps += 1;
        }
    }
    naive.checked_sub(leaps * US)
}

/// Unix s → 1609.2 `Time32`; `None` outside 2004..2140.
pub fn unix_s_to_time32(unix_s: i64) -> Option<u32> {
    let since = unix_s.checked_sub(EPOCH_UNIX_S)?;
    if since < 0 {
        return None;
    }
    u32::try_from(since + leaps_at_unix(unix_s)).ok()
}

/// 1609.2 `Time32` → Unix µs.
pub fn time32_to_unix_us(t: u32) -> i64 {
    // Cannot overflow: u32 seconds in µs fit easily in i64.
    time64_to_unix_us(u64::from(t) * 1_000_000).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epoch_and_leap_offsets() {
        assert_eq!(unix_us_to_time64(EPOCH_UNIX_S * US), Some(0));
        assert_eq!(unix_us_to_time64(EPOCH_UNIX_S * US - 1), None);
        // 2005: no leap second yet.
        let y2005 = 1_104_537_600 * US;
        assert_eq!(unix_us_to_time64(y2005), Some(((1_104_537_600 - EPOCH_UNIX_S) * US) as u64));
        // After 2017-01-01 TAI runs 5 s ahead.
        let now = 1_767_225_600 * US; // 2026-01-01
        assert_eq!(unix_us_to_time64(now), Some(((1_767_225_600 - EPOCH_UNIX_S + 5) * US) as u64));
        assert_eq!(unix_s_to_time32(1_767_225_600), Some((1_767_225_600 - EPOCH_UNIX_S + 5) as u32));
    }

    #[test]
    fn round_trips() {
        for unix_s in [EPOCH_UNIX_S, 1_136_073_599, 1_136_073_600, 1_136_073_601, 1_483_228_800, 1_767_225_600] {
            for frac in [0, 1, 999_999] {
                let us = unix_s * US + frac;
                let t = unix_us_to_time64(us).unwrap();
                assert_eq!(time64_to_unix_us(t), Some(us), "unix {us}");
            }
            let t32 = unix_s_to_time32(unix_s).unwrap();
            assert_eq!(time32_to_unix_us(t32), unix_s * US);
        }
    }
}
