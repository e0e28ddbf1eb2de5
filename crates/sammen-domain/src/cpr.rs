//! The Danish CPR number: parsed once at the edge, then carried as a [`Cpr`] that
//! cannot be printed by accident. `Debug` redacts it and there is no `Display`; the
//! only way to the digits is [`Cpr::expose`], which storage and the patient's own
//! identity view call on purpose.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use time::{Date, Month};

use crate::error::DomainError;

#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Cpr([u8; 10]);

impl Cpr {
    /// Accepts `DDMMYYSSSS` or `DDMMYY-SSSS`. The date part must be a real date in the
    /// century that the first serial digit implies. No modulus-11 check: numbers issued
    /// since 2007 need not satisfy it.
    pub fn parse(text: &str) -> Result<Self, DomainError> {
        let text = text.trim();
        let digits: Vec<u8> = match text.len() {
            10 => text.bytes().collect(),
            11 if text.as_bytes()[6] == b'-' => {
                text.bytes().enumerate().filter(|(i, _)| *i != 6).map(|(_, b)| b).collect()
            }
            _ => {
                return Err(DomainError::InvalidCpr {
                    reason: "it must be 10 digits, optionally with a dash after the sixth",
                })
            }
        };
        if !digits.iter().all(u8::is_ascii_digit) {
            return Err(DomainError::InvalidCpr { reason: "it may contain only digits and one dash" });
        }
        let mut d = [0u8; 10];
        for (slot, b) in d.iter_mut().zip(digits) {
            *slot = b - b'0';
        }
        let cpr = Cpr(d);
        cpr.birth_date().ok_or(DomainError::InvalidCpr { reason: "the first six digits are not a valid date" })?;
        Ok(cpr)
    }

    /// The date of birth the number encodes (the CPR office's century rule).
    pub fn birth_date(&self) -> Option<Date> {
        let d = &self.0;
        let day = d[0] * 10 + d[1];
        let month = d[2] * 10 + d[3];
        let yy = i32::from(d[4] * 10 + d[5]);
        let century = match d[6] {
            0..=3 => 1900,
            4 | 9 => {
                if yy <= 36 {
                    2000
                } else {
                    1900
                }
            }
            _ => {
                if yy <= 57 {
                    2000
                } else {
                    1800
                }
            }
        };
        let month = Month::try_from(month).ok()?;
        Date::from_calendar_date(century + yy, month, day).ok()
    }

    /// The ten digits. Call only to store the number or to show it to someone entitled
    /// to see the patient's identity; never to log it.
    pub fn expose(&self) -> String {
        self.0.iter().map(|d| char::from(b'0' + d)).collect()
    }
}

impl fmt::Debug for Cpr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Cpr(**********)")
    }
}

impl Serialize for Cpr {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.expose())
    }
}

impl<'de> Deserialize<'de> for Cpr {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        // The error text names no digits.
        Cpr::parse(&text).map_err(|e| serde::de::Error::custom(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn accepts_plain_and_dashed() {
        assert_eq!(Cpr::parse("0101801234").unwrap().expose(), "0101801234");
        assert_eq!(Cpr::parse("010180-1234").unwrap().expose(), "0101801234");
    }

    #[test]
    fn century_rule() {
        let born = |s| Cpr::parse(s).unwrap().birth_date().unwrap().year();
        assert_eq!(born("0101801234"), 1980);
        assert_eq!(born("0101104234"), 2010);
        assert_eq!(born("0101504234"), 1950);
        assert_eq!(born("0101205234"), 2020);
        assert_eq!(born("0101705234"), 1870);
        assert_eq!(born("0101309234"), 2030);
    }

    #[test]
    fn refuses_bad_input_without_echoing_it() {
        for bad in ["", "123", "01018012345", "3102801234", "0113801234", "01018O1234", "010180+1234"] {
            let err = Cpr::parse(bad).unwrap_err();
            assert_eq!(err.code(), "invalid_cpr");
            if !bad.is_empty() {
                assert!(!err.to_string().contains(bad), "error echoes input: {err}");
            }
        }
        // 29 February only in leap years.
        assert!(Cpr::parse("2902801234").is_ok());
        assert!(Cpr::parse("2902811234").is_err());
    }

    #[test]
    fn debug_never_shows_digits() {
        let cpr = Cpr::parse("0101801234").unwrap();
        assert_eq!(format!("{cpr:?}"), "Cpr(**********)");
        assert!(!format!("{:?}", Some(&cpr)).contains("0101"));
    }

    proptest! {
        #[test]
        fn every_valid_date_round_trips(day in 1u8..=28, month in 1u8..=12, yy in 0u8..=99, serial in 0u16..=9999) {
            let text = format!("{day:02}{month:02}{yy:02}{serial:04}");
            let cpr = Cpr::parse(&text).unwrap();
            prop_assert_eq!(cpr.expose(), text.clone());
            let json = serde_json::to_string(&cpr).unwrap();
            let back: Cpr = serde_json::from_str(&json).unwrap();
            prop_assert_eq!(back, cpr);
        }

        #[test]
        fn arbitrary_text_never_panics(text in ".{0,14}") {
            let _ = Cpr::parse(&text);
        }
    }
}
