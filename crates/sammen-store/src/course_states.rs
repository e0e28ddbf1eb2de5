//! Decoded course states, kept so that reading a course does not read and parse its
//! stored text again while that text is unchanged.
//!
//! A course's state is one JSON document that grows with the course (every measurement
//! is in it), and every change to a course reads and parses all of it before deciding.
//! A profile of FHIR creates after a run of them put that parse at a tenth of the CPU.
//!
//! An entry is keyed on the state's *stamp*: a number every write of a stored state
//! draws afresh ([`new_stamp`]) and stores beside the text, so no two writes, committed
//! or not, in this process or another, share one. A read sends the stamp of the entry it
//! holds and gets the text back only when the stored stamp differs (migration 0007), so a
//! hit reads neither the text nor its overflow pages. Nothing ever has to invalidate an
//! entry: a write that never commits, a write by another process, `rebuild-projections`
//! (which can change a state and keep its version) each leave a stamp no entry holds,
//! and the read decodes the text afresh. The cost of a hit is a copy of the state, which
//! the caller owns and may change.
//!
//! The stored state is a snapshot that may lag behind its course (see `SNAPSHOT_EVERY`),
//! and a read folds the course's later events onto it. A read that folded keeps what it
//! folded under the same stamp ([`CourseStates::advance`]): a snapshot's stamp fixes its
//! text, and the events after it never change, so the entry stays true for that stamp
//! and the next read folds only what came since. A change that leaves the snapshot as it
//! was advances the entry the same way with the state it wrote, once committed, so the
//! next read folds nothing. Only what is committed may be kept so: a unit of work, which
//! reads its own events before they are, does not advance entries.
//!
//! Memory is bounded by [`TEXT_BUDGET`] bytes of the states' text (the decoded states
//! take about as much); past it, entries are dropped in the map's own (arbitrary) order.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use sammen_domain::ids::CourseId;
use sammen_domain::projection::CourseState;

use crate::rows::from_json;
use crate::StoreResult;

/// The stored text the cache may stand for, in bytes.
pub const TEXT_BUDGET: usize = 64 << 20;

/// A stamp for a state about to be stored, never drawn before: a count from a random
/// start, one start per process, so two processes' stamps do not meet either (the odds
/// that two runs of 2^64 overlap within their first billions of writes are nil).
pub fn new_stamp() -> i64 {
    static START: OnceLock<u64> = OnceLock::new();
    static DRAWN: AtomicU64 = AtomicU64::new(0);
    let start = *START.get_or_init(|| uuid::Uuid::new_v4().as_u64_pair().0);
    start.wrapping_add(DRAWN.fetch_add(1, Ordering::Relaxed)) as i64
}

struct Entry {
    stamp: i64,
    /// The length of the text it was decoded from or encoded to: what it counts for
    /// against the budget.
    size: usize,
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

    /// The stamp of the state held for the course, to send with a read.
    pub fn held_stamp(&self, course: CourseId) -> Option<i64> {
        self.lock().by_course.get(&course).map(|e| e.stamp)
    }

    /// The state held for the course, if it is the one stamped `stamp`. (Another read
    /// may have replaced the entry since its stamp was sent: then the text must be read.)
    pub fn hit(&self, course: CourseId, stamp: i64) -> Option<CourseState> {
        let entry = self.lock().by_course.get(&course).cloned()?;
        (entry.stamp == stamp).then(|| entry.state.clone())
    }

    /// The state stored as `text` with `stamp`, decoded and kept.
    pub fn decode(&self, course: CourseId, stamp: i64, text: &str) -> StoreResult<CourseState> {
        let state: CourseState = from_json(text, "course projection")?;
        self.keep(course, stamp, text, state.clone());
        Ok(state)
    }

    /// Keeps `state` as what is stored with `stamp`, as `text`, which it was just
    /// decoded from or encoded to.
    pub fn keep(&self, course: CourseId, stamp: i64, text: &str, state: CourseState) {
        // What a hit returns must be exactly what decoding the text returns; the tests
        // run with this check on.
        debug_assert!(
            from_json::<CourseState>(text, "course projection").is_ok_and(|d| d == state),
            "a course state must decode from its text to itself"
        );
        let size = text.len();
        if size > self.budget {
            return;
        }
        let entry = Arc::new(Entry { stamp, size, state });
        let mut entries = self.lock();
        if let Some(old) = entries.by_course.insert(course, entry) {
            entries.text_bytes -= old.size;
        }
        entries.text_bytes += size;
        while entries.text_bytes > self.budget {
            let Some(victim) = entries.by_course.keys().find(|c| **c != course).copied() else { break };
            if let Some(old) = entries.by_course.remove(&victim) {
                entries.text_bytes -= old.size;
            }
        }
    }

    /// Keeps `state`, folded from the snapshot stamped `stamp` and the committed events
    /// after it, if the entry held is of that snapshot and behind `state`. (An entry of
    /// another snapshot, or one further on, was kept by another read meanwhile.)
    pub fn advance(&self, course: CourseId, stamp: i64, state: CourseState) {
        let mut entries = self.lock();
        let Some(entry) = entries.by_course.get_mut(&course) else { return };
        if entry.stamp == stamp && entry.state.version < state.version {
            // The size stays that of the snapshot's text: the events folded since are
            // fewer than SNAPSHOT_EVERY, small beside it.
            *entry = Arc::new(Entry { stamp, size: entry.size, state });
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
    fn stamps_are_never_drawn_twice() {
        let drawn: std::collections::HashSet<i64> = (0..10_000).map(|_| new_stamp()).collect();
        assert_eq!(drawn.len(), 10_000);
    }

    #[test]
    fn a_hit_needs_the_very_stamp_and_gives_what_decoding_gives() {
        let cache = CourseStates::default();
        let first = state("Ryg");
        let id = first.id;
        assert_eq!(cache.held_stamp(id), None);
        let (stamp, text) = (new_stamp(), to_json(&first).unwrap());
        cache.keep(id, stamp, &text, first.clone());
        assert_eq!(cache.held_stamp(id), Some(stamp));
        assert_eq!(cache.hit(id, stamp), Some(first.clone()));
        assert_eq!(cache.hit(id, new_stamp()), None, "another stamp is another state");

        // The same version, another state (as after rebuild-projections) under its own
        // stamp: decoded, and what the cache now holds.
        let mut rebuilt = first.clone();
        rebuilt.title = "Ryg og nakke".into();
        let (rebuilt_stamp, rebuilt_text) = (new_stamp(), to_json(&rebuilt).unwrap());
        assert_eq!(cache.decode(id, rebuilt_stamp, &rebuilt_text).unwrap(), rebuilt);
        assert_eq!(cache.held_stamp(id), Some(rebuilt_stamp));
        assert_eq!(cache.hit(id, stamp), None, "the state before is gone");
        assert_eq!(cache.held().1, rebuilt_text.len());

        // Text that is not a state is an error, and the entry stays as it was.
        assert!(cache.decode(id, new_stamp(), "{\"title\": 1}").is_err());
        assert_eq!(cache.hit(id, rebuilt_stamp), Some(rebuilt));
    }

    #[test]
    fn entries_past_the_budget_are_dropped_and_an_oversized_text_is_not_kept() {
        let one = to_json(&state("Ryg")).unwrap().len();
        let cache = CourseStates::with_budget(one * 2 + one / 2);
        for n in 0..5u8 {
            let mut s = state("Ryg");
            s.id = CourseId::from_random_bytes([n; 16]);
            let text = to_json(&s).unwrap();
            cache.keep(s.id, new_stamp(), &text, s);
        }
        let (held, bytes) = cache.held();
        assert_eq!(held, 2);
        assert!(bytes <= one * 2 + one / 2);

        let small = CourseStates::with_budget(one - 1);
        let s = state("Ryg");
        small.keep(s.id, new_stamp(), &to_json(&s).unwrap(), s);
        assert_eq!(small.held(), (0, 0));
    }
}
