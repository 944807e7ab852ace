//! The school day: how busy a school is at a given moment, and the byte
//! counters that follow from it.
//!
//! Traffic follows one curve a day in the province's local time (UTC+7, no
//! daylight saving): a raised cosine over school hours, 07:00 to 17:00,
//! peaking at noon, over a small night floor (updates, the server's
//! backups). Weekends and holidays look like weekdays.
//!
//! The curve has a closed-form integral, so the interface counters of any
//! report are a pure function of its time: a report can be rebuilt from
//! its sequence number alone (how the in-memory spool keeps a backlog of
//! thousands of hosts in a few bytes each), and counters always rise.

use std::f64::consts::PI;

/// Offset of the province's local time from UTC, seconds (Indochina Time).
pub const UTC_OFFSET_SECS: f64 = 7.0 * 3600.0;
/// Share of the peak rate that flows at night.
pub const NIGHT_FLOOR: f64 = 0.03;

const DAY: f64 = 86_400.0;
const SCHOOL_START: f64 = 7.0 * 3600.0;
const SCHOOL_LENGTH: f64 = 10.0 * 3600.0;
/// The integral of [`level`]'s school-hours part over one day, seconds.
const BUMP_PER_DAY: f64 = SCHOOL_LENGTH / 2.0;

/// How busy schools are at `unix_secs`: 0 at night, 1 at noon.
pub fn level(unix_secs: f64) -> f64 {
    let x = (unix_secs + UTC_OFFSET_SECS).rem_euclid(DAY) - SCHOOL_START;
    if (0.0..SCHOOL_LENGTH).contains(&x) {
        (1.0 - (2.0 * PI * x / SCHOOL_LENGTH).cos()) / 2.0
    } else {
        0.0
    }
}

/// The rate at `unix_secs` as a share of the peak: the night floor plus
/// the school-hours curve.
pub fn rate_share(unix_secs: f64) -> f64 {
    NIGHT_FLOOR + (1.0 - NIGHT_FLOOR) * level(unix_secs)
}

/// The integral of [`rate_share`] from the Unix epoch to `unix_secs`, in
/// seconds at the peak rate.
pub fn integral(unix_secs: f64) -> f64 {
    let local = unix_secs + UTC_OFFSET_SECS;
    let days = (local / DAY).floor();
    let x = local - days * DAY - SCHOOL_START;
    let today = if x <= 0.0 {
        0.0
    } else if x >= SCHOOL_LENGTH {
        BUMP_PER_DAY
    } else {
        x / 2.0 - SCHOOL_LENGTH / (4.0 * PI) * (2.0 * PI * x / SCHOOL_LENGTH).sin()
    };
    // Relative to the local midnight before the epoch, which only shifts
    // the integral by a constant: callers take differences.
    NIGHT_FLOOR * local + (1.0 - NIGHT_FLOOR) * (days * BUMP_PER_DAY + today)
}

/// Bytes moved between two moments (ms since the epoch) by a host whose
/// peak is `peak_bytes_per_second`.
pub fn bytes_between(from_ms: u64, to_ms: u64, peak_bytes_per_second: f64) -> f64 {
    let secs = |ms: u64| ms as f64 / 1000.0;
    (integral(secs(to_ms)) - integral(secs(from_ms))).max(0.0) * peak_bytes_per_second
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2025-03-03 00:00 in UTC+7, as Unix seconds.
    const MIDNIGHT: f64 = 1_740_934_800.0;

    #[test]
    fn the_day_peaks_at_noon_and_is_quiet_at_night() {
        assert_eq!(level(MIDNIGHT + 3.0 * 3600.0), 0.0);
        assert!((level(MIDNIGHT + 12.0 * 3600.0) - 1.0).abs() < 1e-9);
        assert_eq!(level(MIDNIGHT + 20.0 * 3600.0), 0.0);
        assert!(rate_share(MIDNIGHT) > 0.0);
    }

    #[test]
    fn the_integral_matches_a_numeric_sum() {
        // Riemann sums over stretches that cross school hours and midnight.
        for (from, hours) in [(MIDNIGHT, 24.0), (MIDNIGHT + 10.0 * 3600.0, 30.0)] {
            let step = 1.0;
            let n = (hours * 3600.0 / step) as u64;
            let sum: f64 = (0..n)
                .map(|i| rate_share(from + (i as f64 + 0.5) * step) * step)
                .sum();
            let closed = integral(from + hours * 3600.0) - integral(from);
            assert!((sum - closed).abs() < 1.0, "{sum} vs {closed}");
        }
        // A whole day: the floor plus half of the school hours at the peak.
        let day = integral(MIDNIGHT + DAY) - integral(MIDNIGHT);
        let expected = NIGHT_FLOOR * DAY + (1.0 - NIGHT_FLOOR) * BUMP_PER_DAY;
        assert!((day - expected).abs() < 1e-3, "{day} vs {expected}");
    }

    #[test]
    fn counters_only_rise() {
        let mut last = 0.0;
        for m in 0..(48 * 60) {
            let t = (MIDNIGHT as u64 + m * 60) * 1000;
            let b = bytes_between(MIDNIGHT as u64 * 1000, t, 1e6);
            assert!(b >= last, "minute {m}");
            last = b;
        }
    }
}
