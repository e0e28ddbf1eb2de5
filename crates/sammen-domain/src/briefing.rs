//! What a professional needs before the patient enters the room (the briefing), and
//! the course in time order across sectors (the timeline). Both are built from a
//! course the policy has already filtered, so they show only what the reader may see.

use serde::Serialize;
use time::{Date, OffsetDateTime};

use crate::care::{
    Advice, AdviceConflict, AdviceState, Conference, ExpectedLetter, Goal, Handover, HandoverState, ItemMeta, Owner,
    Step, StepStatus, Story,
};
use crate::clock::danish_day;
use crate::event::Event;
use crate::ids::{ItemId, OrgId, UserId};
use crate::projection::{CourseState, Membership};

/// How many days ahead counts as "next".
pub const NEXT_DAYS: i64 = 42;

#[derive(Debug, Clone, Serialize)]
pub struct OpenHandover {
    /// Its `state` as of now: `expired` once unanswered past its day.
    #[serde(flatten)]
    pub handover: Handover,
    /// Past its answer date: visible to both sides and the key worker.
    pub overdue: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct Trend {
    pub on: Date,
    pub pain: Option<u8>,
    pub psfs: Option<f64>,
}

/// One page for the professional who opens the course.
#[derive(Debug, Clone, Serialize)]
pub struct Briefing {
    /// The patient's story and needs, first.
    pub story: Option<Story>,
    pub goals: Vec<Goal>,
    /// In progress or booked, or planned and due within [`NEXT_DAYS`].
    pub current_steps: Vec<Step>,
    pub next_steps: Vec<Step>,
    pub overdue_steps: Vec<Step>,
    /// What happened since this reader last looked (`None`: never looked).
    #[serde(with = "time::serde::rfc3339::option")]
    pub since: Option<OffsetDateTime>,
    pub changed: Vec<Change>,
    pub open_handovers: Vec<OpenHandover>,
    pub conflicts: Vec<AdviceConflict>,
    /// The advice in force, so the reader knows what the patient has been told.
    pub advice: Vec<Advice>,
    /// For each topic the team once disagreed on, the last agreement: the patient is
    /// told its message, not the advice.
    pub agreed_advice: Vec<AdviceConflict>,
    pub missing_letters: Vec<ExpectedLetter>,
    pub progress: Vec<Trend>,
    /// Case conferences not yet held, soonest first.
    pub conferences: Vec<Conference>,
    pub team: Vec<Membership>,
    pub key_worker: Option<UserId>,
}

/// A line in "what changed": the kind of event, when, by whom, where.
#[derive(Debug, Clone, Serialize)]
pub struct Change {
    pub kind: &'static str,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    pub by: UserId,
    pub org: Option<OrgId>,
}

pub fn briefing(
    course: &CourseState,
    since: Option<OffsetDateTime>,
    events_since: &[Event],
    now: OffsetDateTime,
) -> Briefing {
    let today = danish_day(now);
    let horizon = today + time::Duration::days(NEXT_DAYS);
    let care = &course.care;
    let open = |s: &&Step| !s.status.is_final();
    let current = |s: &&Step| {
        matches!(s.status, StepStatus::InProgress | StepStatus::Booked)
            || (s.due_from.unwrap_or(s.due_by) <= today && s.due_by >= today)
    };
    let mut current_steps: Vec<Step> = care.steps.iter().filter(open).filter(current).cloned().collect();
    let mut next_steps: Vec<Step> = care
        .steps
        .iter()
        .filter(open)
        .filter(|s| !current(s) && s.due_by > today && s.due_from.unwrap_or(s.due_by) <= horizon)
        .cloned()
        .collect();
    let mut overdue_steps: Vec<Step> = care.steps.iter().filter(|s| s.is_overdue(today)).cloned().collect();
    for list in [&mut current_steps, &mut next_steps, &mut overdue_steps] {
        list.sort_by_key(|s| s.due_by);
    }
    let open_handovers = care
        .handovers
        .iter()
        .filter_map(|h| {
            let state = h.state_at(now);
            matches!(state, HandoverState::Proposed | HandoverState::Expired).then(|| OpenHandover {
                handover: Handover { state, ..h.clone() },
                overdue: state == HandoverState::Expired,
            })
        })
        .collect();
    let mut progress: Vec<Trend> =
        care.measurements.iter().map(|m| Trend { on: m.on, pain: m.pain, psfs: m.psfs() }).collect();
    progress.sort_by_key(|t| t.on);
    Briefing {
        story: care.story.clone(),
        goals: care.goals.iter().filter(|g| !matches!(g.status, crate::care::GoalStatus::Dropped)).cloned().collect(),
        current_steps,
        next_steps,
        overdue_steps,
        since,
        changed: events_since
            .iter()
            .rev()
            .map(|e| Change { kind: e.body.kind(), at: e.recorded_at, by: e.actor, org: e.org })
            .collect(),
        open_handovers,
        conflicts: care.conflicts.iter().filter(|c| c.resolution.is_none()).cloned().collect(),
        advice: care.advice.iter().filter(|a| a.state == AdviceState::InForce).cloned().collect(),
        agreed_advice: {
            let mut last: Vec<AdviceConflict> = Vec::new();
            for c in care.conflicts.iter().rev().filter(|c| c.resolution.is_some()) {
                if !last.iter().any(|l| l.topic == c.topic) {
                    last.push(c.clone());
                }
            }
            last
        },
        missing_letters: care.letters.iter().filter(|l| l.received.is_none()).cloned().collect(),
        progress,
        conferences: {
            let mut upcoming: Vec<Conference> =
                care.conferences.iter().filter(|c| c.minutes.is_none() && c.at >= now).cloned().collect();
            upcoming.sort_by_key(|c| c.at);
            upcoming
        },
        team: course.team.clone(),
        key_worker: course.key_worker,
    }
}

/// Past, now or next, as the patient reads the timeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    Past,
    Now,
    Next,
}

/// One thing on the timeline: what, when, where, who, why in plain words, status.
#[derive(Debug, Clone, Serialize)]
pub struct TimelineItem {
    pub id: ItemId,
    pub kind: &'static str,
    pub on: Date,
    /// The last day of a step's window, when it has one: the day the overview counts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub until: Option<Date>,
    /// A step not finished by its last day.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub late: bool,
    pub title: String,
    /// The organisation it happened at or belongs to.
    pub org: Option<OrgId>,
    /// Who recorded it, or owns it.
    pub who: Option<UserId>,
    pub why_plain: String,
    pub status: String,
    pub phase: Phase,
}

/// Done is past; otherwise by the day: before today past, today now, after today next.
fn phase(on: Date, today: Date, done: bool) -> Phase {
    if done || on < today {
        Phase::Past
    } else if on == today {
        Phase::Now
    } else {
        Phase::Next
    }
}

fn owner_parts(owner: &Owner) -> (Option<OrgId>, Option<UserId>) {
    match owner {
        Owner::Professional { user, org } => (Some(*org), Some(*user)),
        Owner::Role { org, .. } => (Some(*org), None),
    }
}

fn word<T: Serialize>(v: T) -> String {
    serde_json::to_value(v).ok().and_then(|v| v.as_str().map(String::from)).unwrap_or_default()
}

/// Every episode, step, handover, referral, conference, advice and entry in time order.
pub fn timeline(course: &CourseState, now: OffsetDateTime) -> Vec<TimelineItem> {
    let today = danish_day(now);
    let care = &course.care;
    let mut items = Vec::new();
    let recorded = |m: &ItemMeta| (danish_day(m.at), m.org, Some(m.by));
    for e in &course.entries {
        if e.status == crate::projection::EntryStatus::EnteredInError {
            continue;
        }
        items.push(TimelineItem {
            id: e.id,
            kind: "entry",
            on: e.occurred_on,
            until: None,
            late: false,
            title: e.title.clone(),
            org: e.org,
            who: Some(e.recorded_by),
            why_plain: String::new(),
            status: word(e.entry_type),
            phase: Phase::Past,
        });
    }
    for ep in &care.episodes {
        items.push(TimelineItem {
            id: ep.id,
            kind: "episode",
            on: ep.on,
            until: None,
            late: false,
            title: word(ep.kind),
            org: Some(ep.org),
            who: Some(ep.meta.by),
            why_plain: ep.note.clone(),
            status: word(ep.kind),
            phase: phase(ep.on, today, true),
        });
    }
    for s in &care.steps {
        let (org, who) = owner_parts(&s.owner);
        let on = if s.status.is_final() { s.due_by.min(today) } else { s.due_from.unwrap_or(s.due_by) };
        items.push(TimelineItem {
            id: s.id,
            kind: "step",
            on,
            until: (!s.status.is_final() && on < s.due_by).then_some(s.due_by),
            late: s.is_late(today),
            title: s.title.clone(),
            org,
            who,
            why_plain: s.reason_plain.clone(),
            status: word(s.status),
            // A step not yet done is never past; now or next as the overview says it.
            phase: match () {
                _ if s.status.is_final() => Phase::Past,
                _ if s.is_current(today) => Phase::Now,
                _ => Phase::Next,
            },
        });
    }
    for h in &care.handovers {
        let (on, org, _) = recorded(&h.meta);
        // A handover stands where it is going, with whom it is going to: not the
        // receiving place beside the sender's name.
        let (to_org, to_user) = owner_parts(&h.to);
        let referral = h.referral.is_some();
        items.push(TimelineItem {
            id: h.id,
            kind: if referral { "referral" } else { "handover" },
            on,
            until: None,
            late: false,
            title: h.referral.as_ref().map(|r| r.question.clone()).unwrap_or_else(|| h.reason.clone()),
            org: to_org.or(org),
            who: to_user,
            why_plain: h.referral.as_ref().map(|r| r.reason_plain.clone()).unwrap_or_default(),
            status: word(h.state_at(now)),
            // Waiting for an answer: now; answered, withdrawn or lapsed: past.
            phase: if h.state_at(now) == HandoverState::Proposed { Phase::Now } else { Phase::Past },
        });
    }
    for c in &care.conferences {
        let held = c.minutes.is_some();
        items.push(TimelineItem {
            id: c.id,
            kind: "conference",
            on: danish_day(c.at),
            until: None,
            late: false,
            title: c.agenda.lines().next().unwrap_or_default().to_string(),
            org: c.meta.org,
            who: Some(c.meta.by),
            why_plain: c.place.clone(),
            status: if held { "held".into() } else { "planned".into() },
            phase: if held { Phase::Past } else { phase(danish_day(c.at), today, false) },
        });
    }
    // Advice that contradicts other advice, and the team has not yet agreed which holds,
    // is not simply "in force".
    let disputed: Vec<ItemId> =
        care.conflicts.iter().filter(|c| c.resolution.is_none()).flat_map(|c| c.advice.iter().copied()).collect();
    for a in &care.advice {
        let (on, org, who) = recorded(&a.meta);
        let status = if a.state == AdviceState::InForce && disputed.contains(&a.id) {
            "in_conflict".to_string()
        } else {
            word(a.state)
        };
        items.push(TimelineItem {
            id: a.id,
            kind: "advice",
            on,
            until: None,
            late: false,
            title: format!("{}: {}", a.topic, a.stance),
            org,
            who,
            why_plain: a.text.clone(),
            status,
            phase: Phase::Past,
        });
    }
    items.sort_by(|a, b| a.on.cmp(&b.on).then(a.kind.cmp(b.kind)));
    items
}
