//! Time and randomness are injected so tests, demos and deadline rules can control
//! them. Nothing in Sammen calls the system clock or a random generator directly.

use std::sync::Mutex;
use time::{Duration, OffsetDateTime};

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

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

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
}
