//! The gate every use case passes: load the facts, ask [`policy::decide`], audit a
//! denial, and hand back what the reader may see.

use std::sync::atomic::{AtomicBool, Ordering};

use sammen_domain::audit::{AuditAction, AuditDraft, AuditOutcome};
use sammen_domain::event::{NewEvent, Stream, TeamMember};
use sammen_domain::ids::{CourseId, PatientId, UserId};
use sammen_domain::policy::{self, Access, Decision, Facts, Filter, Reader, Relation};
use sammen_domain::projection::{CourseState, PatientState};
use sammen_domain::vocab::Purpose;
use sammen_domain::worklist;
use sammen_domain::DomainError;
use sammen_store::{Append, Notice, Snapshot, StreamWrite};

use crate::{Actor, AppError, AppResult, Sammen};

/// What an access is to: one course and its care team, or the whole patient and the
/// members of all their courses.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Scope<'a> {
    pub course: Option<CourseId>,
    pub team: &'a [TeamMember],
}

/// A write's audit entry, made before the write so that it can be committed with it.
pub(crate) struct WriteEntry {
    draft: AuditDraft,
    /// Set once the entry is durable, committed with the write.
    landed: AtomicBool,
}

impl WriteEntry {
    /// The entry, about another patient and object than the write named: for a write
    /// refused because of a record it ran into.
    pub(crate) fn about(mut self, patient: PatientId, object: String) -> Self {
        self.draft.patient = Some(patient);
        self.draft.object = object;
        self
    }
}

/// A permit: the reader's relation, what they may see, and the purpose to audit.
#[derive(Debug, Clone)]
pub struct Granted {
    pub relation: Relation,
    pub filter: Filter,
    pub purpose: Purpose,
}

impl Sammen {
    /// Asks the policy. On denial, audits the attempt and returns the error the caller
    /// may see: not found when they may not learn that the patient exists.
    pub(crate) async fn authorize(
        &self,
        actor: &Actor,
        patient: &PatientState,
        scope: Scope<'_>,
        access: Access,
        action: AuditAction,
        object: &str,
    ) -> AppResult<Granted> {
        let reader = Reader { user: &actor.user, org: actor.org.as_ref() };
        let facts = Facts { patient, course: scope.course, team: scope.team, now: self.now() };
        let decision = policy::decide(&reader, &facts, access);
        let purpose = decision.purpose();
        match decision {
            Decision::Permit { relation, filter } => Ok(Granted { relation, filter, purpose }),
            Decision::Deny { relation, hide } => {
                self.audit(actor, action, purpose, Some(patient.id), object.to_string(), AuditOutcome::Denied).await?;
                Err(match (hide, relation) {
                    (true, _) => AppError::NotFound("patient"),
                    (false, Relation::Objected) => AppError::Objected,
                    (false, _) => AppError::Forbidden,
                })
            }
        }
    }

    /// Audits the outcome of a write and passes its result on.
    pub(crate) async fn audited<T>(
        &self,
        actor: &Actor,
        action: AuditAction,
        purpose: Purpose,
        patient: PatientId,
        object: String,
        result: AppResult<T>,
    ) -> AppResult<T> {
        let entry = self.write_entry(actor, action, purpose, patient, object);
        self.finish_write(entry, result).await
    }

    /// The audit entry of a write about to be made, to go with it: see
    /// [`Sammen::commit_with`] and [`Sammen::finish_write`].
    pub(crate) fn write_entry(
        &self,
        actor: &Actor,
        action: AuditAction,
        purpose: Purpose,
        patient: PatientId,
        object: String,
    ) -> WriteEntry {
        let draft = self.draft(actor, action, purpose, Some(patient), object, AuditOutcome::Permitted);
        WriteEntry { draft, landed: AtomicBool::new(false) }
    }

    /// Commits an append with the write's audit entry in the same transaction, so the
    /// writer waits for one durable commit instead of two, and a write never lands
    /// without its entry. In a unit of work the entry waits for the unit instead, with
    /// the unit's others (see [`crate::unit`]), so a unit that rolls back still records
    /// what was tried. Where appends run side by side (PostgreSQL), the entry goes
    /// through the audit writer after the write, as a read's does: in the append, the
    /// trail's head would make every write wait for the one before
    /// ([`sammen_store::Store::appends_carry_audit`]).
    pub(crate) async fn commit_with(&self, mut append: Append, entry: &WriteEntry) -> AppResult<()> {
        if self.audit.is_deferred() || !self.store.appends_carry_audit() {
            return self.commit(append).await;
        }
        // Stamped now, after the change was decided: the entry is the writer's last look
        // at the course, which must not come before the events it wrote.
        append.audit.push(AuditDraft { at: self.now(), ..entry.draft.clone() });
        self.commit(append).await?;
        entry.landed.store(true, Ordering::Release);
        self.audit.landed_with_append(1);
        Ok(())
    }

    /// Audits the outcome of a write begun with [`Sammen::write_entry`] and passes its
    /// result on. An entry that landed with the write is not written again; any other
    /// outcome (refused, a conflict, or a success that wrote nothing) is recorded now.
    pub(crate) async fn finish_write<T>(&self, entry: WriteEntry, result: AppResult<T>) -> AppResult<T> {
        let mut draft = entry.draft;
        draft.at = self.now();
        draft.outcome = match &result {
            Ok(_) if entry.landed.load(Ordering::Acquire) => return result,
            Ok(_) => AuditOutcome::Permitted,
            Err(AppError::Domain(DomainError::Conflict { .. })) => AuditOutcome::Conflict,
            Err(_) => AuditOutcome::Refused,
        };
        self.audit.record(draft).await?;
        result
    }

    pub(crate) async fn load_patient(
        &self,
        actor: &Actor,
        id: PatientId,
        action: AuditAction,
    ) -> AppResult<PatientState> {
        match self.store.patient(id).await? {
            Some(p) => Ok(p),
            None => {
                self.audit(actor, action, actor.purpose, Some(id), format!("patient/{id}"), AuditOutcome::Refused)
                    .await?;
                Err(AppError::NotFound("patient"))
            }
        }
    }

    /// The one write path: commits an append (every stream at its expected version,
    /// or nothing), then e-mails the recipients of its notices.
    pub(crate) async fn commit(&self, append: Append) -> AppResult<()> {
        let notices = append.notices.clone();
        // In a unit, how far this write moves each stream (noted once it has landed).
        let moved: Vec<_> = match &self.own_versions {
            Some(_) => append
                .writes
                .iter()
                .map(|w| (w.stream, w.expected_version, w.expected_version + w.events.len() as u64))
                .collect(),
            None => Vec::new(),
        };
        let patient = append.patient;
        self.store.append(append).await?;
        if let Some(own) = &self.own_versions {
            for (stream, from, to) in moved {
                own.wrote(patient, stream, from, to);
            }
        }
        self.mail_notices(&notices).await;
        Ok(())
    }

    /// Appends one event to the patient's own stream (identity, sharing) with the
    /// notices it causes, and returns the patient's state after it.
    pub(crate) async fn commit_patient_event(
        &self,
        current: &PatientState,
        event: NewEvent,
        notices: Vec<Notice>,
    ) -> AppResult<PatientState> {
        let mut next = current.clone();
        next.apply(&event);
        let write = StreamWrite {
            stream: event.stream,
            expected_version: current.version,
            events: vec![event],
            snapshot: Snapshot::Patient(next.clone()),
            work: Vec::new(),
            followers: Vec::new(),
        };
        self.commit(Append::one(current.id, write).with_notices(notices)).await?;
        Ok(next)
    }

    /// A write of a course's events, with the state and the open work after them, and
    /// everyone on the care team but the writer told that the course changed. Takes the
    /// state, which the write keeps: a course's state grows with it, and a copy per write
    /// would be paid on every change.
    pub(crate) async fn course_write(
        &self,
        expected_version: u64,
        events: Vec<NewEvent>,
        next: CourseState,
    ) -> AppResult<StreamWrite> {
        let dir = self.directory().await?;
        let writers: Vec<UserId> = events.iter().map(|e| e.actor).collect();
        let mut followers: Vec<UserId> = next
            .team
            .iter()
            .flat_map(|m| match m.member {
                TeamMember::Organisation { org } => dir.staff(org).map(|u| u.id).collect(),
                TeamMember::Professional { user, .. } => vec![user],
            })
            .filter(|u| !writers.contains(u))
            .collect();
        followers.sort();
        followers.dedup();
        Ok(StreamWrite {
            stream: Stream::Course(next.id),
            expected_version,
            events,
            work: worklist::of_course(&next, |org| dir.sector_of(org)),
            snapshot: Snapshot::Course(Box::new(next)),
            followers,
        })
    }

    /// Loads a patient and checks patient-level access (the team of every course
    /// counts).
    pub(crate) async fn authorized_patient(
        &self,
        actor: &Actor,
        id: PatientId,
        access: Access,
        action: AuditAction,
        object: &str,
    ) -> AppResult<(PatientState, Granted)> {
        let (p, granted, _) = self.authorized_patient_and_teams(actor, id, access, action, object).await?;
        Ok((p, granted))
    }

    /// As [`Sammen::authorized_patient`], and the care team of each course, which the
    /// check read anyway.
    pub(crate) async fn authorized_patient_and_teams(
        &self,
        actor: &Actor,
        id: PatientId,
        access: Access,
        action: AuditAction,
        object: &str,
    ) -> AppResult<(PatientState, Granted, Vec<(CourseId, TeamMember)>)> {
        let p = self.load_patient(actor, id, action).await?;
        let teams = self.store.care_team(id).await?;
        let team: Vec<TeamMember> = teams.iter().map(|(_, m)| *m).collect();
        let granted = self.authorize(actor, &p, Scope { course: None, team: &team }, access, action, object).await?;
        Ok((p, granted, teams))
    }

    /// Loads a course and checks access to it. A course the caller may not see and a
    /// course that does not exist look the same.
    pub(crate) async fn authorized_course(
        &self,
        actor: &Actor,
        patient: PatientId,
        course: CourseId,
        access: Access,
        action: AuditAction,
    ) -> AppResult<(PatientState, CourseState, Granted)> {
        let object = format!("course/{course}");
        let p = self.load_patient(actor, patient, action).await?;
        let Some(c) = self.store.course(patient, course).await? else {
            self.audit(actor, action, actor.purpose, Some(patient), object, AuditOutcome::Refused).await?;
            return Err(AppError::NotFound("course"));
        };
        let team: Vec<TeamMember> = c.team.iter().map(|m| m.member).collect();
        let granted =
            self.authorize(actor, &p, Scope { course: Some(course), team: &team }, access, action, &object).await?;
        Ok((p, c, granted))
    }
}
