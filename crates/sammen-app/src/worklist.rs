//! One worklist per professional: handovers and questions waiting for their answer,
//! overdue steps they own, discharge letters they wait for, conflicting advice on
//! their patients, and courses they follow that changed since they last looked.
//!
//! The open work comes from the `work_items` index, kept in order of assignee; the
//! changed courses from each follower's unseen changes, written when a course changes
//! and removed when they look. Every line then passes the policy for its patient and
//! course, like any read: a line of a patient who objects, or of data the reader may
//! not see, is left out, and so are its counts. Each patient shown is on the audit
//! trail.

use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use time::{Date, OffsetDateTime};

use sammen_domain::audit::{AuditAction, AuditDraft, AuditOutcome};
use sammen_domain::clock::danish_day;
use sammen_domain::event::{Stream, TeamMember};
use sammen_domain::ids::{CourseId, ItemId, PatientId, ThreadId};
use sammen_domain::policy::{self, Access, Decision, Facts, Filter, Reader};
use sammen_domain::projection::PatientState;
use sammen_domain::vocab::DataCategory;
use sammen_domain::worklist::{self, WorkKind};
use sammen_store::ReaderLine;

use crate::{Actor, AppError, AppResult, Sammen};

/// The most rows read from each index for one worklist.
const SCAN_LIMIT: u32 = 20_000;

/// One line of the worklist.
#[derive(Debug, Clone, Serialize)]
pub struct WorkEntry {
    pub kind: WorkKind,
    pub patient: PatientId,
    pub patient_name: String,
    pub course: CourseId,
    /// The thread, for questions.
    pub thread: Option<ThreadId>,
    /// The handover, step, letter or conflict (or the first message of a thread).
    pub item: Option<ItemId>,
    pub title: String,
    pub due: Option<Date>,
    pub overdue: bool,
    #[serde(with = "time::serde::rfc3339")]
    pub since: OffsetDateTime,
}

#[derive(Debug, Clone, Serialize)]
pub struct WorklistView {
    /// How many of each kind (all of them, not only those listed).
    pub counts: BTreeMap<WorkKind, usize>,
    /// The most overdue first, then the newest; at most `limit` of each kind.
    pub items: Vec<WorkEntry>,
    #[serde(with = "time::serde::rfc3339")]
    pub as_of: OffsetDateTime,
}

/// The policy's answer for one course of one patient, asked once per worklist.
struct Permits<'a> {
    actor: &'a Actor,
    patients: HashMap<PatientId, PatientState>,
    me: [TeamMember; 2],
    decided: HashMap<(PatientId, CourseId), Option<Filter>>,
    now: OffsetDateTime,
}

impl Permits<'_> {
    fn filter(&mut self, patient: PatientId, course: CourseId, on_team: bool) -> Option<&Filter> {
        let (actor, now) = (self.actor, self.now);
        let (patients, me) = (&self.patients, &self.me);
        self.decided
            .entry((patient, course))
            .or_insert_with(|| {
                let p = patients.get(&patient)?;
                // The policy asks of the team only whether the reader is on it, so the
                // reader's own memberships stand in for the whole team.
                let team: &[TeamMember] = if on_team { me } else { &[] };
                let reader = Reader { user: &actor.user, org: actor.org.as_ref() };
                let facts = Facts { patient: p, course: Some(course), team, now };
                match policy::decide(&reader, &facts, Access::ReadCourse) {
                    Decision::Permit { filter, .. } => Some(filter),
                    Decision::Deny { .. } => None,
                }
            })
            .as_ref()
    }

    fn name(&self, patient: PatientId) -> String {
        self.patients.get(&patient).map(|p| p.name.clone()).unwrap_or_default()
    }
}

impl Sammen {
    /// The actor's worklist, with at most `limit` entries of each kind.
    pub async fn worklist(&self, actor: &Actor, limit: usize) -> AppResult<WorklistView> {
        // Worklists are for professionals, who all work for an organisation.
        let Some(org_id) = actor.user.org() else { return Err(AppError::Forbidden) };
        let now = self.now();
        let today = danish_day(now);
        let (user, org) = (actor.user.id, actor.user.org());
        // The two sources are read at once, the changed courses on another worker thread:
        // each is a few thousand index seeks, and the two together are most of the time.
        let store = self.store.clone();
        let unseen = tokio::spawn(async move { store.unseen_changes(user, org, SCAN_LIMIT).await });
        let mut work = self.store.work_for(user, org, today, SCAN_LIMIT).await?;
        work.lines.retain(|l| l.item.show.shown(l.item.due, today));
        let mut changed =
            unseen.await.map_err(|e| AppError::Internal(format!("the worklist's read failed: {e}")))??;
        let mut patients = std::mem::take(&mut work.patients);
        patients.extend(changed.patients.drain());
        let me = [TeamMember::Professional { user, org: org_id }, TeamMember::Organisation { org: org_id }];
        let mut permits = Permits { actor, patients, me, decided: HashMap::new(), now };

        let mut lines: Vec<WorkEntry> = Vec::new();
        for ReaderLine { item: w, on_team } in work.lines {
            let Some(filter) = permits.filter(w.patient, w.course, on_team) else { continue };
            if !filter.shows(w.category, w.origin, w.author_org, Some(w.course)).0 {
                continue;
            }
            lines.push(WorkEntry {
                kind: w.kind,
                patient: w.patient,
                patient_name: permits.name(w.patient),
                course: w.course,
                thread: match w.stream {
                    Stream::Thread(t) => Some(t),
                    _ => None,
                },
                item: Some(w.item),
                overdue: w.is_overdue(today),
                title: w.title,
                due: w.due,
                since: w.since,
            });
        }
        // The same piece of work can reach someone twice (as themself and through their
        // organisation, or as key worker): one line is enough.
        let mut seen = std::collections::HashSet::new();
        lines.retain(|l| seen.insert((l.item, l.kind)));
        for ReaderLine { item: c, on_team } in changed.lines {
            let Some(filter) = permits.filter(c.patient, c.course, on_team) else { continue };
            let shown = filter.shows(DataCategory::Plan, c.origin, c.opened_org, Some(c.course)).0;
            lines.push(WorkEntry {
                kind: WorkKind::Changed,
                patient: c.patient,
                patient_name: permits.name(c.patient),
                course: c.course,
                thread: None,
                item: None,
                title: if shown { c.title } else { String::new() },
                due: None,
                overdue: false,
                since: c.changed_at,
            });
        }

        let mut counts: BTreeMap<WorkKind, usize> = BTreeMap::new();
        let mut by_kind: BTreeMap<WorkKind, Vec<WorkEntry>> = BTreeMap::new();
        for l in lines {
            *counts.entry(l.kind).or_default() += 1;
            by_kind.entry(l.kind).or_default().push(l);
        }
        let mut items = Vec::new();
        for (_, mut list) in by_kind {
            worklist::order(&mut list, today, |l| (l.due, l.since));
            items.extend(list.into_iter().take(limit));
        }

        // Every patient shown is a look at that patient's record.
        let mut shown: Vec<PatientId> = items.iter().map(|i| i.patient).collect();
        shown.sort();
        shown.dedup();
        let drafts: Vec<AuditDraft> = shown
            .into_iter()
            .map(|patient| AuditDraft {
                at: now,
                actor: policy::audit_actor(user),
                org: org.map(|o| format!("org/{o}")),
                action: AuditAction::Query,
                purpose: actor.purpose,
                patient: Some(patient),
                object: "worklist".into(),
                outcome: AuditOutcome::Permitted,
            })
            .collect();
        self.audit.record_all(drafts).await?;
        Ok(WorklistView { counts, items, as_of: now })
    }
}
