//! How to reach a professional or a role at an organisation: a message in Sammen, a
//! phone with opening hours ("call between 9 and 9:15"), or secure e-mail, each with the
//! time an answer can be expected. The care team view uses [`reach_now`] to say who can
//! be reached right now, in Danish local time.

use serde::{Deserialize, Serialize};
use time::{Date, Duration, OffsetDateTime, PrimitiveDateTime, Time};

use crate::clock::danish_offset;
use crate::decide::MAX_TITLE;
use crate::directory::required_text;
use crate::error::DomainError;
use crate::ids::{OrgId, UserId};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RouteKind {
    /// A message in Sammen.
    Message,
    Phone,
    SecureEmail,
}

/// Whose route it is: one professional's own, or a role's at an organisation.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum RouteHolder {
    Professional { user: UserId },
    Role { org: OrgId, role: String },
}

/// Opening hours on some weekdays, in Danish local time, e.g. Monday to Friday
/// 08:00-09:00.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Hours {
    /// ISO weekday numbers, 1 = Monday .. 7 = Sunday.
    pub days: Vec<u8>,
    /// "HH:MM".
    pub from: String,
    pub to: String,
}

/// Whom a route is for. A hospital's line for GPs, published so a GP can call it, is not
/// a number for its patients, who would wait in a queue meant for doctors.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Audience {
    #[default]
    Everyone,
    /// Shown to professionals only, never to patients or their proxies.
    Professionals,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContactRoute {
    pub holder: RouteHolder,
    pub kind: RouteKind,
    /// A phone number or an e-mail address; empty for messages in Sammen.
    #[serde(default)]
    pub address: String,
    /// When it is open; empty means always (a message can be sent any time).
    #[serde(default)]
    pub hours: Vec<Hours>,
    /// How many working hours an answer usually takes.
    pub answer_within_hours: u32,
    #[serde(default)]
    pub note: String,
    /// Everyone, unless it is a line for professionals.
    #[serde(default)]
    pub audience: Audience,
}

fn parse_hhmm(field: &'static str, s: &str) -> Result<Time, DomainError> {
    let bad = || DomainError::field(field, "write the time as HH:MM, e.g. 08:30");
    let (h, m) = s.trim().split_once(':').ok_or_else(bad)?;
    let (h, m): (u8, u8) = (h.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
    Time::from_hms(h, m, 0).map_err(|_| bad())
}

impl ContactRoute {
    /// Checks a route at the edge.
    pub fn check(mut self) -> Result<ContactRoute, DomainError> {
        if let RouteHolder::Role { role, .. } = &mut self.holder {
            *role = required_text("holder.role", role, MAX_TITLE)?;
        }
        self.address = self.address.trim().to_string();
        match self.kind {
            RouteKind::Phone => {
                let digits = self.address.chars().filter(char::is_ascii_digit).count();
                let ok = self.address.chars().all(|c| c.is_ascii_digit() || " +-()".contains(c));
                if !(ok && (8..=15).contains(&digits)) {
                    return Err(DomainError::field("address", "give a phone number of 8 to 15 digits"));
                }
            }
            RouteKind::SecureEmail => {
                let ok = self.address.split_once('@').is_some_and(|(a, d)| !a.is_empty() && d.contains('.'));
                if !ok || self.address.len() > MAX_TITLE {
                    return Err(DomainError::field("address", "give an e-mail address"));
                }
            }
            RouteKind::Message => self.address.clear(),
        }
        for h in &self.hours {
            if h.days.is_empty() || h.days.iter().any(|d| !(1..=7).contains(d)) {
                return Err(DomainError::field("hours.days", "name days as 1 (Monday) to 7 (Sunday)"));
            }
            if parse_hhmm("hours.from", &h.from)? >= parse_hhmm("hours.to", &h.to)? {
                return Err(DomainError::field("hours", "opening hours must end after they start"));
            }
        }
        if self.answer_within_hours > 24 * 30 {
            return Err(DomainError::field("answer_within_hours", "at most 720 hours"));
        }
        self.note = crate::decide::optional_text("note", &self.note, MAX_TITLE)?;
        Ok(self)
    }
}

/// Whether a route is open now, and if not, when it opens next (within a week).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Reach {
    pub open_now: bool,
    #[serde(with = "time::serde::rfc3339::option")]
    pub next_open: Option<OffsetDateTime>,
}

pub fn reach_now(route: &ContactRoute, now: OffsetDateTime) -> Reach {
    if route.hours.is_empty() {
        return Reach { open_now: true, next_open: None };
    }
    let local = now.to_offset(danish_offset(now));
    let opens = |day: Date, h: &Hours| -> Option<(OffsetDateTime, OffsetDateTime)> {
        if !h.days.contains(&day.weekday().number_from_monday()) {
            return None;
        }
        let (from, to) = (parse_hhmm("from", &h.from).ok()?, parse_hhmm("to", &h.to).ok()?);
        let at = |t: Time| {
            let naive = PrimitiveDateTime::new(day, t);
            let guess = naive.assume_offset(local.offset());
            naive.assume_offset(danish_offset(guess))
        };
        Some((at(from), at(to)))
    };
    let mut next: Option<OffsetDateTime> = None;
    for offset in 0..8 {
        let day = local.date() + Duration::days(offset);
        for h in &route.hours {
            if let Some((from, to)) = opens(day, h) {
                if from <= now && now < to {
                    return Reach { open_now: true, next_open: None };
                }
                if from > now && next.is_none_or(|n| from < n) {
                    next = Some(from);
                }
            }
        }
    }
    Reach { open_now: false, next_open: next }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn phone(from: &str, to: &str) -> ContactRoute {
        ContactRoute {
            holder: RouteHolder::Role { org: OrgId::from_random_bytes([1; 16]), role: "ambulatoriet".into() },
            kind: RouteKind::Phone,
            address: "+45 70 11 22 33".into(),
            hours: vec![Hours { days: vec![1, 2, 3, 4, 5], from: from.into(), to: to.into() }],
            answer_within_hours: 0,
            note: String::new(),
            audience: Audience::Everyone,
        }
    }

    #[test]
    fn a_quarter_of_an_hour_a_day() {
        let r = phone("09:00", "09:15");
        // Tuesday 24 November 2026, 09:05 in Copenhagen (08:05 UTC).
        assert!(reach_now(&r, datetime!(2026-11-24 08:05 UTC)).open_now);
        let later = reach_now(&r, datetime!(2026-11-24 08:20 UTC));
        assert!(!later.open_now);
        assert_eq!(later.next_open, Some(datetime!(2026-11-25 08:00 UTC)));
        // Friday afternoon: next Monday morning.
        let weekend = reach_now(&r, datetime!(2026-11-27 14:00 UTC));
        assert_eq!(weekend.next_open, Some(datetime!(2026-11-30 08:00 UTC)));
    }

    #[test]
    fn bad_routes_are_refused() {
        assert!(phone("09:15", "09:00").check().is_err());
        assert!(ContactRoute { address: "12".into(), ..phone("09:00", "10:00") }.check().is_err());
        let mail = ContactRoute { kind: RouteKind::SecureEmail, address: "klinik".into(), ..phone("09:00", "10:00") };
        assert!(mail.check().is_err());
        assert!(phone("9:00", "10:00").check().is_ok());
    }
}
