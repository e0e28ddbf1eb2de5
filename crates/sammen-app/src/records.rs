//! Patients and their courses: register, find, read, open, change, and read back
//! history. Every read is filtered by the policy's decision and says what it left out.

use serde::Serialize;

use sammen_domain::audit::{AuditAction, AuditDraft, AuditOutcome};
use sammen_domain::care::{CareEvent, MinutesDecision, Owner};
use sammen_domain::clock::danish_day;
use sammen_domain::cpr::Cpr;
use sammen_domain::decide::{self, ChangeFacts, CourseChange, OpenCourse};
use sammen_domain::directory::UserKind;
use sammen_domain::event::{Event, EventBody, NewEvent, Stream, TeamMember};
use sammen_domain::ids::UserId;
use sammen_domain::ids::{CourseId, ItemId, PatientId};
use sammen_domain::policy::{self, Access, Facts, Reader, Relation, Withheld};
use sammen_domain::projection::{CourseState, CourseStatus, PatientState, Projections};
use sammen_domain::vocab::{DataCategory, Purpose, Sector};
use sammen_domain::{DomainError, Reason};
use sammen_store::{Append, EventFilter, Notice, Snapshot, StreamWrite};

use crate::access::Granted;
use crate::directory::Directory;
use crate::{role_name, Actor, AppError, AppResult, Sammen};

/// How the reader got in, shown with every read so clients can flag break-glass.
#[derive(Debug, Clone, Serialize)]
pub struct AccessNote {
    pub relation: Relation,
    pub purpose: Purpose,
}

impl From<&Granted> for AccessNote {
    fn from(g: &Granted) -> Self {
        AccessNote { relation: g.relation, purpose: g.purpose }
    }
}

/// A patient as the API shows them: identity and the list of courses.
#[derive(Debug, Clone, Serialize)]
pub struct PatientView {
    pub id: PatientId,
    pub cpr: Cpr,
    pub name: String,
    pub version: u64,
    /// When `version` was written.
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: time::OffsetDateTime,
    pub courses: Vec<CourseSummaryView>,
    pub access: AccessNote,
}

fn patient_view(p: PatientState, courses: Vec<CourseSummaryView>, granted: &Granted) -> PatientView {
    let updated_at = p.last_changed();
    PatientView { id: p.id, cpr: p.cpr, name: p.name, version: p.version, updated_at, courses, access: granted.into() }
}

/// A patient found by a search.
#[derive(Debug, Clone, Serialize)]
pub struct PatientHit {
    pub id: PatientId,
    pub name: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct CourseSummaryView {
    pub id: CourseId,
    /// Empty when the course's title is withheld from this reader.
    pub title: String,
    pub status: CourseStatus,
    pub version: u64,
    pub title_withheld: bool,
}

/// A course as this reader may see it, with a note of what was withheld.
#[derive(Debug, Clone, Serialize)]
pub struct CourseView {
    #[serde(flatten)]
    pub course: CourseState,
    pub withheld: Vec<Withheld>,
    pub access: AccessNote,
}

/// A patient's record as one reader may see it (see [`Sammen::read_record_with`]).
#[derive(Debug, Clone, Serialize)]
pub struct RecordView {
    pub patient: PatientView,
    pub courses: Vec<CourseView>,
    /// The courses' message threads, when asked for.
    pub threads: Vec<crate::messages::ThreadView>,
}

/// A change as [`Sammen::apply_change`] made it: the course after it as the writer may
/// see it, and the events.
struct Applied {
    after: CourseView,
    events: Vec<NewEvent>,
}

/// How many times an addition is tried again when other writes land first: writes that
/// do not take turns with it (see [`crate::turns`]).
const ADD_ATTEMPTS: usize = 4;

/// Events of a course as this reader may see them.
#[derive(Debug, Clone, Serialize)]
pub struct HistoryView {
    pub events: Vec<Event>,
    pub withheld: Vec<Withheld>,
}

fn course_view(course: &CourseState, granted: &Granted) -> CourseView {
    let (course, withheld) = policy::filter_course(course, &granted.filter);
    CourseView { course, withheld, access: granted.into() }
}

impl Sammen {
    /// Registers a new patient. Only a professional acting for an organisation may.
    pub async fn register_patient(&self, actor: &Actor, cpr: Cpr, name: &str) -> AppResult<PatientView> {
        if actor.user.profession().is_none() {
            return Err(AppError::Forbidden);
        }
        let ctx = self.context(actor);
        let number = cpr.clone();
        let (id, event) = decide::register_patient(&ctx, cpr, name)?;
        let state = PatientState::from_registration(id, &event).expect("a registration event");
        let write = StreamWrite {
            stream: event.stream,
            expected_version: 0,
            events: vec![event],
            snapshot: Snapshot::Patient(state),
            work: Vec::new(),
            followers: Vec::new(),
        };
        let entry = self.write_entry(actor, AuditAction::Create, actor.purpose, id, format!("patient/{id}"));
        let result = self.commit_with(Append::one(id, write), &entry).await;
        // A number can be registered once, so whoever may register learns that this one
        // is taken, even if they may not see whose it is. The refusal goes on that
        // patient's access log, naming who tried, so the patient sees who asked about
        // them; the answer names nobody.
        let taken_by = match &result {
            Err(AppError::Duplicate(_)) => self.store.patient_by_cpr(&number).await?,
            _ => None,
        };
        let entry = match taken_by {
            Some(existing) => entry.about(existing, format!("patient/{existing}/registration")),
            None => entry,
        };
        self.finish_write(entry, result).await?;
        self.patient(actor, id).await
    }

    /// Finds a patient by CPR number among those the actor may see.
    pub async fn find_patient_by_cpr(&self, actor: &Actor, cpr: &Cpr) -> AppResult<PatientView> {
        let Some(id) = self.store.patient_by_cpr(cpr).await? else {
            self.audit(actor, AuditAction::Query, actor.purpose, None, "patient?cpr".into(), AuditOutcome::Refused)
                .await?;
            return Err(AppError::NotFound("patient"));
        };
        self.patient(actor, id).await
    }

    /// Finds patients the actor may see by name (part of it, any case), among the
    /// patients whose care team they are on. Each patient found is on the audit trail.
    pub async fn search_patients_by_name(&self, actor: &Actor, query: &str) -> AppResult<Vec<PatientHit>> {
        let query = query.trim().to_lowercase();
        if query.chars().count() < 2 {
            return Err(DomainError::field("query", "write at least two letters of the name").into());
        }
        let Some(org) = actor.user.org() else { return Err(AppError::Forbidden) };
        let memberships = self.store.memberships(actor.user.id, Some(org)).await?;
        let mut ids: Vec<PatientId> = memberships.iter().map(|(p, _)| *p).collect();
        ids.sort();
        ids.dedup();
        let me = [TeamMember::Professional { user: actor.user.id, org }, TeamMember::Organisation { org }];
        let reader = Reader { user: &actor.user, org: actor.org.as_ref() };
        let now = self.now();
        let mut hits = Vec::new();
        for p in self.store.patients(&ids).await? {
            if !p.name.to_lowercase().contains(&query) {
                continue;
            }
            // Reached through their care teams; the patient's objection still wins.
            let facts = Facts { patient: &p, course: None, team: &me, now };
            if policy::decide(&reader, &facts, Access::ReadPatient).is_permit() {
                hits.push(PatientHit { id: p.id, name: p.name.clone() });
            }
        }
        hits.sort_by(|a, b| a.name.cmp(&b.name));
        hits.truncate(50);
        let drafts = hits
            .iter()
            .map(|h| AuditDraft {
                at: now,
                actor: policy::audit_actor(actor.user.id),
                org: Some(format!("org/{org}")),
                action: AuditAction::Query,
                purpose: actor.purpose,
                patient: Some(h.id),
                object: "patient?name".into(),
                outcome: AuditOutcome::Permitted,
            })
            .collect();
        self.audit.record_all(drafts).await?;
        Ok(hits)
    }

    /// The patients this caller may read, in id order: a patient or proxy their one
    /// record; a professional the patients whose care team they are on (personally or
    /// through their organisation) who do not object. Ids only: each record read after
    /// is asked of the policy and audited on its own.
    pub async fn patients_in_reach(&self, actor: &Actor) -> AppResult<Vec<PatientId>> {
        match actor.user.kind {
            UserKind::Patient { patient } | UserKind::Proxy { patient } => return Ok(vec![patient]),
            UserKind::Operator => return Ok(Vec::new()),
            UserKind::Professional { .. } => {}
        }
        let Some(org) = actor.user.org() else { return Ok(Vec::new()) };
        let mut ids: Vec<PatientId> =
            self.store.memberships(actor.user.id, Some(org)).await?.into_iter().map(|(p, _)| p).collect();
        ids.sort();
        ids.dedup();
        let me = [TeamMember::Professional { user: actor.user.id, org }, TeamMember::Organisation { org }];
        let reader = Reader { user: &actor.user, org: actor.org.as_ref() };
        let now = self.now();
        let mut reach = Vec::with_capacity(ids.len());
        for p in self.store.patients(&ids).await? {
            let facts = Facts { patient: &p, course: None, team: &me, now };
            if policy::decide(&reader, &facts, Access::ReadPatient).is_permit() {
                reach.push(p.id);
            }
        }
        reach.sort();
        Ok(reach)
    }

    pub async fn patient(&self, actor: &Actor, id: PatientId) -> AppResult<PatientView> {
        self.patient_with(actor, id, true).await
    }

    /// As [`Sammen::patient`], without the list of their courses (`courses` is left
    /// empty and not read): for a reader that shows only who the patient is, such as a
    /// FHIR Patient resource.
    pub async fn patient_alone(&self, actor: &Actor, id: PatientId) -> AppResult<PatientView> {
        self.patient_with(actor, id, false).await
    }

    async fn patient_with(&self, actor: &Actor, id: PatientId, courses: bool) -> AppResult<PatientView> {
        let object = format!("patient/{id}");
        let (p, granted, teams) =
            self.authorized_patient_and_teams(actor, id, Access::ReadPatient, AuditAction::Read, &object).await?;
        let summaries =
            if courses { self.readable_courses(actor, &p, &granted, Some(&teams)).await?.0 } else { Vec::new() };
        self.audit(actor, AuditAction::Read, granted.purpose, Some(id), object, AuditOutcome::Permitted).await?;
        Ok(patient_view(p, summaries, &granted))
    }

    /// The patient and every course of theirs the actor may read, in one go: each read
    /// is its own audit entry, as with [`Sammen::patient`] and [`Sammen::read_course`],
    /// but the entries land in one commit, so a whole record costs one durable write.
    /// Courses the actor may not read are left out, as `patient` leaves them out.
    pub async fn read_record(&self, actor: &Actor, id: PatientId) -> AppResult<(PatientView, Vec<CourseView>)> {
        let record = self.read_record_with(actor, id, false).await?;
        Ok((record.patient, record.courses))
    }

    /// As [`Sammen::read_record`], and with `threads` also the message threads of each
    /// course, as [`Sammen::threads`] shows them (filtered by the same decision as the
    /// course, and audited as that listing is), without marking any of them read.
    pub async fn read_record_with(&self, actor: &Actor, id: PatientId, threads: bool) -> AppResult<RecordView> {
        let object = format!("patient/{id}");
        let (p, granted) = self.authorized_patient(actor, id, Access::ReadPatient, AuditAction::Read, &object).await?;
        let (summaries, readable) = self.readable_courses(actor, &p, &granted, None).await?;
        let mut drafts =
            vec![self.draft(actor, AuditAction::Read, granted.purpose, Some(id), object, AuditOutcome::Permitted)];
        let dir = if threads { Some(self.directory().await?) } else { None };
        let today = danish_day(self.now());
        let (mut courses, mut views) = (Vec::new(), Vec::new());
        for (c, course_granted) in readable {
            let course = c.course.id;
            let mut objects = vec![format!("course/{course}")];
            if let Some(dir) = &dir {
                for t in self.store.threads(id, course).await? {
                    views.extend(crate::messages::visible_thread(&t, &course_granted, dir, actor, today));
                }
                objects.push(format!("course/{course}/threads"));
            }
            for object in objects {
                let purpose = c.access.purpose;
                drafts.push(self.draft(actor, AuditAction::Read, purpose, Some(id), object, AuditOutcome::Permitted));
            }
            courses.push(c);
        }
        self.audit.record_all(drafts).await?;
        Ok(RecordView { patient: patient_view(p, summaries, &granted), courses, threads: views })
    }

    /// The patient's courses as the actor may list them, and (without `listing`) each as
    /// the actor may read it, with the decision that filtered it. A team member sees only
    /// the courses whose team they are on: the others' very existence may be sensitive (a
    /// psychiatric course).
    ///
    /// A list alone (`listing`: each course's care team, as the patient-level check read
    /// them) needs only each course's team, origin and opener, from the team's rows and
    /// the course list, not from the courses' whole states.
    async fn readable_courses(
        &self,
        actor: &Actor,
        p: &PatientState,
        granted: &Granted,
        listing: Option<&[(CourseId, TeamMember)]>,
    ) -> AppResult<(Vec<CourseSummaryView>, Vec<(CourseView, Granted)>)> {
        let reader = Reader { user: &actor.user, org: actor.org.as_ref() };
        let now = self.now();
        let decide = |course: CourseId, team: &[TeamMember]| {
            let facts = Facts { patient: p, course: Some(course), team, now };
            policy::decide(&reader, &facts, Access::ReadCourse)
        };
        let (mut summaries, mut views) = (Vec::new(), Vec::new());
        for summary in self.store.course_summaries(p.id).await? {
            let mut title_withheld = false;
            if listing.is_none() {
                let Some(c) = self.store.course(p.id, summary.id).await? else { continue };
                let team: Vec<TeamMember> = c.team.iter().map(|m| m.member).collect();
                let decision = decide(c.id, &team);
                let purpose = decision.purpose();
                let policy::Decision::Permit { relation, filter } = decision else { continue };
                title_withheld = !granted.filter.shows(DataCategory::Plan, c.origin, c.opened_org, Some(c.id)).0;
                let course_granted = Granted { relation, filter, purpose };
                views.push((course_view(&c, &course_granted), course_granted));
            } else if let Some(teams) = listing.filter(|_| !granted.filter.is_everything()) {
                let team: Vec<TeamMember> =
                    teams.iter().filter(|(c, _)| *c == summary.id).map(|(_, member)| *member).collect();
                if !decide(summary.id, &team).is_permit() {
                    continue;
                }
                let shown =
                    granted.filter.shows(DataCategory::Plan, summary.origin, summary.opened_org, Some(summary.id));
                title_withheld = !shown.0;
            }
            summaries.push(CourseSummaryView {
                id: summary.id,
                title: if title_withheld { String::new() } else { summary.title },
                status: summary.status,
                version: summary.version,
                title_withheld,
            });
        }
        Ok((summaries, views))
    }

    pub async fn correct_identity(
        &self,
        actor: &Actor,
        id: PatientId,
        expected_version: u64,
        name: &str,
        reason: &str,
    ) -> AppResult<PatientView> {
        let object = format!("patient/{id}");
        let (p, granted) =
            self.authorized_patient(actor, id, Access::WriteIdentity, AuditAction::Update, &object).await?;
        let result = async {
            self.check_version(id, Stream::Patient, expected_version, p.version)?;
            let event = decide::correct_identity(&self.context(actor), &p, name, reason)?;
            self.commit_patient_event(&p, event, Vec::new()).await?;
            Ok(())
        }
        .await;
        self.audited(actor, AuditAction::Update, granted.purpose, id, object, result).await?;
        self.patient(actor, id).await
    }

    /// Opens a course; the actor's organisation joins its care team.
    pub async fn open_course(&self, actor: &Actor, patient: PatientId, cmd: &OpenCourse) -> AppResult<CourseView> {
        let object = format!("patient/{patient}/courses");
        let (_, granted) =
            self.authorized_patient(actor, patient, Access::OpenCourse, AuditAction::Create, &object).await?;
        let org = actor.org.as_ref().ok_or(AppError::Forbidden)?;
        let role = actor.user.profession().map(role_name).unwrap_or("care team");
        let ctx = self.context(actor);
        let (course_id, events) = decide::open_course(&ctx, cmd, org.id, role)?;
        let mut projections = Projections::default();
        for e in &events {
            projections.apply(patient, e);
        }
        let course = projections.courses.remove(&course_id).expect("an opened course");
        let view = course_view(&course, &granted);
        let entry =
            self.write_entry(actor, AuditAction::Create, granted.purpose, patient, format!("course/{course_id}"));
        let result =
            async { self.commit_with(Append::one(patient, self.course_write(0, events, course).await?), &entry).await }
                .await;
        self.finish_write(entry, result).await?;
        Ok(view)
    }

    /// Applies one change to a course, if the course is still at `expected_version`.
    pub async fn change_course(
        &self,
        actor: &Actor,
        patient: PatientId,
        course: CourseId,
        expected_version: u64,
        change: &CourseChange,
    ) -> AppResult<(CourseView, Vec<NewEvent>)> {
        let a = self.apply_change(actor, patient, course, Some(expected_version), change).await?;
        Ok((a.after, a.events))
    }

    /// Adds to a course at whatever version it is at now: for an addition that does not
    /// build on what its writer last read (a measurement, a goal, a diagnosis sent by
    /// another system), so a write that lands first only means trying again. `course`
    /// names the course; without it, the addition goes to the patient's one open course
    /// that the actor may see, and otherwise is refused with how many there are.
    ///
    /// Finding that course is not audited apart: it is asked of the policy, and the write
    /// that follows is audited naming the course. When no write can follow, the look is
    /// audited as refused. Returns, as [`Sammen::change_course`] does, the course after
    /// the change as the actor may see it and the events, each naming the item it made.
    pub async fn add_to_course(
        &self,
        actor: &Actor,
        patient: PatientId,
        course: Option<CourseId>,
        change: &CourseChange,
    ) -> AppResult<(CourseView, Vec<NewEvent>)> {
        let course = self.course_to_add_to(actor, patient, course).await?;
        // A unit takes no turn: the addition holding it may be waiting for the unit's own
        // transaction (on SQLite the one write connection), which would then never end.
        // What races a unit is caught by the version check and tried again, as before.
        let _turn = match self.in_unit() {
            true => None,
            false => Some(self.turns.take(course).await),
        };
        let mut attempt = 0;
        loop {
            let a = match self.apply_change(actor, patient, course, None, change).await {
                Err(AppError::Domain(DomainError::Conflict { .. })) if attempt < ADD_ATTEMPTS => {
                    attempt += 1;
                    continue;
                }
                result => result?,
            };
            return Ok((a.after, a.events));
        }
    }

    /// The course an addition goes to: the one named, if the actor may see it, else the
    /// patient's one open course the actor may see; from the course list and the care
    /// teams (not the courses' whole states). The patient is asked of the policy first, so
    /// a stranger learns nothing of their courses, and a course the actor may not see
    /// looks like one that does not exist.
    async fn course_to_add_to(
        &self,
        actor: &Actor,
        patient: PatientId,
        named: Option<CourseId>,
    ) -> AppResult<CourseId> {
        let object = format!("patient/{patient}/courses");
        let (p, granted, teams) =
            self.authorized_patient_and_teams(actor, patient, Access::ReadPatient, AuditAction::Query, &object).await?;
        let (listed, _) = self.readable_courses(actor, &p, &granted, Some(&teams)).await?;
        let found = match named {
            Some(c) => listed.iter().any(|l| l.id == c).then_some(c).ok_or(AppError::NotFound("course")),
            None => {
                let open: Vec<CourseId> =
                    listed.iter().filter(|c| c.status == CourseStatus::Open).map(|c| c.id).collect();
                match open.as_slice() {
                    [one] => Ok(*one),
                    _ => Err(AppError::CourseNotNamed { open: open.len() }),
                }
            }
        };
        if found.is_err() {
            self.audit(actor, AuditAction::Query, granted.purpose, Some(patient), object, AuditOutcome::Refused)
                .await?;
        }
        found
    }

    /// One change to a course: at `expected_version` if given, else at the version it
    /// is at. The write's audit entry is committed with it.
    async fn apply_change(
        &self,
        actor: &Actor,
        patient: PatientId,
        course: CourseId,
        expected_version: Option<u64>,
        change: &CourseChange,
    ) -> AppResult<Applied> {
        // The patient writes their own story, goals and progress; the rest is the team's.
        let access = if change.is_the_patients_own() { Access::ContributeOwn } else { Access::WriteCourse };
        let (_, current, granted) = self.authorized_course(actor, patient, course, access, AuditAction::Update).await?;
        let entry = self.write_entry(actor, AuditAction::Update, granted.purpose, patient, format!("course/{course}"));
        let result = async {
            let expected_version = expected_version.unwrap_or(current.version);
            self.check_version(patient, Stream::Course(course), expected_version, current.version)?;
            // Checked: the write goes on from where the course is now.
            let expected_version = current.version;
            let mut facts = ChangeFacts::default();
            match change {
                CourseChange::JoinCareTeam { member, .. } => self.check_member(member).await?,
                CourseChange::NameKeyWorker { user } => self.check_key_worker(&current, *user).await?,
                CourseChange::PlanStep { owner, .. } | CourseChange::ProposeHandover { to: owner, .. } => {
                    facts.org_sector = Some(self.check_owner(owner).await?);
                }
                CourseChange::RecordEpisode { org, .. } => {
                    let org = self.store.organisation(*org).await?.ok_or(AppError::NotFound("organisation"))?;
                    facts.org_sector = Some(org.sector);
                }
                CourseChange::ScheduleConference { participants, .. } => {
                    for p in participants {
                        self.check_owner(p).await?;
                    }
                }
                CourseChange::RecordMinutes { decisions, .. } => {
                    for d in decisions {
                        if let MinutesDecision::Step { owner, .. } = d {
                            self.check_owner(owner).await?;
                        }
                    }
                }
                _ => {}
            }
            let mut ctx = self.context(actor);
            // The patient works for no organisation: what they write belongs to the legal
            // domain of the course it is written in, so their words in a jobcentre's course
            // are that course's team's to read, and cross to health care by consent.
            if actor.org.is_none() {
                let opened_in = match current.opened_org {
                    Some(org) => self.directory().await?.sector_of(org),
                    None => None,
                };
                if let Some(sector) = opened_in {
                    ctx.domain = sector.legal_domain();
                }
            }
            let mut events = decide::change_course(&ctx, &current, change, &facts)?;
            let mut next = current.clone();
            for e in &events {
                next.apply(e);
            }
            // The receiver of a handover or referral must be able to read it: refused if
            // the patient has not let them, and put on the care team if not on it yet.
            if let CourseChange::ProposeHandover { to, .. } = change {
                let p = self.store.patient(patient).await?.ok_or(AppError::NotFound("patient"))?;
                let receiver = [(to.clone(), false)];
                let preview = self
                    .recipient_previews(actor, &p, &current, &receiver, "a handover", DataCategory::Plan, &[])
                    .await?;
                if let Some(refused) = preview.iter().find(|r| !r.receives) {
                    let why = refused.reason.clone().unwrap_or_else(|| Reason::new("a recipient may not receive it"));
                    return Err(DomainError::rejected(why).into());
                }
                if preview.iter().any(|r| r.joins_care_team) {
                    let member = match to {
                        Owner::Role { org, .. } => TeamMember::Organisation { org: *org },
                        Owner::Professional { user, org } => TeamMember::Professional { user: *user, org: *org },
                    };
                    let role = match to {
                        Owner::Role { role, .. } => role.clone(),
                        Owner::Professional { .. } => "modtager af henvisning".into(),
                    };
                    let join = CourseChange::JoinCareTeam { member, role };
                    for e in decide::change_course(&ctx, &next, &join, &ChangeFacts::default())? {
                        next.apply(&e);
                        events.push(e);
                    }
                }
            }
            let notices = self.care_notices(&current, &next, &events).await?;
            // The view is made before the state goes to the write, which keeps it.
            let after = course_view(&next, &granted);
            let write = self.course_write(expected_version, events.clone(), next).await?;
            self.commit_with(Append::one(patient, write).with_notices(notices), &entry).await?;
            Ok(Applied { after, events })
        }
        .await;
        self.finish_write(entry, result).await
    }

    /// Who a change to the care plan must tell, written with it: the receiver of a
    /// handover, the participants of a conference (and the patient, if invited), and
    /// when advice contradicts advice in force, both authors and the key worker. A
    /// notice says only that something happened, on which record.
    async fn care_notices(
        &self,
        before: &CourseState,
        after: &CourseState,
        events: &[NewEvent],
    ) -> AppResult<Vec<Notice>> {
        let dir = self.directory().await?;
        let mut notices = Vec::new();
        for event in events {
            let EventBody::Care(record) = &event.body else { continue };
            let (kind, recipients): (&str, Vec<UserId>) = match &record.event {
                CareEvent::AdviceGiven { contradicts, conflict: Some(_), .. } => {
                    let mut who: Vec<UserId> =
                        before.care.advice.iter().filter(|a| contradicts.contains(&a.id)).map(|a| a.meta.by).collect();
                    who.push(event.actor);
                    who.extend(after.key_worker);
                    ("advice_conflict", who)
                }
                CareEvent::HandoverProposed { to, .. } => ("handover", owner_users(&dir, to)),
                CareEvent::ConferenceScheduled { participants, patient_invited, .. } => {
                    let mut who: Vec<UserId> = participants.iter().flat_map(|p| owner_users(&dir, p)).collect();
                    if *patient_invited {
                        who.extend(
                            dir.users
                                .iter()
                                .filter(|u| u.kind == UserKind::Patient { patient: after.patient })
                                .map(|u| u.id),
                        );
                    }
                    ("conference", who)
                }
                _ => continue,
            };
            // The author of contradicting advice is told too; others need no notice of
            // their own act.
            let recipients = if kind == "advice_conflict" {
                recipients
            } else {
                recipients.into_iter().filter(|u| *u != event.actor).collect()
            };
            notices.extend(notices_for(event, after.patient, kind, format!("course/{}", after.id), recipients));
        }
        Ok(notices)
    }

    /// A member must exist: the organisation, and the professional working there.
    async fn check_member(&self, member: &TeamMember) -> AppResult<()> {
        let org = member.org();
        self.store.organisation(org).await?.ok_or(AppError::NotFound("organisation"))?;
        if let TeamMember::Professional { user, .. } = member {
            let u = self.store.user(*user).await?.ok_or(AppError::NotFound("user"))?;
            if u.org() != Some(org) {
                return Err(DomainError::field("member", "the professional does not work at that organisation").into());
            }
        }
        Ok(())
    }

    /// An owner must exist: the organisation, and the professional working there.
    /// Returns the organisation's sector.
    async fn check_owner(&self, owner: &Owner) -> AppResult<Sector> {
        let org = self.store.organisation(owner.org()).await?.ok_or(AppError::NotFound("organisation"))?;
        if let Owner::Professional { user, .. } = owner {
            let u = self.store.user(*user).await?.ok_or(AppError::NotFound("user"))?;
            if u.org() != Some(org.id) || u.disabled {
                return Err(DomainError::field("owner", "the professional does not work at that organisation").into());
            }
        }
        Ok(org.sector)
    }

    /// A key worker is a professional on the course's care team.
    async fn check_key_worker(&self, course: &CourseState, user: sammen_domain::ids::UserId) -> AppResult<()> {
        let u = self.store.user(user).await?.ok_or(AppError::NotFound("user"))?;
        let on_team = course.team.iter().any(|m| match m.member {
            TeamMember::Organisation { org } => u.org() == Some(org),
            TeamMember::Professional { user: p, .. } => p == u.id,
        });
        if !on_team || u.disabled {
            return Err(DomainError::field("user", "the key worker must be a professional on the care team").into());
        }
        Ok(())
    }

    pub async fn read_course(&self, actor: &Actor, patient: PatientId, course: CourseId) -> AppResult<CourseView> {
        let (_, c, granted) =
            self.authorized_course(actor, patient, course, Access::ReadCourse, AuditAction::Read).await?;
        self.audit(
            actor,
            AuditAction::Read,
            granted.purpose,
            Some(patient),
            format!("course/{course}"),
            AuditOutcome::Permitted,
        )
        .await?;
        Ok(course_view(&c, &granted))
    }

    /// The goals in a course view that the patient has said yes to: a proxy reads the
    /// patient's answer, not her own (she cannot give one). Only what the view holds.
    pub async fn goals_the_patient_agreed(&self, view: &CourseView) -> AppResult<Vec<ItemId>> {
        let dir = self.directory().await?;
        let patient = view.course.patient;
        let own = |id: &UserId| {
            dir.user(*id).is_some_and(|u| matches!(u.kind, UserKind::Patient { patient: p } if p == patient))
        };
        let goals = view.course.care.goals.iter();
        Ok(goals.filter(|g| g.agreed_by.iter().any(own)).map(|g| g.id).collect())
    }

    /// The course as it stood after each of its versions, oldest first, each as this
    /// reader may see it now (today's consents decide, as for a read): the history behind
    /// FHIR's `_history` and vread. Folded from the course's own events; one audit entry.
    pub async fn course_versions(
        &self,
        actor: &Actor,
        patient: PatientId,
        course: CourseId,
    ) -> AppResult<Vec<CourseView>> {
        let (_, _, granted) =
            self.authorized_course(actor, patient, course, Access::ReadCourse, AuditAction::Read).await?;
        let events = self.store.events(patient, EventFilter { course: Some(course), item: None, since: None }).await?;
        let mut state: Option<CourseState> = None;
        let mut versions = Vec::new();
        for e in events.iter().filter(|e| e.stream == Stream::Course(course)) {
            match &mut state {
                None => state = CourseState::from_opening(patient, e),
                Some(s) => s.apply(e),
            }
            if let Some(s) = &state {
                versions.push(course_view(s, &granted));
            }
        }
        let object = format!("course/{course}/history");
        self.audit(actor, AuditAction::Read, granted.purpose, Some(patient), object, AuditOutcome::Permitted).await?;
        Ok(versions)
    }

    /// The patient as they stood after each change to their own stream (registration,
    /// identity corrections, and the sharing changes that share the stream), oldest
    /// first, each with when it was made: the history behind FHIR's Patient `_history`.
    /// One audit entry.
    pub async fn patient_versions(&self, actor: &Actor, id: PatientId) -> AppResult<Vec<PatientView>> {
        let object = format!("patient/{id}/history");
        let (_, granted) = self.authorized_patient(actor, id, Access::ReadPatient, AuditAction::Read, &object).await?;
        let events = self.store.events(id, EventFilter { course: None, item: None, since: None }).await?;
        let mut state: Option<PatientState> = None;
        let mut versions = Vec::new();
        for e in events.iter().filter(|e| e.stream == Stream::Patient) {
            match &mut state {
                None => state = PatientState::from_registration(id, e),
                Some(s) => s.apply(e),
            }
            if let Some(s) = &state {
                versions.push(patient_view(s.clone(), Vec::new(), &granted));
            }
        }
        self.audit(actor, AuditAction::Read, granted.purpose, Some(id), object, AuditOutcome::Permitted).await?;
        Ok(versions)
    }

    /// Every event of a course, or of one item on it, oldest first, as this reader may
    /// see them.
    pub async fn course_history(
        &self,
        actor: &Actor,
        patient: PatientId,
        course: CourseId,
        item: Option<ItemId>,
    ) -> AppResult<HistoryView> {
        let (_, c, granted) =
            self.authorized_course(actor, patient, course, Access::ReadCourse, AuditAction::Read).await?;
        let events = self.store.events(patient, EventFilter { course: Some(course), item, since: None }).await?;
        let (events, withheld) = policy::filter_events(events, &c, &granted.filter);
        let object = match item {
            Some(i) => format!("course/{course}/item/{i}/history"),
            None => format!("course/{course}/history"),
        };
        self.audit(actor, AuditAction::Read, granted.purpose, Some(patient), object, AuditOutcome::Permitted).await?;
        Ok(HistoryView { events, withheld })
    }
}

/// The people an owner stands for: the professional, or everyone working at the role's
/// organisation.
pub(crate) fn owner_users(dir: &Directory, owner: &Owner) -> Vec<UserId> {
    match owner {
        Owner::Professional { user, .. } => vec![*user],
        Owner::Role { org, .. } => dir.staff(*org).map(|u| u.id).collect(),
    }
}

/// One notice per recipient, with ids derived from the event's, so a retried append
/// cannot duplicate a notice.
pub(crate) fn notices_for(
    event: &NewEvent,
    patient: PatientId,
    kind: &str,
    object: String,
    mut recipients: Vec<UserId>,
) -> Vec<Notice> {
    recipients.sort();
    recipients.dedup();
    recipients
        .into_iter()
        .enumerate()
        .map(|(i, recipient)| {
            let mut id = *event.id.as_uuid().as_bytes();
            id[14] ^= (i >> 8) as u8;
            id[15] ^= i as u8 + 1;
            Notice {
                id: uuid::Uuid::from_bytes(id),
                recipient,
                patient,
                at: event.recorded_at,
                kind: kind.into(),
                object: object.clone(),
            }
        })
        .collect()
}
