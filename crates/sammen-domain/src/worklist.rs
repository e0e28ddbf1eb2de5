//! What needs a professional: one worklist across all their patients.
//!
//! Every course and every thread says, as a pure function of its state, which pieces
//! of open work it holds and for whom ([`of_course`], [`of_thread`]). Storage keeps
//! these rows beside the projection, replaced in the same transaction as each append,
//! so a worklist is one indexed query, not a scan of every course. Rules that depend on
//! the day (overdue, expired) are decided when the worklist is read, from each item's
//! `due` and [`Show`].

use serde::{Deserialize, Serialize};
use time::{Date, OffsetDateTime};

use crate::care::{HandoverState, Owner};
use crate::event::Stream;
use crate::ids::{CourseId, ItemId, OrgId, PatientId, UserId};
use crate::messaging::{ThreadKind, ThreadState};
use crate::projection::CourseState;
use crate::vocab::{DataCategory, LegalDomain, Sector};

/// The kinds of work, in the order the worklist shows them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WorkKind {
    /// A handover or referral waiting for my answer.
    Handover,
    /// A question in a thread waiting for my answer.
    Question,
    /// A step I own, past its due day.
    OverdueStep,
    /// A discharge letter my patient's GP is waiting for.
    Letter,
    /// Advice on my patient that contradicts other advice, not yet agreed.
    AdviceConflict,
    /// A handover I sent (or, as key worker, follow) that nobody answered in time.
    UnansweredHandover,
    /// A question I asked (or, as key worker, follow) that is past its answer date.
    UnansweredQuestion,
    /// A course I follow changed since I last looked (found by query, not stored).
    Changed,
}

impl WorkKind {
    pub const ALL: &'static [WorkKind] = &[
        WorkKind::Handover,
        WorkKind::Question,
        WorkKind::OverdueStep,
        WorkKind::Letter,
        WorkKind::AdviceConflict,
        WorkKind::UnansweredHandover,
        WorkKind::UnansweredQuestion,
        WorkKind::Changed,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            WorkKind::Handover => "handover",
            WorkKind::Question => "question",
            WorkKind::OverdueStep => "overdue_step",
            WorkKind::Letter => "letter",
            WorkKind::AdviceConflict => "advice_conflict",
            WorkKind::UnansweredHandover => "unanswered_handover",
            WorkKind::UnansweredQuestion => "unanswered_question",
            WorkKind::Changed => "changed",
        }
    }

    pub fn parse(s: &str) -> Option<WorkKind> {
        WorkKind::ALL.iter().copied().find(|k| k.as_str() == s)
    }
}

/// Whose work it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Assignee {
    User {
        user: UserId,
    },
    /// Anyone working at the organisation (a role there, or the organisation on the team).
    Org {
        org: OrgId,
    },
    /// Whoever is the course's key worker when the worklist is read.
    KeyWorker,
}

impl From<&Owner> for Assignee {
    fn from(o: &Owner) -> Self {
        match o {
            Owner::Professional { user, .. } => Assignee::User { user: *user },
            Owner::Role { org, .. } => Assignee::Org { org: *org },
        }
    }
}

/// When an item belongs on the worklist, given its due day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Show {
    Always,
    /// Up to and including the due day (a handover can be answered until then).
    UntilDue,
    /// Only once the due day has passed.
    AfterDue,
}

impl Show {
    pub fn as_str(&self) -> &'static str {
        match self {
            Show::Always => "always",
            Show::UntilDue => "until_due",
            Show::AfterDue => "after_due",
        }
    }

    pub fn parse(s: &str) -> Option<Show> {
        [Show::Always, Show::UntilDue, Show::AfterDue].into_iter().find(|x| x.as_str() == s)
    }

    pub fn shown(&self, due: Option<Date>, today: Date) -> bool {
        match (self, due) {
            (Show::Always, _) => true,
            (Show::UntilDue, Some(due)) => today <= due,
            (Show::AfterDue, Some(due)) => today > due,
            (_, None) => true,
        }
    }
}

/// One piece of open work for one assignee. `category`, `origin` and `author_org` are
/// the underlying item's, so the policy filters work items as it filters the items.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkItem {
    pub patient: PatientId,
    pub course: CourseId,
    pub stream: Stream,
    pub item: ItemId,
    pub kind: WorkKind,
    pub assignee: Assignee,
    pub due: Option<Date>,
    pub show: Show,
    #[serde(with = "time::serde::rfc3339")]
    pub since: OffsetDateTime,
    pub title: String,
    pub category: DataCategory,
    pub origin: LegalDomain,
    pub author_org: Option<OrgId>,
}

impl WorkItem {
    pub fn is_overdue(&self, today: Date) -> bool {
        self.due.is_some_and(|d| d < today)
    }
}

/// The open work a course holds. `sector_of` tells an organisation's sector, to find
/// the general practice that waits for a discharge letter.
pub fn of_course(course: &CourseState, sector_of: impl Fn(OrgId) -> Option<Sector>) -> Vec<WorkItem> {
    let care = &course.care;
    let mut out = Vec::new();
    let mut push = |item: ItemId, kind, assignee, due, show, meta: &crate::care::ItemMeta, title: &str| {
        out.push(WorkItem {
            patient: course.patient,
            course: course.id,
            stream: Stream::Course(course.id),
            item,
            kind,
            assignee,
            due,
            show,
            since: meta.at,
            title: title.to_string(),
            category: meta.category,
            origin: meta.origin,
            author_org: meta.org,
        });
    };
    for h in care.handovers.iter().filter(|h| h.state == HandoverState::Proposed) {
        let title = h.referral.as_ref().map(|r| r.question.as_str()).unwrap_or(&h.reason);
        let due = Some(h.respond_by);
        push(h.id, WorkKind::Handover, Assignee::from(&h.to), due, Show::UntilDue, &h.meta, title);
        for who in [Assignee::from(&h.from), Assignee::KeyWorker] {
            push(h.id, WorkKind::UnansweredHandover, who, due, Show::AfterDue, &h.meta, title);
        }
    }
    for s in care.steps.iter().filter(|s| s.awaits_start()) {
        push(s.id, WorkKind::OverdueStep, Assignee::from(&s.owner), Some(s.due_by), Show::AfterDue, &s.meta, &s.title);
    }
    let practices: Vec<OrgId> =
        course.team.iter().map(|m| m.member.org()).filter(|o| sector_of(*o) == Some(Sector::GeneralPractice)).collect();
    for l in care.letters.iter().filter(|l| l.received.is_none()) {
        let waiting = practices.iter().map(|org| Assignee::Org { org: *org }).chain([Assignee::KeyWorker]);
        for who in waiting {
            push(l.id, WorkKind::Letter, who, Some(l.expected_by), Show::Always, &l.meta, "Epikrise");
        }
    }
    for c in care.conflicts.iter().filter(|c| c.resolution.is_none()) {
        let advice: Vec<_> = care.advice.iter().filter(|a| c.advice.contains(&a.id)).collect();
        let Some(first) = advice.first() else { continue };
        let mut authors: Vec<UserId> = advice.iter().map(|a| a.meta.by).collect();
        authors.sort();
        authors.dedup();
        let meta = crate::care::ItemMeta { at: c.raised_at, ..first.meta.clone() };
        for who in authors.into_iter().map(|user| Assignee::User { user }).chain([Assignee::KeyWorker]) {
            push(c.id, WorkKind::AdviceConflict, who, None, Show::Always, &meta, &c.topic);
        }
    }
    dedup(out)
}

/// The open work a thread holds: questions waiting for an answer, for each recipient
/// who owes one, and once the answer date has passed, for the sender and the key
/// worker too.
pub fn of_thread(thread: &ThreadState) -> Vec<WorkItem> {
    let asks = thread.answer_by.is_some() || thread.kind == ThreadKind::SpecialistQuestion;
    let Some(first) = thread.messages.first() else { return Vec::new() };
    if !asks {
        return Vec::new();
    }
    // Since the last message, not the thread's last change: a read receipt is no news.
    let since = thread.messages.last().map_or(thread.updated_at, |m| m.at);
    let item = |kind, assignee, show| WorkItem {
        patient: thread.patient,
        course: thread.course,
        stream: Stream::Thread(thread.id),
        item: first.id,
        kind,
        assignee,
        due: thread.answer_by,
        show,
        since,
        title: thread.subject.clone(),
        category: first.category,
        origin: first.body.origin,
        author_org: first.org,
    };
    let owing: Vec<_> = thread.recipients.iter().filter(|r| r.owes_answer(&thread.messages)).collect();
    let mut out: Vec<WorkItem> =
        owing.iter().map(|r| item(WorkKind::Question, Assignee::from(&r.to), Show::Always)).collect();
    if !owing.is_empty() && thread.answer_by.is_some() {
        for who in [Assignee::User { user: thread.started_by }, Assignee::KeyWorker] {
            out.push(item(WorkKind::UnansweredQuestion, who, Show::AfterDue));
        }
    }
    dedup(out)
}

fn dedup(mut items: Vec<WorkItem>) -> Vec<WorkItem> {
    let mut seen = std::collections::HashSet::new();
    items.retain(|w| seen.insert((w.item, w.kind, w.assignee)));
    items
}

/// Orders a worklist: the most overdue first, then the newest. `key` gives each line's
/// due day and the instant it arose.
pub fn order<T>(items: &mut [T], today: Date, key: impl Fn(&T) -> (Option<Date>, OffsetDateTime)) {
    items.sort_by(|a, b| {
        let ((a_due, a_since), (b_due, b_since)) = (key(a), key(b));
        let overdue = |due: Option<Date>| due.is_some_and(|d| d < today);
        let (ao, bo) = (overdue(a_due), overdue(b_due));
        bo.cmp(&ao).then_with(|| if ao { a_due.cmp(&b_due) } else { b_since.cmp(&a_since) })
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::{date, datetime};

    fn item(due: Option<Date>, since: OffsetDateTime) -> WorkItem {
        WorkItem {
            patient: PatientId::from_random_bytes([1; 16]),
            course: CourseId::from_random_bytes([2; 16]),
            stream: Stream::Patient,
            item: ItemId::from_random_bytes([3; 16]),
            kind: WorkKind::OverdueStep,
            assignee: Assignee::KeyWorker,
            due,
            show: Show::Always,
            since,
            title: String::new(),
            category: DataCategory::Plan,
            origin: LegalDomain::Health,
            author_org: None,
        }
    }

    #[test]
    fn most_overdue_first_then_newest() {
        let today = date!(2026 - 03 - 10);
        let mut items = vec![
            item(Some(date!(2026 - 03 - 20)), datetime!(2026-03-01 9:00 UTC)),
            item(Some(date!(2026 - 03 - 08)), datetime!(2026-02-01 9:00 UTC)),
            item(None, datetime!(2026-03-05 9:00 UTC)),
            item(Some(date!(2026 - 02 - 01)), datetime!(2026-01-01 9:00 UTC)),
        ];
        order(&mut items, today, |w| (w.due, w.since));
        let dues: Vec<_> = items.iter().map(|i| i.due).collect();
        assert_eq!(
            dues,
            vec![Some(date!(2026 - 02 - 01)), Some(date!(2026 - 03 - 08)), None, Some(date!(2026 - 03 - 20))]
        );
    }

    #[test]
    fn show_rules() {
        let d = date!(2026 - 03 - 10);
        assert!(Show::UntilDue.shown(Some(d), d) && !Show::UntilDue.shown(Some(d), d.next_day().unwrap()));
        assert!(!Show::AfterDue.shown(Some(d), d) && Show::AfterDue.shown(Some(d), d.next_day().unwrap()));
        assert!(Show::Always.shown(Some(d), date!(2030 - 01 - 01)));
    }
}
