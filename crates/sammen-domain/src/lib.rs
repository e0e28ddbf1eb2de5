//! Sammen's domain: the words, the rules and the record, with no IO.
//!
//! - [`ids`], [`cpr`], [`vocab`], [`directory`]: identifiers and vocabularies, parsed at
//!   the edge so an invalid value cannot exist past it.
//! - [`event`]: the patient's append-only log.
//! - [`decide`]: commands in, events out (or a clear refusal).
//! - [`projection`]: current state, folded from the log.
//! - [`care`]: the care plan: goals, steps, handovers, episodes, story, advice,
//!   progress, conferences; [`briefing`]: the briefing and the timeline.
//! - [`messaging`]: threads of messages about a course; [`contact`]: how to reach
//!   someone now; [`worklist`]: the open work each course and thread holds.
//! - [`sharing`]: consents, objections, proxies, break-glass.
//! - [`policy`]: who may see and change what; the one policy function.
//! - [`audit`]: the hash-chained audit trail.
//! - [`clock`]: injected time and randomness.

pub mod audit;
pub mod briefing;
pub mod care;
pub mod clock;
pub mod contact;
pub mod cpr;
pub mod decide;
pub mod directory;
pub mod error;
pub mod event;
pub mod ids;
pub mod messaging;
pub mod policy;
pub mod projection;
pub mod sharing;
pub mod vocab;
pub mod worklist;

pub use error::{DomainError, Reason, Slot};
