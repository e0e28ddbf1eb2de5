//! Additions to one course take turns within this process.
//!
//! An addition (a measurement, a goal, a diagnosis sent by another system) does not
//! build on a version its sender read, so when several arrive for one course at once,
//! every one of them should land. Each reads the course, decides, and writes only if
//! the course is still at the version it read; racing one another, most find that
//! another landed first, and after a few attempts one gives up with a conflict, which a
//! FHIR client does not expect from a POST. Measured before turns: 16 clients posting
//! to 5 patients' courses got a conflict on one POST in nine.
//!
//! So additions wait for their course's turn. Retries stay for what does not take
//! turns: a change made from a version its writer read, and other processes.

use std::hash::{Hash, Hasher};

use sammen_domain::ids::CourseId;
use tokio::sync::{Mutex, MutexGuard};

/// Courses share turns by a hash of their id: two courses that share a slot only wait
/// for each other, which is rare with many more slots than concurrent writers.
const SLOTS: usize = 1024;

pub(crate) struct CourseTurns {
    slots: Box<[Mutex<()>]>,
}

impl Default for CourseTurns {
    fn default() -> Self {
        CourseTurns { slots: (0..SLOTS).map(|_| Mutex::new(())).collect() }
    }
}

impl CourseTurns {
    /// Waits for the course's turn, which lasts as long as the guard.
    pub(crate) async fn take(&self, course: CourseId) -> MutexGuard<'_, ()> {
        self.slots[slot(course)].lock().await
    }
}

fn slot(course: CourseId) -> usize {
    // The default hasher's keys are fixed, so a course always has the same slot.
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    course.hash(&mut hasher);
    hasher.finish() as usize % SLOTS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_course_waits_for_its_own_turn_and_not_for_others() {
        let turns = CourseTurns::default();
        let courses = (1u128..).map(|n| CourseId::from_random_bytes(n.to_le_bytes()));
        let course = courses.clone().next().unwrap();
        let held = turns.take(course).await;
        let same = tokio::time::timeout(std::time::Duration::from_millis(20), turns.take(course)).await;
        assert!(same.is_err(), "the same course waits while its turn is held");
        // Some other course has a slot of its own.
        let other = courses.skip(1).find(|c| slot(*c) != slot(course)).unwrap();
        let free = tokio::time::timeout(std::time::Duration::from_millis(20), turns.take(other)).await;
        assert!(free.is_ok(), "another course does not wait");
        drop(held);
        let after = tokio::time::timeout(std::time::Duration::from_millis(20), turns.take(course)).await;
        assert!(after.is_ok(), "the turn passes on when the guard goes");
    }
}
