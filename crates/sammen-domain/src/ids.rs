//! Opaque identifiers. Every id is a random UUID: it carries no CPR number, name or
//! date, so it is safe in URLs and log lines.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
use uuid::Uuid;

use crate::error::DomainError;

macro_rules! opaque_id {
    ($(#[$doc:meta])* $name:ident, $what:literal) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(Uuid);

        impl $name {
            /// Builds an id from 16 random bytes (see [`crate::clock::IdSource`]).
            pub fn from_random_bytes(bytes: [u8; 16]) -> Self {
                Self(uuid::Builder::from_random_bytes(bytes).into_uuid())
            }
            pub fn as_uuid(&self) -> Uuid {
                self.0
            }
            /// Parses an id from text, with an error that names the kind of id.
            pub fn parse(text: &str) -> Result<Self, DomainError> {
                Uuid::parse_str(text.trim())
                    .map(Self)
                    .map_err(|_| DomainError::InvalidId { what: $what })
            }
        }

        impl FromStr for $name {
            type Err = DomainError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::parse(s)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.0)
            }
        }
    };
}

opaque_id!(
    /// A patient (a citizen, in municipal words).
    PatientId, "patient id"
);
opaque_id!(
    /// One course of treatment (forløb) of one patient.
    CourseId, "course id"
);
opaque_id!(
    /// One event in a patient's log.
    EventId, "event id"
);
opaque_id!(
    /// One item on a course (an entry, later a goal, step or handover). Its history is
    /// every event that names it.
    ItemId, "item id"
);
opaque_id!(
    /// An organisation: a practice, clinic, hospital department or municipal unit.
    OrgId, "organisation id"
);
opaque_id!(
    /// A user: a professional, a patient or a proxy, or an operator.
    UserId, "user id"
);
opaque_id!(
    /// A thread of messages about one course of a patient. Each thread is its own
    /// stream on the patient's log, so messages never conflict with the care plan.
    ThreadId, "thread id"
);
