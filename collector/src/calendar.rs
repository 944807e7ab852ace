//! School hours: which stretches of time count against a school's
//! availability.
//!
//! A school that is dark at night, on Sundays or in the Tết holiday has not
//! failed anyone; an outage entirely outside school hours is *scheduled*
//! and counts for nothing. Hours are local time at a fixed UTC offset
//! (Vietnam keeps no daylight saving). Without a `[calendar]` in
//! `targets.toml` every hour of every day is school hours.

use serde::Serialize;
use time::{Date, Weekday};

const MINUTE_MS: i64 = 60_000;
const DAY_MS: i64 = 24 * 60 * MINUTE_MS;

/// School days, hours and holidays.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Calendar {
    /// Local time minus UTC, minutes.
    pub utc_offset_minutes: i32,
    /// School days, Monday first.
    pub school_days: [bool; 7],
    /// Start of the school day, minutes after local midnight.
    pub day_start_minute: u32,
    /// End of the school day, minutes after local midnight (1440 = midnight).
    pub day_end_minute: u32,
    /// Holidays, inclusive date ranges in local time.
    pub holidays: Vec<(Date, Date)>,
}

impl Default for Calendar {
    /// Every hour of every day.
    fn default() -> Self {
        Self {
            utc_offset_minutes: 0,
            school_days: [true; 7],
            day_start_minute: 0,
            day_end_minute: 24 * 60,
            holidays: Vec::new(),
        }
    }
}

impl Calendar {
    /// Milliseconds of school hours within `[from_ms, to_ms)`.
    pub fn school_ms(&self, from_ms: i64, to_ms: i64) -> i64 {
        if to_ms <= from_ms {
            return 0;
        }
        let offset = i64::from(self.utc_offset_minutes) * MINUTE_MS;
        let (from, to) = (from_ms + offset, to_ms + offset);
        let open = i64::from(self.day_start_minute) * MINUTE_MS;
        let close = i64::from(self.day_end_minute) * MINUTE_MS;
        let mut total = 0;
        // One local day at a time; outages and windows span days, not years.
        for day in from.div_euclid(DAY_MS)..=(to - 1).div_euclid(DAY_MS) {
            if !self.is_school_day(day) {
                continue;
            }
            let start = (day * DAY_MS + open).max(from);
            let end = (day * DAY_MS + close).min(to);
            total += (end - start).max(0);
        }
        total
    }

    /// Whether local day `day` (days since 1970-01-01) is a school day.
    fn is_school_day(&self, day: i64) -> bool {
        // 1970-01-01 is Julian day 2 440 588.
        let Some(date) = i32::try_from(day + 2_440_588)
            .ok()
            .and_then(|jd| Date::from_julian_day(jd).ok())
        else {
            return false;
        };
        let weekday = date.weekday().number_days_from_monday() as usize;
        self.school_days[weekday]
            && !self
                .holidays
                .iter()
                .any(|(first, last)| (*first..=*last).contains(&date))
    }
}

/// Parses a day name as written in `school_days`.
pub fn parse_weekday(name: &str) -> Option<Weekday> {
    Some(match name.to_ascii_lowercase().as_str() {
        "mon" | "monday" => Weekday::Monday,
        "tue" | "tuesday" => Weekday::Tuesday,
        "wed" | "wednesday" => Weekday::Wednesday,
        "thu" | "thursday" => Weekday::Thursday,
        "fri" | "friday" => Weekday::Friday,
        "sat" | "saturday" => Weekday::Saturday,
        "sun" | "sunday" => Weekday::Sunday,
        _ => return None,
    })
}

/// Parses `HH:MM` (00:00 to 24:00) into minutes after midnight.
pub fn parse_clock(text: &str) -> Option<u32> {
    let (h, m) = text.split_once(':')?;
    if h.len() != 2 || m.len() != 2 {
        return None;
    }
    let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
    let minutes = h * 60 + m;
    (m < 60 && minutes <= 24 * 60).then_some(minutes)
}

/// Parses a holiday: `YYYY-MM-DD` or an inclusive range
/// `YYYY-MM-DD..YYYY-MM-DD`.
pub fn parse_holiday(text: &str) -> Option<(Date, Date)> {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    let date = |s: &str| Date::parse(s.trim(), &format).ok();
    match text.split_once("..") {
        Some((a, b)) => {
            let (a, b) = (date(a)?, date(b)?);
            (a <= b).then_some((a, b))
        }
        None => date(text).map(|d| (d, d)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR_MS: i64 = 60 * MINUTE_MS;

    /// Mon–Fri 07:00–17:00 at UTC+7, with 2026-09-02 (a Wednesday) off.
    fn weekdays() -> Calendar {
        Calendar {
            utc_offset_minutes: 7 * 60,
            school_days: [true, true, true, true, true, false, false],
            day_start_minute: 7 * 60,
            day_end_minute: 17 * 60,
            holidays: vec![parse_holiday("2026-09-02").unwrap()],
        }
    }

    /// 2026-08-31 (a Monday) at `hour`:00 local time (UTC+7), in ms.
    fn monday_local(hour: i64) -> i64 {
        // 2026-08-31 is 20 696 days after 1970-01-01.
        20_696 * DAY_MS + (hour - 7) * HOUR_MS
    }

    #[test]
    fn every_hour_counts_by_default() {
        let c = Calendar::default();
        assert_eq!(c.school_ms(1_000, 1_000 + 3 * DAY_MS + 5), 3 * DAY_MS + 5);
        assert_eq!(c.school_ms(10, 10), 0);
        assert_eq!(c.school_ms(10, 5), 0);
    }

    #[test]
    fn only_school_hours_of_school_days_count() {
        let c = weekdays();
        // Monday 06:00 to 08:00: one hour (07:00–08:00).
        assert_eq!(c.school_ms(monday_local(6), monday_local(8)), HOUR_MS);
        // Monday night 18:00 to Tuesday 06:00: nothing.
        assert_eq!(c.school_ms(monday_local(18), monday_local(30)), 0);
        // Monday 16:00 to Tuesday 08:00: 1 h + 1 h.
        assert_eq!(c.school_ms(monday_local(16), monday_local(32)), 2 * HOUR_MS);
        // The whole week from Monday 00:00: Mon, Tue, Thu, Fri (Wednesday
        // is a holiday), 10 h each.
        assert_eq!(
            c.school_ms(monday_local(0), monday_local(7 * 24)),
            4 * 10 * HOUR_MS
        );
        // Saturday and Sunday: nothing.
        assert_eq!(c.school_ms(monday_local(5 * 24), monday_local(7 * 24)), 0);
    }

    #[test]
    fn clock_day_and_holiday_parsing() {
        assert_eq!(parse_clock("07:30"), Some(450));
        assert_eq!(parse_clock("24:00"), Some(1440));
        assert_eq!(parse_clock("24:01"), None);
        assert_eq!(parse_clock("7:30"), None);
        assert_eq!(parse_clock("07:60"), None);
        assert_eq!(parse_weekday("Sat"), Some(Weekday::Saturday));
        assert_eq!(parse_weekday("funday"), None);
        let (a, b) = parse_holiday("2027-02-05..2027-02-13").unwrap();
        assert_eq!((a.day(), b.day()), (5, 13));
        assert!(parse_holiday("2027-02-13..2027-02-05").is_none());
        assert!(parse_holiday("2027-02-30").is_none());
    }
}
