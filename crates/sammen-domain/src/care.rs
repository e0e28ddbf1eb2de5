//! The shared course's care plan: goals, owned steps, handovers and referrals,
//! episodes and the discharge letters they make due, the patient's own story, advice
//! (and when it contradicts), and progress. Each item carries [`ItemMeta`]: its data
//! category, the legal domain and organisation it was recorded in, by whom and when,
//! which is what the policy filters on.

use serde::{Deserialize, Serialize};
use std::sync::OnceLock;
use time::{Date, Duration, OffsetDateTime};

use crate::clock::danish_day;
use crate::error::DomainError;
use crate::ids::{ItemId, OrgId, UserId};
use crate::vocab::{DataCategory, LegalDomain};

/// Who recorded an item, where, when, and what kind of data it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ItemMeta {
    pub category: DataCategory,
    #[serde(default)]
    pub origin: LegalDomain,
    pub org: Option<OrgId>,
    pub by: UserId,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
}

macro_rules! words {
    ($(#[$doc:meta])* $name:ident { $($v:ident),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($v),+ }
    };
}

words!(
    /// Clinical, functional and work goals are the team's; recovery goals come from
    /// social psychiatry; personal goals are the patient's own words.
    GoalKind { Clinical, Functional, Work, Recovery, Personal }
);
words!(GoalStatus { Proposed, Agreed, Achieved, Dropped });
words!(StepKind { Assessment, TreatmentSeries, Rehabilitation, FollowUp, Meeting, Test });
words!(StepStatus { Planned, Booked, InProgress, Done, Cancelled, DidNotHelp });
words!(EpisodeKind { Admission, Leave, Discharge, OutpatientStart, OutpatientEnd, SickLeaveStart, SickLeaveEnd });

impl StepStatus {
    pub fn is_final(&self) -> bool {
        matches!(self, StepStatus::Done | StepStatus::Cancelled | StepStatus::DidNotHelp)
    }
}

impl Step {
    /// Past its due day and neither finished nor running (a series in progress may
    /// run past the day it was due to start).
    pub fn is_overdue(&self, today: Date) -> bool {
        self.awaits_start() && self.is_late(today)
    }

    /// Not finished by its last day, begun or not.
    pub fn is_late(&self, today: Date) -> bool {
        !self.status.is_final() && self.due_by < today
    }

    /// Planned or booked: neither finished nor running.
    pub fn awaits_start(&self) -> bool {
        !self.status.is_final() && self.status != StepStatus::InProgress
    }

    /// Happening now, as the patient's overview and timeline both say it: not finished,
    /// and under way or booked, its window begun, or due within two weeks (late included).
    pub fn is_current(&self, today: Date) -> bool {
        !self.status.is_final()
            && (matches!(self.status, StepStatus::InProgress | StepStatus::Booked)
                || self.due_from.is_some_and(|d| d <= today)
                || self.due_by <= today + time::Duration::days(14))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Goal {
    pub id: ItemId,
    pub kind: GoalKind,
    pub text: String,
    pub status: GoalStatus,
    pub agreed_by: Vec<UserId>,
    pub meta: ItemMeta,
}

/// Who is accountable: one professional, or a role at an organisation (e.g. "the
/// psychiatrist responsible at the outpatient clinic").
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Owner {
    Professional { user: UserId, org: OrgId },
    Role { org: OrgId, role: String },
}

impl Owner {
    pub fn org(&self) -> OrgId {
        match self {
            Owner::Professional { org, .. } | Owner::Role { org, .. } => *org,
        }
    }

    /// Is this actor the owner (themself, or working in the owning role's organisation)?
    pub fn includes(&self, user: UserId, org: Option<OrgId>) -> bool {
        match self {
            Owner::Professional { user: u, .. } => *u == user,
            Owner::Role { org: o, .. } => Some(*o) == org,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Step {
    pub id: ItemId,
    pub kind: StepKind,
    pub title: String,
    pub owner: Owner,
    pub due_from: Option<Date>,
    pub due_by: Date,
    pub status: StepStatus,
    /// Why, in professional words.
    pub reason: String,
    /// Why, in plain words for the patient.
    pub reason_plain: String,
    pub what_to_expect: String,
    pub if_it_does_not_help: String,
    pub meta: ItemMeta,
}

/// What a handover moves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum HandoverSubject {
    Step {
        step: ItemId,
    },
    /// Being the course's key worker.
    KeyWorker,
    /// The whole responsibility for the course.
    Course,
}

/// What a referral carries, so the receiver does not start from scratch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Referral {
    pub question: String,
    pub findings: String,
    /// What has been tried, and with what effect.
    pub tried: String,
    pub red_flags_checked: String,
    pub reason_plain: String,
    pub told_to_expect: String,
}

words!(HandoverState { Proposed, Accepted, Declined, Withdrawn, Expired });

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Handover {
    pub id: ItemId,
    pub subject: HandoverSubject,
    pub from: Owner,
    pub to: Owner,
    pub reason: String,
    /// After this day an unanswered handover has expired; the sender stays responsible.
    pub respond_by: Date,
    pub referral: Option<Referral>,
    /// As recorded; [`Handover::state_at`] adds expiry.
    pub state: HandoverState,
    pub decline_reason: Option<String>,
    #[serde(with = "time::serde::rfc3339::option", default)]
    pub acknowledged_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option", default)]
    pub answered_at: Option<OffsetDateTime>,
    pub meta: ItemMeta,
}

impl Handover {
    pub fn state_at(&self, now: OffsetDateTime) -> HandoverState {
        if self.state == HandoverState::Proposed && danish_day(now) > self.respond_by {
            HandoverState::Expired
        } else {
            self.state
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Episode {
    pub id: ItemId,
    pub kind: EpisodeKind,
    pub org: OrgId,
    pub on: Date,
    pub note: String,
    pub meta: ItemMeta,
}

/// A discharge letter due from hospital psychiatry; open until it arrives.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExpectedLetter {
    /// The discharge episode's id.
    pub id: ItemId,
    pub from_org: OrgId,
    pub expected_by: Date,
    pub received: Option<ItemId>,
    pub received_on: Option<Date>,
    pub meta: ItemMeta,
}

/// Days a discharge letter may take before it shows as late.
pub const LETTER_DUE_DAYS: i64 = 7;

/// The patient's story, told once and shown first to every team member.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoryText {
    pub history: String,
    pub tried: String,
    pub what_matters: String,
    pub preferences: String,
    pub practical_needs: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Story {
    #[serde(flatten)]
    pub text: StoryText,
    /// The professional who wrote it with the patient, if one did.
    pub written_with: Option<UserId>,
    pub meta: ItemMeta,
}

words!(AdviceState { InForce, Superseded });

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Advice {
    pub id: ItemId,
    pub topic: String,
    pub stance: String,
    pub text: String,
    pub state: AdviceState,
    pub meta: ItemMeta,
}

/// Two pieces of advice in force that say opposite things.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdviceConflict {
    pub id: ItemId,
    pub topic: String,
    pub advice: Vec<ItemId>,
    #[serde(with = "time::serde::rfc3339")]
    pub raised_at: OffsetDateTime,
    pub resolution: Option<Resolution>,
}

/// The one message the team agreed, which the patient sees instead of the conflict.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resolution {
    pub stance: String,
    pub agreed_message: String,
    pub by: UserId,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActivityScore {
    pub activity: String,
    pub score: u8,
}

/// Pain (0-10) and the Patient-Specific Functional Scale (up to five activities the
/// patient names, each 0 = cannot to 10 = as before).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Measurement {
    pub id: ItemId,
    pub on: Date,
    pub pain: Option<u8>,
    pub activities: Vec<ActivityScore>,
    pub meta: ItemMeta,
}

impl Measurement {
    /// The PSFS score: the mean of the activity scores.
    pub fn psfs(&self) -> Option<f64> {
        (!self.activities.is_empty())
            .then(|| self.activities.iter().map(|a| f64::from(a.score)).sum::<f64>() / self.activities.len() as f64)
    }
}

/// A case conference: a meeting about the patient with members from several sectors.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Conference {
    pub id: ItemId,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// Where: an address, a room, or a video link, as text.
    pub place: String,
    pub agenda: String,
    pub participants: Vec<Owner>,
    pub patient_invited: bool,
    pub minutes: Option<Minutes>,
    pub meta: ItemMeta,
}

/// What a conference decided. Decisions became goals and steps with owners in the same
/// write as the minutes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Minutes {
    pub text: String,
    pub decided: Vec<ItemId>,
    pub by: UserId,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
}

/// One decision in a conference's minutes, written as the goal or step it becomes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum MinutesDecision {
    Goal {
        goal_kind: GoalKind,
        text: String,
    },
    Step {
        step_kind: StepKind,
        title: String,
        owner: Owner,
        due_from: Option<Date>,
        due_by: Date,
        reason: String,
        reason_plain: String,
        #[serde(default)]
        what_to_expect: String,
        #[serde(default)]
        if_it_does_not_help: String,
    },
}

/// Everything of the care plan on one course.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Care {
    #[serde(default)]
    pub goals: Vec<Goal>,
    #[serde(default)]
    pub steps: Vec<Step>,
    #[serde(default)]
    pub handovers: Vec<Handover>,
    #[serde(default)]
    pub episodes: Vec<Episode>,
    #[serde(default)]
    pub letters: Vec<ExpectedLetter>,
    #[serde(default)]
    pub story: Option<Story>,
    #[serde(default)]
    pub advice: Vec<Advice>,
    #[serde(default)]
    pub conflicts: Vec<AdviceConflict>,
    #[serde(default)]
    pub measurements: Vec<Measurement>,
    #[serde(default)]
    pub conferences: Vec<Conference>,
    /// Who holds the whole responsibility for the course, once handed over.
    #[serde(default)]
    pub responsible: Option<Owner>,
}

impl Care {
    pub fn goal(&self, id: ItemId) -> Option<&Goal> {
        self.goals.iter().find(|g| g.id == id)
    }
    pub fn step(&self, id: ItemId) -> Option<&Step> {
        self.steps.iter().find(|s| s.id == id)
    }
    pub fn handover(&self, id: ItemId) -> Option<&Handover> {
        self.handovers.iter().find(|h| h.id == id)
    }
    pub fn conflict(&self, id: ItemId) -> Option<&AdviceConflict> {
        self.conflicts.iter().find(|c| c.id == id)
    }

    /// The envelope of the care plan item with this id, if there is one.
    pub fn meta(&self, id: ItemId) -> Option<&ItemMeta> {
        let found = self.goals.iter().find(|x| x.id == id).map(|x| &x.meta);
        found
            .or_else(|| self.steps.iter().find(|x| x.id == id).map(|x| &x.meta))
            .or_else(|| self.handovers.iter().find(|x| x.id == id).map(|x| &x.meta))
            .or_else(|| self.episodes.iter().find(|x| x.id == id).map(|x| &x.meta))
            .or_else(|| self.advice.iter().find(|x| x.id == id).map(|x| &x.meta))
            .or_else(|| self.measurements.iter().find(|x| x.id == id).map(|x| &x.meta))
            .or_else(|| self.conferences.iter().find(|x| x.id == id).map(|x| &x.meta))
    }

    /// Advice in force on `topic` with another stance than `stance`.
    pub fn contradicting(&self, topic: &str, stance: &str) -> Vec<&Advice> {
        self.advice
            .iter()
            .filter(|a| a.state == AdviceState::InForce && a.topic == topic && a.stance != stance)
            .collect()
    }

    /// Keeps only the items `visible` lets through; calls `withheld` for each other.
    pub fn retain_visible(&mut self, visible: impl Fn(&ItemMeta) -> bool, mut withheld: impl FnMut(DataCategory)) {
        let mut keep = |m: &ItemMeta| {
            let ok = visible(m);
            if !ok {
                withheld(m.category);
            }
            ok
        };
        self.goals.retain(|x| keep(&x.meta));
        self.steps.retain(|x| keep(&x.meta));
        self.handovers.retain(|x| keep(&x.meta));
        self.episodes.retain(|x| keep(&x.meta));
        self.letters.retain(|x| keep(&x.meta));
        if self.story.as_ref().is_some_and(|s| !keep(&s.meta)) {
            self.story = None;
        }
        self.advice.retain(|x| keep(&x.meta));
        let shown: Vec<ItemId> = self.advice.iter().map(|a| a.id).collect();
        self.conflicts.retain(|c| c.advice.iter().all(|a| shown.contains(a)));
        self.measurements.retain(|x| keep(&x.meta));
        self.conferences.retain(|x| keep(&x.meta));
    }
}

// ---- the advice vocabulary, from data/advice.json ---------------------------------

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Stance {
    pub id: String,
    pub da: String,
    pub en: String,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Topic {
    pub id: String,
    pub da: String,
    pub en: String,
    /// Treatment, medicine and tests: advice only health professionals give.
    #[serde(default)]
    pub clinical: bool,
    pub stances: Vec<Stance>,
}

#[derive(Deserialize)]
struct AdviceFile {
    topics: Vec<Topic>,
}

/// The advice topics and their stances.
pub fn advice_topics() -> &'static [Topic] {
    static TOPICS: OnceLock<Vec<Topic>> = OnceLock::new();
    TOPICS.get_or_init(|| {
        serde_json::from_str::<AdviceFile>(include_str!("../data/advice.json"))
            .expect("data/advice.json is valid")
            .topics
    })
}

pub fn check_advice(topic: &str, stance: &str) -> Result<(), DomainError> {
    let t = advice_topics().iter().find(|t| t.id == topic).ok_or_else(|| DomainError::UnknownValue {
        what: "advice topic",
        expected: advice_topics().iter().map(|t| t.id.as_str()).collect::<Vec<_>>().join(", "),
    })?;
    if t.stances.iter().any(|s| s.id == stance) {
        Ok(())
    } else {
        Err(DomainError::UnknownValue {
            what: "stance for this topic",
            expected: t.stances.iter().map(|s| s.id.as_str()).collect::<Vec<_>>().join(", "),
        })
    }
}

/// The default time a receiver has to answer a handover.
pub const HANDOVER_ANSWER_DAYS: i64 = 14;

pub fn default_respond_by(now: OffsetDateTime) -> Date {
    danish_day(now + Duration::days(HANDOVER_ANSWER_DAYS))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advice_vocabulary_loads_and_checks() {
        assert!(advice_topics().len() >= 4);
        assert!(check_advice("activity", "rest").is_ok());
        assert_eq!(check_advice("activity", "dance").unwrap_err().code(), "unknown_value");
        assert_eq!(check_advice("astrology", "x").unwrap_err().code(), "unknown_value");
        for t in advice_topics() {
            assert!(t.stances.len() >= 2, "a topic needs stances that can contradict: {}", t.id);
        }
    }
}

// ---- events --------------------------------------------------------------------

/// A fact about the care plan, as stored in the log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum CareEvent {
    GoalSet {
        goal_kind: GoalKind,
        text: String,
    },
    GoalAgreed,
    GoalStatusChanged {
        status: GoalStatus,
    },
    StepPlanned {
        step_kind: StepKind,
        title: String,
        owner: Owner,
        due_from: Option<Date>,
        due_by: Date,
        reason: String,
        reason_plain: String,
        what_to_expect: String,
        if_it_does_not_help: String,
    },
    StepStatusChanged {
        status: StepStatus,
        note: String,
    },
    HandoverProposed {
        subject: HandoverSubject,
        from: Owner,
        to: Owner,
        reason: String,
        respond_by: Date,
        referral: Option<Referral>,
    },
    HandoverAcknowledged,
    HandoverAccepted,
    HandoverDeclined {
        reason: String,
    },
    HandoverWithdrawn {
        reason: String,
    },
    EpisodeRecorded {
        episode_kind: EpisodeKind,
        org: OrgId,
        on: Date,
        note: String,
        /// A discharge from hospital psychiatry: a discharge letter is now due.
        letter_due: Option<Date>,
    },
    LetterReceived {
        letter: ItemId,
        title: String,
        text: String,
    },
    StoryWritten {
        story: StoryText,
        written_with: Option<UserId>,
    },
    AdviceGiven {
        topic: String,
        stance: String,
        text: String,
        /// Decided when given, so the fold need not look again: advice in force that
        /// this contradicts, and the id of the conflict it raises (or joins, when the
        /// topic already has an open one).
        contradicts: Vec<ItemId>,
        conflict: Option<ItemId>,
    },
    AdviceConflictResolved {
        conflict: ItemId,
        stance: String,
        agreed_message: String,
    },
    ProgressRecorded {
        on: Date,
        pain: Option<u8>,
        activities: Vec<ActivityScore>,
    },
    ConferenceScheduled {
        #[serde(with = "time::serde::rfc3339")]
        at: OffsetDateTime,
        place: String,
        agenda: String,
        participants: Vec<Owner>,
        patient_invited: bool,
    },
    /// The event's item is the conference; the goals and steps it decided are events
    /// of their own in the same write.
    MinutesRecorded {
        text: String,
        decided: Vec<ItemId>,
    },
}

impl CareEvent {
    pub fn kind(&self) -> &'static str {
        match self {
            CareEvent::GoalSet { .. } => "goal_set",
            CareEvent::GoalAgreed => "goal_agreed",
            CareEvent::GoalStatusChanged { .. } => "goal_status_changed",
            CareEvent::StepPlanned { .. } => "step_planned",
            CareEvent::StepStatusChanged { .. } => "step_status_changed",
            CareEvent::HandoverProposed { .. } => "handover_proposed",
            CareEvent::HandoverAcknowledged => "handover_acknowledged",
            CareEvent::HandoverAccepted => "handover_accepted",
            CareEvent::HandoverDeclined { .. } => "handover_declined",
            CareEvent::HandoverWithdrawn { .. } => "handover_withdrawn",
            CareEvent::EpisodeRecorded { .. } => "episode_recorded",
            CareEvent::LetterReceived { .. } => "letter_received",
            CareEvent::StoryWritten { .. } => "story_written",
            CareEvent::AdviceGiven { .. } => "advice_given",
            CareEvent::AdviceConflictResolved { .. } => "advice_conflict_resolved",
            CareEvent::ProgressRecorded { .. } => "progress_recorded",
            CareEvent::ConferenceScheduled { .. } => "conference_scheduled",
            CareEvent::MinutesRecorded { .. } => "minutes_recorded",
        }
    }
}

/// A care event with the legal domain it was recorded in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CareRecord {
    #[serde(default)]
    pub origin: LegalDomain,
    #[serde(flatten)]
    pub event: CareEvent,
}

/// What folding a care event changes outside the care plan.
pub enum Effect {
    None,
    KeyWorker(UserId),
}

impl Care {
    /// Folds one care event. `item` is the event's item id; `meta` its envelope.
    pub fn apply(&mut self, item: Option<ItemId>, meta: ItemMeta, record: &CareRecord) -> Effect {
        let at = meta.at;
        let Some(id) = item else { return Effect::None };
        match &record.event {
            CareEvent::GoalSet { goal_kind, text } => {
                let (status, agreed_by) = if *goal_kind == GoalKind::Personal {
                    (GoalStatus::Agreed, vec![meta.by])
                } else {
                    (GoalStatus::Proposed, Vec::new())
                };
                self.goals.push(Goal { id, kind: *goal_kind, text: text.clone(), status, agreed_by, meta });
            }
            CareEvent::GoalAgreed => {
                if let Some(g) = self.goals.iter_mut().find(|g| g.id == id) {
                    if !g.agreed_by.contains(&meta.by) {
                        g.agreed_by.push(meta.by);
                    }
                    if g.status == GoalStatus::Proposed {
                        g.status = GoalStatus::Agreed;
                    }
                }
            }
            CareEvent::GoalStatusChanged { status } => {
                if let Some(g) = self.goals.iter_mut().find(|g| g.id == id) {
                    g.status = *status;
                }
            }
            CareEvent::StepPlanned {
                step_kind,
                title,
                owner,
                due_from,
                due_by,
                reason,
                reason_plain,
                what_to_expect,
                if_it_does_not_help,
            } => {
                self.steps.push(Step {
                    id,
                    kind: *step_kind,
                    title: title.clone(),
                    owner: owner.clone(),
                    due_from: *due_from,
                    due_by: *due_by,
                    status: StepStatus::Planned,
                    reason: reason.clone(),
                    reason_plain: reason_plain.clone(),
                    what_to_expect: what_to_expect.clone(),
                    if_it_does_not_help: if_it_does_not_help.clone(),
                    meta,
                });
            }
            CareEvent::StepStatusChanged { status, .. } => {
                if let Some(s) = self.steps.iter_mut().find(|s| s.id == id) {
                    s.status = *status;
                }
            }
            CareEvent::HandoverProposed { subject, from, to, reason, respond_by, referral } => {
                // The domain lets a subject be proposed again only once the last proposal
                // expired unanswered; the new one replaces it, so the old one no longer
                // waits on anyone's worklist.
                for h in
                    self.handovers.iter_mut().filter(|h| h.subject == *subject && h.state == HandoverState::Proposed)
                {
                    h.state = HandoverState::Withdrawn;
                    h.answered_at = Some(at);
                }
                self.handovers.push(Handover {
                    id,
                    subject: *subject,
                    from: from.clone(),
                    to: to.clone(),
                    reason: reason.clone(),
                    respond_by: *respond_by,
                    referral: referral.clone(),
                    state: HandoverState::Proposed,
                    decline_reason: None,
                    acknowledged_at: None,
                    answered_at: None,
                    meta,
                });
            }
            CareEvent::HandoverAcknowledged => {
                if let Some(h) = self.handovers.iter_mut().find(|h| h.id == id) {
                    h.acknowledged_at.get_or_insert(at);
                }
            }
            CareEvent::HandoverAccepted => {
                let Some(h) = self.handovers.iter_mut().find(|h| h.id == id) else { return Effect::None };
                h.state = HandoverState::Accepted;
                h.answered_at = Some(at);
                h.acknowledged_at.get_or_insert(at);
                let (subject, to) = (h.subject, h.to.clone());
                match subject {
                    HandoverSubject::Step { step } => {
                        if let Some(s) = self.steps.iter_mut().find(|s| s.id == step) {
                            s.owner = to;
                        }
                    }
                    HandoverSubject::Course => self.responsible = Some(to),
                    HandoverSubject::KeyWorker => {
                        if let Owner::Professional { user, .. } = to {
                            return Effect::KeyWorker(user);
                        }
                    }
                }
            }
            CareEvent::HandoverDeclined { reason } => {
                if let Some(h) = self.handovers.iter_mut().find(|h| h.id == id) {
                    h.state = HandoverState::Declined;
                    h.decline_reason = Some(reason.clone());
                    h.answered_at = Some(at);
                }
            }
            CareEvent::HandoverWithdrawn { .. } => {
                if let Some(h) = self.handovers.iter_mut().find(|h| h.id == id) {
                    h.state = HandoverState::Withdrawn;
                    h.answered_at = Some(at);
                }
            }
            CareEvent::EpisodeRecorded { episode_kind, org, on, note, letter_due } => {
                if let Some(due) = letter_due {
                    self.letters.push(ExpectedLetter {
                        id,
                        from_org: *org,
                        expected_by: *due,
                        received: None,
                        received_on: None,
                        meta: meta.clone(),
                    });
                }
                self.episodes.push(Episode { id, kind: *episode_kind, org: *org, on: *on, note: note.clone(), meta });
            }
            CareEvent::LetterReceived { letter, .. } => {
                if let Some(l) = self.letters.iter_mut().find(|l| l.id == *letter) {
                    l.received = Some(id);
                    l.received_on = Some(danish_day(at));
                }
            }
            CareEvent::StoryWritten { story, written_with } => {
                self.story = Some(Story { text: story.clone(), written_with: *written_with, meta });
            }
            CareEvent::AdviceGiven { topic, stance, text, contradicts, conflict } => {
                self.advice.push(Advice {
                    id,
                    topic: topic.clone(),
                    stance: stance.clone(),
                    text: text.clone(),
                    state: AdviceState::InForce,
                    meta,
                });
                if let Some(conflict) = conflict {
                    match self.conflicts.iter_mut().find(|c| c.id == *conflict) {
                        Some(open) => {
                            let new = contradicts.iter().chain([&id]).filter(|a| !open.advice.contains(a)).copied();
                            let new: Vec<ItemId> = new.collect();
                            open.advice.extend(new);
                        }
                        None => {
                            let mut advice = contradicts.clone();
                            advice.push(id);
                            self.conflicts.push(AdviceConflict {
                                id: *conflict,
                                topic: topic.clone(),
                                advice,
                                raised_at: at,
                                resolution: None,
                            });
                        }
                    }
                }
            }
            CareEvent::AdviceConflictResolved { conflict, stance, agreed_message } => {
                let Some(c) = self.conflicts.iter_mut().find(|c| c.id == *conflict) else { return Effect::None };
                c.resolution = Some(Resolution {
                    stance: stance.clone(),
                    agreed_message: agreed_message.clone(),
                    by: meta.by,
                    at,
                });
                let involved = c.advice.clone();
                for a in self.advice.iter_mut().filter(|a| involved.contains(&a.id) && &a.stance != stance) {
                    a.state = AdviceState::Superseded;
                }
            }
            CareEvent::ProgressRecorded { on, pain, activities } => {
                self.measurements.push(Measurement { id, on: *on, pain: *pain, activities: activities.clone(), meta });
            }
            CareEvent::ConferenceScheduled { at: when, place, agenda, participants, patient_invited } => {
                self.conferences.push(Conference {
                    id,
                    at: *when,
                    place: place.clone(),
                    agenda: agenda.clone(),
                    participants: participants.clone(),
                    patient_invited: *patient_invited,
                    minutes: None,
                    meta,
                });
            }
            CareEvent::MinutesRecorded { text, decided } => {
                if let Some(c) = self.conferences.iter_mut().find(|c| c.id == id) {
                    c.minutes = Some(Minutes { text: text.clone(), decided: decided.clone(), by: meta.by, at });
                }
            }
        }
        Effect::None
    }
}

// ---- decisions -------------------------------------------------------------------

use crate::decide::{optional_text, ChangeFacts, Context, CourseChange, MAX_REASON, MAX_TEXT, MAX_TITLE};
use crate::directory::required_text;
use crate::event::EventBody;
use crate::projection::CourseState;
use crate::vocab::Sector;

fn rejected(reason: &'static str) -> DomainError {
    DomainError::rejected(reason)
}

fn check_owner(owner: &Owner) -> Result<(), DomainError> {
    if let Owner::Role { role, .. } = owner {
        required_text("owner.role", role, MAX_TITLE)?;
    }
    Ok(())
}

/// Decides a change to the care plan: the item it concerns, its data category and the
/// event. Called by [`crate::decide::change_course`].
pub(crate) fn decide(
    ctx: &Context<'_>,
    course: &CourseState,
    change: &CourseChange,
    facts: &ChangeFacts,
) -> Result<(Option<ItemId>, DataCategory, EventBody), DomainError> {
    let care = &course.care;
    let today = danish_day(ctx.now);
    let new_id = || ItemId::from_random_bytes(ctx.ids.random_bytes());
    let is_actor = |owner: &Owner| owner.includes(ctx.actor, ctx.org);
    let answerable = |id: ItemId| -> Result<&Handover, DomainError> {
        let h = care.handover(id).ok_or(DomainError::NotFound { what: "handover" })?;
        match h.state_at(ctx.now) {
            HandoverState::Proposed => {}
            HandoverState::Accepted => return Err(rejected("the handover was already accepted")),
            HandoverState::Declined => return Err(rejected("the handover was already declined")),
            HandoverState::Withdrawn => return Err(rejected("the handover was withdrawn")),
            HandoverState::Expired => return Err(rejected("the handover expired unanswered; propose it again")),
        }
        if !is_actor(&h.to) {
            return Err(rejected("only the receiver can answer a handover"));
        }
        Ok(h)
    };
    use DataCategory as C;
    let (item, category, event) = match change {
        CourseChange::SetGoal { goal_kind, text } => {
            let text = required_text("text", text, MAX_REASON)?;
            (Some(new_id()), C::Plan, CareEvent::GoalSet { goal_kind: *goal_kind, text })
        }
        CourseChange::AgreeGoal { goal } => {
            let g = care.goal(*goal).ok_or(DomainError::NotFound { what: "goal" })?;
            if g.agreed_by.contains(&ctx.actor) {
                return Err(rejected("you have already agreed to this goal"));
            }
            if matches!(g.status, GoalStatus::Achieved | GoalStatus::Dropped) {
                return Err(rejected("the goal is no longer open"));
            }
            (Some(*goal), C::Plan, CareEvent::GoalAgreed)
        }
        CourseChange::ChangeGoalStatus { goal, status } => {
            let g = care.goal(*goal).ok_or(DomainError::NotFound { what: "goal" })?;
            if g.status == *status {
                return Err(rejected("the goal already has that status"));
            }
            (Some(*goal), C::Plan, CareEvent::GoalStatusChanged { status: *status })
        }
        CourseChange::PlanStep {
            step_kind,
            title,
            owner,
            due_from,
            due_by,
            reason,
            reason_plain,
            what_to_expect,
            if_it_does_not_help,
        } => {
            check_owner(owner)?;
            if *due_by < course.started_on {
                return Err(DomainError::field("due_by", "a step cannot be due before the course started"));
            }
            if due_from.is_some_and(|from| from > *due_by) {
                return Err(DomainError::field("due_from", "the window must start before it ends"));
            }
            let event = CareEvent::StepPlanned {
                step_kind: *step_kind,
                title: required_text("title", title, MAX_TITLE)?,
                owner: owner.clone(),
                due_from: *due_from,
                due_by: *due_by,
                reason: required_text("reason", reason, MAX_REASON)?,
                reason_plain: required_text("reason_plain", reason_plain, MAX_REASON)?,
                what_to_expect: optional_text("what_to_expect", what_to_expect, MAX_REASON)?,
                if_it_does_not_help: optional_text("if_it_does_not_help", if_it_does_not_help, MAX_REASON)?,
            };
            (Some(new_id()), C::Plan, event)
        }
        CourseChange::ChangeStepStatus { step, status, note } => {
            let s = care.step(*step).ok_or(DomainError::NotFound { what: "step" })?;
            if s.status.is_final() {
                return Err(rejected("the step is finished; plan a new one instead"));
            }
            if s.status == *status {
                return Err(rejected("the step already has that status"));
            }
            // One owner per step: its place says how it goes (or the key worker, who holds
            // the whole course); another place on the team asks them, or hands it over.
            let owner_org = match &s.owner {
                Owner::Professional { org, .. } | Owner::Role { org, .. } => *org,
            };
            if ctx.org != Some(owner_org) && course.key_worker != Some(ctx.actor) {
                return Err(rejected("only the step's owner or the key worker changes its status"));
            }
            let note = optional_text("note", note, MAX_REASON)?;
            (Some(*step), C::Plan, CareEvent::StepStatusChanged { status: *status, note })
        }
        CourseChange::ProposeHandover { subject, to, reason, respond_by, referral } => {
            check_owner(to)?;
            let from = match subject {
                HandoverSubject::Step { step } => {
                    let s = care.step(*step).ok_or(DomainError::NotFound { what: "step" })?;
                    if s.status.is_final() {
                        return Err(rejected("the step is finished"));
                    }
                    s.owner.clone()
                }
                HandoverSubject::KeyWorker => {
                    let user = course
                        .key_worker
                        .ok_or_else(|| rejected("the course has no key worker yet; name one first"))?;
                    let org = ctx.org.ok_or_else(|| rejected("only the key worker can hand over the role"))?;
                    if user != ctx.actor {
                        return Err(rejected("only the key worker can hand over the role"));
                    }
                    if !matches!(to, Owner::Professional { .. }) {
                        return Err(DomainError::field("to", "a key worker is one person"));
                    }
                    Owner::Professional { user, org }
                }
                HandoverSubject::Course => care.responsible.clone().unwrap_or(Owner::Role {
                    org: course.opened_org.ok_or_else(|| rejected("the course has no responsible organisation"))?,
                    role: "ansvarlig".into(),
                }),
            };
            if !is_actor(&from) {
                return Err(rejected("only the current owner can hand over"));
            }
            if *to == from || matches!(to, Owner::Professional { user, .. } if *user == ctx.actor) {
                return Err(DomainError::field("to", "you cannot hand over to yourself"));
            }
            if facts.org_sector.is_none() {
                return Err(DomainError::NotFound { what: "organisation" });
            }
            let open =
                care.handovers.iter().any(|h| h.subject == *subject && h.state_at(ctx.now) == HandoverState::Proposed);
            if open {
                return Err(rejected("there is already an open handover for this; withdraw it first"));
            }
            let respond_by = respond_by.unwrap_or_else(|| default_respond_by(ctx.now));
            if respond_by < today {
                return Err(DomainError::field("respond_by", "the answer cannot be due in the past"));
            }
            let referral = match referral {
                Some(r) => Some(Referral {
                    question: required_text("referral.question", &r.question, MAX_REASON)?,
                    findings: optional_text("referral.findings", &r.findings, MAX_TEXT)?,
                    tried: optional_text("referral.tried", &r.tried, MAX_TEXT)?,
                    red_flags_checked: optional_text("referral.red_flags_checked", &r.red_flags_checked, MAX_REASON)?,
                    reason_plain: required_text("referral.reason_plain", &r.reason_plain, MAX_REASON)?,
                    told_to_expect: optional_text("referral.told_to_expect", &r.told_to_expect, MAX_REASON)?,
                }),
                None => None,
            };
            let reason = required_text("reason", reason, MAX_REASON)?;
            let event =
                CareEvent::HandoverProposed { subject: *subject, from, to: to.clone(), reason, respond_by, referral };
            (Some(new_id()), C::Plan, event)
        }
        CourseChange::AcknowledgeHandover { handover } => {
            let h = answerable(*handover)?;
            if h.acknowledged_at.is_some() {
                return Err(rejected("the handover was already acknowledged"));
            }
            (Some(*handover), C::Plan, CareEvent::HandoverAcknowledged)
        }
        CourseChange::AcceptHandover { handover } => {
            answerable(*handover)?;
            (Some(*handover), C::Plan, CareEvent::HandoverAccepted)
        }
        CourseChange::DeclineHandover { handover, reason } => {
            answerable(*handover)?;
            let reason = required_text("reason", reason, MAX_REASON)?;
            (Some(*handover), C::Plan, CareEvent::HandoverDeclined { reason })
        }
        CourseChange::WithdrawHandover { handover, reason } => {
            let h = care.handover(*handover).ok_or(DomainError::NotFound { what: "handover" })?;
            if !(is_actor(&h.from) || h.meta.by == ctx.actor) {
                return Err(rejected("only the sender can withdraw a handover"));
            }
            if !matches!(h.state_at(ctx.now), HandoverState::Proposed | HandoverState::Expired) {
                return Err(rejected("the handover was already answered"));
            }
            let reason = optional_text("reason", reason, MAX_REASON)?;
            (Some(*handover), C::Plan, CareEvent::HandoverWithdrawn { reason })
        }
        CourseChange::RecordEpisode { episode_kind, org, on, note } => {
            let sector = facts.org_sector.ok_or(DomainError::NotFound { what: "organisation" })?;
            // A stay or visit at a hospital is the health service's to record; sick leave
            // the doctor's who signs it or the jobcentre's who follows it.
            let sick_leave = matches!(episode_kind, EpisodeKind::SickLeaveStart | EpisodeKind::SickLeaveEnd);
            match (ctx.domain, sick_leave) {
                (LegalDomain::Health, _) | (LegalDomain::Employment, true) => {}
                (_, true) => {
                    return Err(DomainError::field(
                        "episode_kind",
                        "sick leave is recorded by the doctor or the jobcentre",
                    ))
                }
                (_, false) => {
                    return Err(DomainError::field(
                        "episode_kind",
                        "a stay or visit at a hospital is recorded by health professionals",
                    ))
                }
            }
            if *on > today {
                return Err(DomainError::field("on", "an episode cannot be in the future"));
            }
            let psychiatry = sector == Sector::HospitalPsychiatry;
            let letter_due =
                (*episode_kind == EpisodeKind::Discharge && psychiatry).then(|| *on + Duration::days(LETTER_DUE_DAYS));
            let category = match episode_kind {
                EpisodeKind::SickLeaveStart | EpisodeKind::SickLeaveEnd => C::SocialEmployment,
                _ if psychiatry => C::MentalHealth,
                _ => C::Plan,
            };
            let note = optional_text("note", note, MAX_REASON)?;
            (
                Some(new_id()),
                category,
                CareEvent::EpisodeRecorded { episode_kind: *episode_kind, org: *org, on: *on, note, letter_due },
            )
        }
        CourseChange::ReceiveLetter { letter, title, text } => {
            let l = care
                .letters
                .iter()
                .find(|l| l.id == *letter)
                .ok_or(DomainError::NotFound { what: "expected letter" })?;
            if l.received.is_some() {
                return Err(rejected("that letter has already arrived"));
            }
            let category = if l.meta.category == C::MentalHealth { C::MentalHealth } else { C::ClinicalFindings };
            let event = CareEvent::LetterReceived {
                letter: *letter,
                title: required_text("title", title, MAX_TITLE)?,
                text: required_text("text", text, MAX_TEXT)?,
            };
            (Some(new_id()), category, event)
        }
        CourseChange::WriteStory { story } => {
            let text = StoryText {
                history: optional_text("story.history", &story.history, MAX_TEXT)?,
                tried: optional_text("story.tried", &story.tried, MAX_TEXT)?,
                what_matters: optional_text("story.what_matters", &story.what_matters, MAX_TEXT)?,
                preferences: optional_text("story.preferences", &story.preferences, MAX_TEXT)?,
                practical_needs: optional_text("story.practical_needs", &story.practical_needs, MAX_TEXT)?,
            };
            let empty = [&text.history, &text.tried, &text.what_matters, &text.preferences, &text.practical_needs]
                .iter()
                .all(|t| t.is_empty());
            if empty {
                return Err(DomainError::field("story", "write at least one part of the story"));
            }
            let written_with = ctx.org.map(|_| ctx.actor);
            (Some(new_id()), C::PatientStory, CareEvent::StoryWritten { story: text, written_with })
        }
        CourseChange::GiveAdvice { topic, stance, text } => {
            check_advice(topic, stance)?;
            let clinical = advice_topics().iter().any(|t| t.id == *topic && t.clinical);
            if clinical && ctx.domain != LegalDomain::Health {
                return Err(DomainError::field(
                    "topic",
                    "advice on treatment, medicine or tests is given by health professionals",
                ));
            }
            let contradicts: Vec<ItemId> = care.contradicting(topic, stance).iter().map(|a| a.id).collect();
            // A topic has at most one open conflict: later contradicting advice joins it,
            // so the team resolves the topic once, not each pair of authors.
            let open = care.conflicts.iter().find(|c| c.topic == *topic && c.resolution.is_none()).map(|c| c.id);
            let conflict = if contradicts.is_empty() { None } else { Some(open.unwrap_or_else(new_id)) };
            let text = optional_text("text", text, MAX_REASON)?;
            (
                Some(new_id()),
                C::Plan,
                CareEvent::AdviceGiven { topic: topic.clone(), stance: stance.clone(), text, contradicts, conflict },
            )
        }
        CourseChange::ResolveAdviceConflict { conflict, stance, agreed_message } => {
            let c = care.conflict(*conflict).ok_or(DomainError::NotFound { what: "advice conflict" })?;
            if c.resolution.is_some() {
                return Err(rejected("the conflict is already resolved"));
            }
            check_advice(&c.topic, stance)?;
            let agreed_message = required_text("agreed_message", agreed_message, MAX_REASON)?;
            let event =
                CareEvent::AdviceConflictResolved { conflict: *conflict, stance: stance.clone(), agreed_message };
            (Some(*conflict), C::Plan, event)
        }
        CourseChange::RecordProgress { on, pain, activities } => {
            if *on > today {
                return Err(DomainError::field("on", "progress cannot be recorded for a future day"));
            }
            if pain.is_some_and(|p| p > 10) {
                return Err(DomainError::field("pain", "pain is rated from 0 to 10"));
            }
            if activities.len() > 5 {
                return Err(DomainError::field("activities", "name at most five activities"));
            }
            if pain.is_none() && activities.is_empty() {
                return Err(DomainError::field("pain", "record pain, activities or both"));
            }
            let mut scored = Vec::new();
            for a in activities {
                if a.score > 10 {
                    return Err(DomainError::field("activities", "each activity is rated from 0 to 10"));
                }
                scored.push(ActivityScore {
                    activity: required_text("activities.activity", &a.activity, MAX_TITLE)?,
                    score: a.score,
                });
            }
            (
                Some(new_id()),
                C::ClinicalFindings,
                CareEvent::ProgressRecorded { on: *on, pain: *pain, activities: scored },
            )
        }
        CourseChange::ScheduleConference { at, place, agenda, participants, patient_invited } => {
            if *at < ctx.now {
                return Err(DomainError::field("at", "a conference is scheduled ahead, not in the past"));
            }
            if participants.is_empty() {
                return Err(DomainError::field("participants", "invite at least one professional or role"));
            }
            for p in participants {
                check_owner(p)?;
            }
            let event = CareEvent::ConferenceScheduled {
                at: *at,
                place: required_text("place", place, MAX_TITLE)?,
                agenda: required_text("agenda", agenda, MAX_TEXT)?,
                participants: participants.clone(),
                patient_invited: *patient_invited,
            };
            (Some(new_id()), C::Plan, event)
        }
        _ => return Err(rejected("that change is not part of the care plan")),
    };
    Ok((item, category, EventBody::Care(CareRecord { origin: ctx.domain, event })))
}
