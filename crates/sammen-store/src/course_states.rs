//! Decoded course states, kept so that reading a course does not parse its stored text
//! again while that text is unchanged.
//!
//! A course's state is one JSON document that grows with the course (every measurement
//! is in it), and every change to a course reads and parses all of it before deciding.
//! A profile of FHIR creates after a run of them put that parse at a tenth of the CPU.
//!
//! An entry is keyed on the stored text itself, not on the course's version: it is used
//! only when the text just read from the database is, byte for byte, the text the entry
//! was decoded from (or, after a write, encoded to). So nothing ever has to invalidate
//! it. A write that never commits, a write by another process, `rebuild-projections`
//! (which can change a state and keep its version): each leaves text that no entry
//! matches, and the read decodes it afresh. The cost of a hit is a comparison of the text
//! and a copy of the state, which the caller owns and may change.
//!
//! Memory is bounded by [`TEXT_BUDGET`] bytes of text (the decoded states take about as
//! much again); past it, entries are dropped in the map's own (arbitrary) order.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use sammen_domain::ids::CourseId;
use sammen_domain::projection::CourseState;

use crate::rows::from_json;
use crate::StoreResult;

/// The stored text the cache may hold, in bytes.
pub const TEXT_BUDGET: usize = 64 << 20;

struct Entry {
    text: Box<str>,
    state: CourseState,
}

#[derive(Default)]
struct Entries {
    by_course: HashMap<CourseId, Arc<Entry>>,
    text_bytes: usize,
}

/// The cache, shared by a store and the units of work it opens.
pub struct CourseStates {
    entries: Mutex<Entries>,
    budget: usize,
}

impl Default for CourseStates {
    fn default() -> Self {
        CourseStates::with_budget(TEXT_BUDGET)
    }
}

impl CourseStates {
    pub fn with_budget(budget: usize) -> Self {
        CourseStates { entries: Mutex::new(Entries::default()), budget }
    }

    /// The state stored as `text`: from the cache if it holds exactly this text for the
    /// course, else decoded and kept.
    pub fn decode(&self, course: CourseId, text: String) -> StoreResult<CourseState> {
        let cached = self.lock().by_course.get(&course).cloned();
        if let Some(entry) = cached.filter(|e| *e.text == *text) {
            return Ok(entry.state.clone());
        }
        let state: CourseState = from_json(&text, "course projection")?;
        self.keep(course, text, state.clone());
        Ok(state)
    }

    /// Keeps `state` as the decoding of `text`, which it was just encoded to.
    pub fn keep(&self, course: CourseId, text: String, state: CourseState) {
        // What a hit returns must be exactly what decoding the text returns; the tests
        // run with this check on.
        debug_assert!(
            from_json::<CourseState>(&text, "course projection").is_ok_and(|d| d == state),
            "a course state must decode from its text to itself"
        );
        let size = text.len();
        if size > self.budget {
            return;
        }
        let entry = Arc::new(Entry { text: text.into_boxed_str(), state });
        let mut entries = self.lock();
        if let Some(old) = entries.by_course.insert(course, entry) {
            entries.text_bytes -= old.text.len();
        }
        entries.text_bytes += size;
        while entries.text_bytes > self.budget {
            let Some(victim) = entries.by_course.keys().find(|c| **c != course).copied() else { break };
            if let Some(old) = entries.by_course.remove(&victim) {
                entries.text_bytes -= old.text.len();
            }
        }
    }

    fn lock(&self) -> MutexGuard<'_, Entries> {
        // A panic while holding the lock leaves a map of whole entries: still usable.
        self.entries.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    #[cfg(test)]
    fn held(&self) -> (usize, usize) {
        let e = self.lock();
        (e.by_course.len(), e.text_bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rows::to_json;
    use sammen_domain::ids::PatientId;
    use time::macros::{date, datetime};

    fn state(title: &str) -> CourseState {
        CourseState {
            id: CourseId::from_random_bytes([7; 16]),
            patient: PatientId::from_random_bytes([8; 16]),
            title: title.into(),
            reason: "ondt i ryggen".into(),
            started_on: date!(2026 - 01 - 05),
            status: sammen_domain::projection::CourseStatus::Open,
            origin: Default::default(),
            opened_at: datetime!(2026-01-05 09:00 UTC),
            opened_by: sammen_domain::ids::UserId::from_random_bytes([9; 16]),
            opened_org: None,
            key_worker: None,
            team: Vec::new(),
            entries: Vec::new(),
            care: Default::default(),
            version: 1,
            updated_at: datetime!(2026-01-05 09:00 UTC),
        }
    }

    #[test]
    fn a_hit_needs_the_very_text_and_gives_what_decoding_gives() {
        let cache = CourseStates::default();
        let first = state("Ryg");
        let id = first.id;
        let text = to_json(&first).unwrap();
        cache.keep(id, text.clone(), first.clone());
        assert_eq!(cache.decode(id, text.clone()).unwrap(), first);

        // The same version, other text (as after rebuild-projections): decoded afresh.
        let mut rebuilt = first.clone();
        rebuilt.title = "Ryg og nakke".into();
        let rebuilt_text = to_json(&rebuilt).unwrap();
        assert_eq!(cache.decode(id, rebuilt_text.clone()).unwrap(), rebuilt);
        // ...and that decoding is what the cache now holds.
        assert_eq!(cache.held().1, rebuilt_text.len());

        // Text that is not a state is an error, and the entry stays as it was.
        assert!(cache.decode(id, "{\"title\": 1}".into()).is_err());
        assert_eq!(cache.decode(id, rebuilt_text).unwrap(), rebuilt);
    }

    #[test]
    fn entries_past_the_budget_are_dropped_and_an_oversized_text_is_not_kept() {
        let one = to_json(&state("Ryg")).unwrap().len();
        let cache = CourseStates::with_budget(one * 2 + one / 2);
        for n in 0..5u8 {
            let mut s = state("Ryg");
            s.id = CourseId::from_random_bytes([n; 16]);
            let text = to_json(&s).unwrap();
            cache.keep(s.id, text, s);
        }
        let (held, bytes) = cache.held();
        assert_eq!(held, 2);
        assert!(bytes <= one * 2 + one / 2);

        let small = CourseStates::with_budget(one - 1);
        let s = state("Ryg");
        small.keep(s.id, to_json(&s).unwrap(), s);
        assert_eq!(small.held(), (0, 0));
    }
}
