//! Time and randomness are injected so tests, demos and deadline rules can control
//! them. Nothing in Sammen calls the system clock or a random generator directly.

use std::sync::Mutex;
use time::{Date, Duration, Month, OffsetDateTime, PrimitiveDateTime, Time, UtcOffset, Weekday};

pub trait Clock: Send + Sync {
    fn now(&self) -> OffsetDateTime;
}

/// The wall clock, for production.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }
}

/// A clock that stands still until moved; for tests, the demo and generated data.
#[derive(Debug)]
pub struct ManualClock(Mutex<OffsetDateTime>);

impl ManualClock {
    pub fn new(at: OffsetDateTime) -> Self {
        ManualClock(Mutex::new(at))
    }
    pub fn set(&self, at: OffsetDateTime) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = at;
    }
    pub fn advance(&self, by: Duration) {
        let mut now = self.0.lock().unwrap_or_else(|e| e.into_inner());
        *now += by;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> OffsetDateTime {
        *self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Where new ids come from: 16 random bytes at a time.
pub trait IdSource: Send + Sync {
    fn random_bytes(&self) -> [u8; 16];
}

/// Whole microseconds since the Unix epoch: how instants are stored on both engines.
pub fn to_micros(t: OffsetDateTime) -> i64 {
    (t.unix_timestamp_nanos() / 1_000) as i64
}

pub fn from_micros(micros: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(micros) * 1_000).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// Drops sub-microsecond precision so an instant survives a round trip through storage.
pub fn truncate_to_micros(t: OffsetDateTime) -> OffsetDateTime {
    from_micros(to_micros(t))
}

/// Denmark's offset from UTC at an instant: CEST (+2) from the last Sunday of March at
/// 01:00 UTC to the last Sunday of October at 01:00 UTC, CET (+1) otherwise.
pub fn danish_offset(at: OffsetDateTime) -> UtcOffset {
    let at = at.to_offset(UtcOffset::UTC);
    let last_sunday = |month: Month| {
        let mut d = Date::from_calendar_date(at.year(), month, 31).expect("March and October have 31 days");
        while d.weekday() != Weekday::Sunday {
            d = d.previous_day().expect("a day in the year");
        }
        PrimitiveDateTime::new(d, Time::from_hms(1, 0, 0).expect("01:00")).assume_utc()
    };
    let summer = at >= last_sunday(Month::March) && at < last_sunday(Month::October);
    UtcOffset::from_hms(if summer { 2 } else { 1 }, 0, 0).expect("a valid offset")
}

/// The day an instant falls on in Denmark. "Today", a deadline's day and the day
/// something happened are Danish days: from midnight to 01:00 (02:00 in summer) the day
/// in UTC is still yesterday's.
pub fn danish_day(at: OffsetDateTime) -> Date {
    at.to_offset(danish_offset(at)).date()
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::{date, datetime};

    #[test]
    fn manual_clock_moves_only_when_told() {
        let clock = ManualClock::new(datetime!(2026-01-05 08:00 UTC));
        assert_eq!(clock.now(), datetime!(2026-01-05 08:00 UTC));
        clock.advance(Duration::weeks(8));
        assert_eq!(clock.now(), datetime!(2026-03-02 08:00 UTC));
    }

    #[test]
    fn micros_round_trip() {
        let t = datetime!(2026-11-22 07:35:22.123456 UTC);
        assert_eq!(from_micros(to_micros(t)), t);
    }

    #[test]
    fn summer_and_winter_time() {
        assert_eq!(danish_offset(datetime!(2026-01-15 12:00 UTC)).whole_hours(), 1);
        assert_eq!(danish_offset(datetime!(2026-07-15 12:00 UTC)).whole_hours(), 2);
        // 2026: summer time from 29 March 01:00 UTC to 25 October 01:00 UTC.
        assert_eq!(danish_offset(datetime!(2026-03-29 00:59 UTC)).whole_hours(), 1);
        assert_eq!(danish_offset(datetime!(2026-03-29 01:00 UTC)).whole_hours(), 2);
        assert_eq!(danish_offset(datetime!(2026-10-25 01:00 UTC)).whole_hours(), 1);
    }

    #[test]
    fn the_day_is_the_danish_day() {
        // Half past midnight in Copenhagen is still the day before in UTC.
        assert_eq!(danish_day(datetime!(2026-03-09 23:30 UTC)), date!(2026 - 03 - 10));
        assert_eq!(danish_day(datetime!(2026-03-09 22:59 UTC)), date!(2026 - 03 - 09));
        // In summer the Danish day begins at 22:00 UTC.
        assert_eq!(danish_day(datetime!(2026-07-15 21:59 UTC)), date!(2026 - 07 - 15));
        assert_eq!(danish_day(datetime!(2026-07-15 22:00 UTC)), date!(2026 - 07 - 16));
        assert_eq!(danish_day(datetime!(2026-07-15 22:00 +02:00)), date!(2026 - 07 - 15), "any offset in");
        // The night the clocks go back: 22:30 UTC on the 24th is 00:30 summer time on the 25th.
        assert_eq!(danish_day(datetime!(2026-10-24 22:30 UTC)), date!(2026 - 10 - 25));
        assert_eq!(danish_day(datetime!(2026-10-25 22:30 UTC)), date!(2026 - 10 - 25), "winter time again");
    }
}
