//! Messages about a patient's course: start a thread, reply, forward, open one (which
//! tells the sender it was read), fetch an attachment, and see beforehand what each
//! recipient will receive.
//!
//! A thread is readable by the course's care team, filtered message by message by the
//! policy. Before anything is sent, each recipient is checked as the policy would see
//! them on the team: a recipient the patient objects to, or outside the health domain
//! without the patient's consent to the message's category, is refused with a reason
//! and nothing is stored. A recipient who may receive it but is not on the care team
//! yet (a specialist asked a question) joins it in the same write.

use serde::Serialize;
use sha2::{Digest, Sha256};
use time::{Date, OffsetDateTime};

use sammen_domain::audit::{AuditAction, AuditOutcome};
use sammen_domain::care::Owner;
use sammen_domain::clock::danish_day;
use sammen_domain::decide::{self, ChangeFacts, CourseChange};
use sammen_domain::event::{NewEvent, Stream, TeamMember};
use sammen_domain::ids::{CourseId, ItemId, PatientId, ThreadId, UserId};
use sammen_domain::messaging::{
    self, AttachmentMeta, Message, MessageFacts, NewThread, Reply, ThreadCategory, ThreadKind, ThreadState, Tracking,
};
use sammen_domain::policy::{self, Access, Facts, Filter, Withheld};
use sammen_domain::projection::{CourseState, PatientState};
use sammen_domain::vocab::DataCategory;
use sammen_domain::worklist;
use sammen_domain::{DomainError, Reason};
use sammen_store::{Append, Attachment, Snapshot, StoreError, StreamWrite};

use crate::access::Granted;
use crate::directory::Directory;
use crate::records::{notices_for, owner_users, AccessNote};
use crate::{Actor, AppError, AppResult, Sammen};

/// Attempts at a write that raced with another (a reply while a recipient opened the
/// thread): each attempt decides again on what is stored now.
const ATTEMPTS: usize = 3;

/// A file as the sender uploads it.
#[derive(Debug, Clone)]
pub struct Upload {
    pub filename: String,
    pub content_type: String,
    pub bytes: Vec<u8>,
}

/// A recipient as the sender sees them: who, and whether it was delivered, read and
/// answered.
#[derive(Debug, Clone, Serialize)]
pub struct RecipientView {
    pub to: Owner,
    pub name: String,
    pub copy: bool,
    pub tracking: Tracking,
    #[serde(with = "time::serde::rfc3339")]
    pub delivered_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub read_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub answered_at: Option<OffsetDateTime>,
    /// Asked to answer by a date that has passed.
    pub overdue: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct ThreadView {
    pub id: ThreadId,
    /// Whose thread it is, on a thread read by itself (the page names the patient).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub patient_name: String,
    pub course: CourseId,
    pub kind: ThreadKind,
    pub category: ThreadCategory,
    pub topic: Option<String>,
    /// Empty when the first message is withheld from this reader.
    pub subject: String,
    pub forwarded_from: Option<ThreadId>,
    pub started_by: UserId,
    pub started_by_name: String,
    #[serde(with = "time::serde::rfc3339")]
    pub started_at: OffsetDateTime,
    pub answer_by: Option<Date>,
    pub recipients: Vec<RecipientView>,
    pub messages: Vec<Message>,
    pub version: u64,
    /// The reader is a recipient who still owes an answer.
    pub waiting_for_me: bool,
    pub withheld: Vec<Withheld>,
    pub access: AccessNote,
}

/// A thread in a course's list of threads.
#[derive(Debug, Clone, Serialize)]
pub struct ThreadSummary {
    pub id: ThreadId,
    pub kind: ThreadKind,
    pub category: ThreadCategory,
    pub subject: String,
    pub started_by_name: String,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    pub answer_by: Option<Date>,
    pub messages: usize,
    pub recipients: Vec<RecipientView>,
    pub waiting_for_me: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct ThreadList {
    pub threads: Vec<ThreadSummary>,
    /// Threads left out entirely because their messages are withheld from the reader.
    pub withheld_threads: usize,
    pub access: AccessNote,
}

/// What one recipient will get of a message, told to the sender before sending.
#[derive(Debug, Clone, Serialize)]
pub struct RecipientPreview {
    pub to: Owner,
    pub name: String,
    pub copy: bool,
    /// Whether they may receive the message at all.
    pub receives: bool,
    /// Why not, in words the sender can act on.
    pub reason: Option<Reason>,
    /// Referenced items they will not see.
    pub withheld: Vec<Withheld>,
    /// Not on the care team yet: sending adds them.
    pub joins_care_team: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct Preview {
    pub recipients: Vec<RecipientPreview>,
    /// True when every recipient may receive the message.
    pub can_send: bool,
}

/// What a thread looks like to one reader; `None` when every message is withheld.
fn thread_view(
    t: &ThreadState,
    filter: &Filter,
    dir: &Directory,
    reader: &Actor,
    granted: &Granted,
    today: Date,
) -> Option<ThreadView> {
    let mut withheld: Vec<Withheld> = Vec::new();
    let mut messages = Vec::new();
    for m in &t.messages {
        if filter.shows(m.category, m.body.origin, m.org, Some(t.course)).0 {
            messages.push(m.clone());
        } else {
            match withheld.iter_mut().find(|w| w.category == m.category) {
                Some(w) => w.items += 1,
                None => withheld.push(Withheld { category: m.category, items: 1 }),
            }
        }
    }
    let first_shown = messages.first().map(|m| m.id) == t.messages.first().map(|m| m.id);
    if messages.is_empty() {
        return None;
    }
    Some(ThreadView {
        patient_name: String::new(),
        id: t.id,
        course: t.course,
        kind: t.kind,
        category: t.category,
        topic: t.topic.clone(),
        subject: if first_shown { t.subject.clone() } else { String::new() },
        forwarded_from: t.forwarded_from,
        started_by: t.started_by,
        started_by_name: dir.user(t.started_by).map(|u| u.name.clone()).unwrap_or_default(),
        started_at: t.started_at,
        answer_by: t.answer_by,
        recipients: recipient_views(t, dir, today),
        messages,
        version: t.version,
        waiting_for_me: waiting_for(t, reader),
        withheld,
        access: granted.into(),
    })
}

/// A thread as a reader of its course sees it, if they may open it at all.
pub(crate) fn visible_thread(
    t: &ThreadState,
    granted: &Granted,
    dir: &Directory,
    reader: &Actor,
    today: Date,
) -> Option<ThreadView> {
    opens_for(t, &granted.filter).then(|| thread_view(t, &granted.filter, dir, reader, granted, today)).flatten()
}

/// Whether a thread exists for a reader at all: its first message (which carries the
/// subject) must be one they may see. Listing and opening use this one rule, so a
/// listed thread always opens.
fn opens_for(t: &ThreadState, filter: &Filter) -> bool {
    t.messages.first().is_some_and(|m| filter.shows(m.category, m.body.origin, m.org, Some(t.course)).0)
}

fn waiting_for(t: &ThreadState, reader: &Actor) -> bool {
    let asks = t.answer_by.is_some() || t.kind == ThreadKind::SpecialistQuestion;
    asks && t.recipients.iter().any(|r| r.to.includes(reader.user.id, reader.user.org()) && r.owes_answer(&t.messages))
}

fn recipient_views(t: &ThreadState, dir: &Directory, today: Date) -> Vec<RecipientView> {
    let overdue = t.overdue(today);
    t.recipients
        .iter()
        .map(|r| RecipientView {
            to: r.to.clone(),
            name: owner_name(dir, &r.to),
            copy: r.copy,
            tracking: r.tracking(&t.messages),
            delivered_at: r.delivered_at,
            read_at: r.read_at,
            answered_at: r.answered_at,
            overdue: overdue.iter().any(|o| o.to == r.to),
        })
        .collect()
}

/// "Name, Organisation" for a professional; "role, Organisation" for a role.
pub(crate) fn owner_name(dir: &Directory, owner: &Owner) -> String {
    let org = dir.org(owner.org()).map(|o| o.name.as_str()).unwrap_or("");
    match owner {
        Owner::Professional { user, .. } => {
            format!("{}, {org}", dir.user(*user).map(|u| u.name.as_str()).unwrap_or(""))
        }
        Owner::Role { role, .. } => format!("{role}, {org}"),
    }
}

fn count(withheld: &mut Vec<Withheld>, category: DataCategory) {
    match withheld.iter_mut().find(|w| w.category == category) {
        Some(w) => w.items += 1,
        None => withheld.push(Withheld { category, items: 1 }),
    }
}

fn attachments_of(uploads: &[Upload], ids: &dyn sammen_domain::clock::IdSource) -> AppResult<MessageFacts> {
    let mut attachments = Vec::new();
    for u in uploads {
        let content_type = messaging::check_attachment(&u.filename, &u.content_type, &u.bytes)?;
        let meta = AttachmentMeta {
            id: ItemId::from_random_bytes(ids.random_bytes()),
            filename: u.filename.trim().to_string(),
            content_type,
            size: u.bytes.len() as u64,
            sha256: hex::encode(Sha256::digest(&u.bytes)),
        };
        attachments.push((meta, u.bytes.clone()));
    }
    Ok(MessageFacts { attachments })
}

fn blobs(thread: ThreadId, facts: &MessageFacts) -> Vec<Attachment> {
    facts
        .attachments
        .iter()
        .map(|(m, bytes)| Attachment { id: m.id, thread, content_type: m.content_type.clone(), bytes: bytes.clone() })
        .collect()
}

fn thread_write(expected_version: u64, events: Vec<NewEvent>, next: &ThreadState) -> StreamWrite {
    StreamWrite {
        stream: Stream::Thread(next.id),
        expected_version,
        events,
        snapshot: Snapshot::Thread(Box::new(next.clone())),
        work: worklist::of_thread(next),
        followers: Vec::new(),
    }
}

fn is_conflict(e: &AppError) -> bool {
    matches!(e, AppError::Domain(DomainError::Conflict { .. }))
}

impl Sammen {
    /// Loads a thread and checks that the actor may reach its course and see it. A
    /// thread they may not see and one that does not exist look the same.
    async fn thread_for(
        &self,
        actor: &Actor,
        patient: PatientId,
        thread: ThreadId,
        access: Access,
        action: AuditAction,
    ) -> AppResult<(PatientState, CourseState, ThreadState, Granted)> {
        let p = self.load_patient(actor, patient, action).await?;
        let Some(t) = self.store.thread(patient, thread).await? else {
            let object = format!("thread/{thread}");
            self.audit(actor, action, actor.purpose, Some(patient), object, AuditOutcome::Refused).await?;
            return Err(AppError::NotFound("thread"));
        };
        let (_, c, granted) = self.authorized_course(actor, patient, t.course, access, action).await?;
        if !opens_for(&t, &granted.filter) {
            let object = format!("course/{}/thread/{thread}", c.id);
            self.audit(actor, action, granted.purpose, Some(patient), object, AuditOutcome::Denied).await?;
            return Err(AppError::NotFound("thread"));
        }
        Ok((p, c, t, granted))
    }

    /// Refuses references to items the sender may not see (or that do not exist).
    fn check_references(course: &CourseState, filter: &Filter, references: &[ItemId]) -> AppResult<()> {
        for r in references {
            let visible = course
                .item_source(*r)
                .is_some_and(|(category, origin, org)| filter.shows(category, origin, org, Some(course.id)).0);
            if !visible {
                return Err(DomainError::NotFound { what: "referenced item on the course" }.into());
            }
        }
        Ok(())
    }

    /// What each recipient would receive of `what` ("a message", "a handover") about
    /// `category` with `references`, as the policy would see them on the care team.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn recipient_previews(
        &self,
        actor: &Actor,
        patient: &PatientState,
        course: &CourseState,
        recipients: &[(Owner, bool)],
        what: &'static str,
        category: DataCategory,
        references: &[ItemId],
    ) -> AppResult<Vec<RecipientPreview>> {
        let dir = self.directory().await?;
        let team: Vec<TeamMember> = course.team.iter().map(|m| m.member).collect();
        let facts = Facts { patient, course: Some(course.id), team: &team, now: self.now() };
        let mut out = Vec::new();
        for (owner, copy) in recipients {
            let org = dir.org(owner.org()).ok_or(AppError::NotFound("organisation"))?;
            let user = match owner {
                Owner::Professional { user, .. } => {
                    let u = dir.user(*user).filter(|u| u.org() == Some(org.id) && !u.disabled);
                    let u = u.ok_or_else(|| {
                        DomainError::field("to", "the professional does not work at that organisation")
                    })?;
                    Some(u.id)
                }
                Owner::Role { .. } => None,
            };
            let filter = policy::recipient_filter(org, user, &facts);
            let (receives, reason) = match &filter {
                None => (
                    false,
                    Some(
                        Reason::new(
                            "{who} may not receive {what} about this patient: the patient has objected to them",
                        )
                        .with("who", &org.name)
                        .with_term("what", what),
                    ),
                ),
                Some(f) if !f.shows(category, actor.domain(), actor.user.org(), Some(course.id)).0 => (
                    false,
                    Some(
                        Reason::new(
                            "{who} may not receive {what} about {category}: the patient has not consented to that",
                        )
                        .with("who", &org.name)
                        .with_term("what", what)
                        .with_term("category", category.as_words()),
                    ),
                ),
                Some(_) => (true, None),
            };
            let mut withheld = Vec::new();
            if let Some(f) = &filter {
                for r in references {
                    if let Some((c, origin, author)) = course.item_source(*r) {
                        if !f.shows(c, origin, author, Some(course.id)).0 {
                            count(&mut withheld, c);
                        }
                    }
                }
            }
            let on_team = course.team.iter().any(|m| m.member.org() == org.id);
            out.push(RecipientPreview {
                to: owner.clone(),
                name: owner_name(&dir, owner),
                copy: *copy,
                receives,
                reason,
                withheld,
                joins_care_team: receives && !on_team,
            });
        }
        Ok(out)
    }

    /// Before sending: what each recipient of a new thread will receive.
    pub async fn preview_thread(
        &self,
        actor: &Actor,
        patient: PatientId,
        course: CourseId,
        cmd: &NewThread,
    ) -> AppResult<Preview> {
        let (p, c, granted) =
            self.authorized_course(actor, patient, course, Access::WriteCourse, AuditAction::Query).await?;
        let result = async {
            // What sending would refuse, the preview refuses too, rather than say "can send".
            messaging::check_answer_by(&self.context(actor), cmd.answer_by)?;
            Self::check_references(&c, &granted.filter, &cmd.references)?;
            let recipients = messaging::expand(&c, &cmd.to, &cmd.copy, actor.user.id, actor.user.org())?;
            self.recipient_previews(actor, &p, &c, &recipients, "a message", cmd.data_category, &cmd.references).await
        }
        .await;
        let object = format!("course/{course}/threads/preview");
        let recipients = self.audited(actor, AuditAction::Query, granted.purpose, patient, object, result).await?;
        let can_send = recipients.iter().all(|r| r.receives);
        Ok(Preview { recipients, can_send })
    }

    /// Starts a thread about a course. A second submission with the same client message
    /// id returns the first thread and stores nothing.
    pub async fn start_thread(
        &self,
        actor: &Actor,
        patient: PatientId,
        course: CourseId,
        cmd: &NewThread,
        uploads: &[Upload],
    ) -> AppResult<(ThreadView, bool)> {
        if let Some(client_id) = cmd.client_id.as_deref().map(str::trim).filter(|c| !c.is_empty()) {
            if let Some(existing) = self.store.thread_by_client_id(patient, actor.user.id, client_id).await? {
                let view = self.read_thread(actor, patient, existing).await?;
                if let Some(first) = view.messages.first() {
                    messaging::same_text(&first.body.text, &cmd.text)?;
                }
                return Ok((view, false));
            }
        }
        let (p, c, granted) =
            self.authorized_course(actor, patient, course, Access::WriteCourse, AuditAction::Create).await?;
        let result = self.send_new_thread(actor, &p, &c, &granted, cmd, uploads, None).await;
        let object = format!("course/{course}/thread");
        let thread = self.audited(actor, AuditAction::Create, granted.purpose, patient, object, result).await?;
        let dir = self.directory().await?;
        let view = thread_view(&thread, &granted.filter, &dir, actor, &granted, danish_day(self.now()))
            .ok_or(AppError::NotFound("thread"))?;
        Ok((view, true))
    }

    /// Forwards a thread: a new thread, to new recipients, that links to the old one.
    pub async fn forward_thread(
        &self,
        actor: &Actor,
        patient: PatientId,
        thread: ThreadId,
        cmd: &NewThread,
    ) -> AppResult<ThreadView> {
        let (p, c, old, granted) =
            self.thread_for(actor, patient, thread, Access::WriteCourse, AuditAction::Create).await?;
        let mut cmd = cmd.clone();
        if cmd.subject.trim().is_empty() {
            cmd.subject = messaging::forward_subject(&old.subject);
        }
        let result = self.send_new_thread(actor, &p, &c, &granted, &cmd, &[], Some(old.id)).await;
        let object = format!("course/{}/thread", c.id);
        let new = self.audited(actor, AuditAction::Create, granted.purpose, patient, object, result).await?;
        let dir = self.directory().await?;
        thread_view(&new, &granted.filter, &dir, actor, &granted, danish_day(self.now()))
            .ok_or(AppError::NotFound("thread"))
    }

    #[allow(clippy::too_many_arguments)]
    async fn send_new_thread(
        &self,
        actor: &Actor,
        p: &PatientState,
        c: &CourseState,
        granted: &Granted,
        cmd: &NewThread,
        uploads: &[Upload],
        forwarded_from: Option<ThreadId>,
    ) -> AppResult<ThreadState> {
        Self::check_references(c, &granted.filter, &cmd.references)?;
        let recipients = messaging::expand(c, &cmd.to, &cmd.copy, actor.user.id, actor.user.org())?;
        let previews =
            self.recipient_previews(actor, p, c, &recipients, "a message", cmd.data_category, &cmd.references).await?;
        if let Some(refused) = previews.iter().find(|r| !r.receives) {
            let why = refused.reason.clone().unwrap_or_else(|| Reason::new("a recipient may not receive it"));
            return Err(DomainError::rejected(Reason::new("{why}. Nothing was sent").with_reason("why", why)).into());
        }
        let facts = attachments_of(uploads, &*self.ids)?;
        let ctx = self.context(actor);
        let (_, event) = messaging::start_thread(&ctx, c, cmd, recipients, forwarded_from, &facts)?;
        let thread = ThreadState::from_start(p.id, &event).expect("a thread start");
        let mut writes = vec![thread_write(0, vec![event.clone()], &thread)];
        // Recipients not yet on the care team join it in the same write.
        let mut course = c.clone();
        let mut joins = Vec::new();
        for r in previews.iter().filter(|r| r.joins_care_team) {
            let (member, role) = match &r.to {
                Owner::Role { org, role } => (TeamMember::Organisation { org: *org }, role.clone()),
                Owner::Professional { user, org } => {
                    (TeamMember::Professional { user: *user, org: *org }, "kontakt".into())
                }
            };
            if course.is_on_team(&member) {
                continue;
            }
            let role =
                if cmd.kind == ThreadKind::SpecialistQuestion { format!("{role} (spurgt til råds)") } else { role };
            let change = CourseChange::JoinCareTeam { member, role };
            for e in decide::change_course(&ctx, &course, &change, &ChangeFacts::default())? {
                course.apply(&e);
                joins.push(e);
            }
        }
        if !joins.is_empty() {
            writes.push(self.course_write(c.version, joins, course).await?);
        }
        let dir = self.directory().await?;
        let users: Vec<UserId> =
            thread.recipients.iter().flat_map(|r| owner_users(&dir, &r.to)).filter(|u| *u != actor.user.id).collect();
        let object = format!("course/{}/thread/{}", c.id, thread.id);
        let notices = notices_for(&event, p.id, "message", object, users);
        let append =
            Append { patient: p.id, writes, notices, attachments: blobs(thread.id, &facts), audit: Vec::new() };
        match self.commit(append).await {
            // The same client message id raced in from a second submission.
            Err(AppError::Duplicate(_)) => Err(AppError::Duplicate("A message with this client message id".into())),
            other => other.map(|_| thread),
        }
    }

    /// Replies in a thread, or corrects one's own earlier message. A reply a participant
    /// of the thread may not receive is refused, with the reason. A specialist's answer
    /// to a question is also filed on the course.
    pub async fn reply(
        &self,
        actor: &Actor,
        patient: PatientId,
        thread: ThreadId,
        cmd: &Reply,
        uploads: &[Upload],
    ) -> AppResult<(ThreadView, bool)> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let (p, c, t, granted) =
                self.thread_for(actor, patient, thread, Access::WriteCourse, AuditAction::Update).await?;
            if let Some(_existing) = messaging::duplicate(&t, actor.user.id, cmd.client_id.as_deref(), &cmd.text)? {
                let dir = self.directory().await?;
                let view = thread_view(&t, &granted.filter, &dir, actor, &granted, danish_day(self.now()));
                return Ok((view.ok_or(AppError::NotFound("thread"))?, false));
            }
            let result = self.send_reply(actor, &p, &c, &t, &granted, cmd, uploads).await;
            if attempt < ATTEMPTS && result.as_ref().is_err_and(is_conflict) {
                continue;
            }
            let object = format!("course/{}/thread/{thread}", c.id);
            let next = self.audited(actor, AuditAction::Update, granted.purpose, patient, object, result).await?;
            let dir = self.directory().await?;
            let view = thread_view(&next, &granted.filter, &dir, actor, &granted, danish_day(self.now()));
            return Ok((view.ok_or(AppError::NotFound("thread"))?, true));
        }
    }

    #[allow(clippy::too_many_arguments)]
    async fn send_reply(
        &self,
        actor: &Actor,
        p: &PatientState,
        c: &CourseState,
        t: &ThreadState,
        granted: &Granted,
        cmd: &Reply,
        uploads: &[Upload],
    ) -> AppResult<ThreadState> {
        Self::check_references(c, &granted.filter, &cmd.references)?;
        // Everyone in the thread but the author must be able to receive the reply.
        let starter = t.started_org.map(|org| Owner::Professional { user: t.started_by, org });
        let participants: Vec<(Owner, bool)> = t
            .recipients
            .iter()
            .map(|r| (r.to.clone(), r.copy))
            .chain(starter.map(|s| (s, false)))
            .filter(|(o, _)| !matches!(o, Owner::Professional { user, .. } if *user == actor.user.id))
            .collect();
        let previews = self
            .recipient_previews(actor, p, c, &participants, "a message", cmd.data_category, &cmd.references)
            .await?;
        if let Some(refused) = previews.iter().find(|r| !r.receives) {
            let why = refused.reason.clone().unwrap_or_else(|| Reason::new("a recipient may not receive it"));
            return Err(DomainError::rejected(Reason::new("{why}. Nothing was sent").with_reason("why", why)).into());
        }
        let facts = attachments_of(uploads, &*self.ids)?;
        let ctx = self.context(actor);
        let event = messaging::reply(&ctx, c, t, cmd, &facts)?;
        let mut next = t.clone();
        next.apply(&event);
        let mut writes = vec![thread_write(t.version, vec![event.clone()], &next)];
        if let Some(filed) = messaging::filed_answer(&ctx, c, t, &event) {
            let mut course = c.clone();
            course.apply(&filed);
            writes.push(self.course_write(c.version, vec![filed], course).await?);
        }
        let dir = self.directory().await?;
        let users: Vec<UserId> =
            participants.iter().flat_map(|(o, _)| owner_users(&dir, o)).filter(|u| *u != actor.user.id).collect();
        let object = format!("course/{}/thread/{}", c.id, t.id);
        let notices = notices_for(&event, p.id, "message", object, users);
        self.commit(Append { patient: p.id, writes, notices, attachments: blobs(t.id, &facts), audit: Vec::new() })
            .await?;
        Ok(next)
    }

    /// Opens a thread. When the reader is a recipient with something new to read, the
    /// sender is told it was read.
    pub async fn read_thread(&self, actor: &Actor, patient: PatientId, thread: ThreadId) -> AppResult<ThreadView> {
        let mut attempt = 0;
        let (p, c, t, granted) = loop {
            attempt += 1;
            let (p, c, t, granted) =
                self.thread_for(actor, patient, thread, Access::ReadCourse, AuditAction::Read).await?;
            let Some(read) = messaging::mark_read(&self.context(actor), &t) else { break (p, c, t, granted) };
            let mut next = t.clone();
            next.apply(&read);
            match self.commit(Append::one(patient, thread_write(t.version, vec![read], &next))).await {
                Ok(()) => break (p, c, next, granted),
                Err(e) if is_conflict(&e) && attempt < ATTEMPTS => continue,
                Err(e) => return Err(e),
            }
        };
        let object = format!("course/{}/thread/{thread}", c.id);
        self.audit(actor, AuditAction::Read, granted.purpose, Some(patient), object, AuditOutcome::Permitted).await?;
        let dir = self.directory().await?;
        let view = thread_view(&t, &granted.filter, &dir, actor, &granted, danish_day(self.now()));
        view.map(|v| ThreadView { patient_name: p.name, ..v }).ok_or(AppError::NotFound("thread"))
    }

    /// The threads of a course the reader may see, newest first.
    pub async fn threads(&self, actor: &Actor, patient: PatientId, course: CourseId) -> AppResult<ThreadList> {
        let (_, _, granted) =
            self.authorized_course(actor, patient, course, Access::ReadCourse, AuditAction::Read).await?;
        let dir = self.directory().await?;
        let today = danish_day(self.now());
        let mut threads = Vec::new();
        let mut withheld_threads = 0;
        for t in self.store.threads(patient, course).await? {
            // A thread is listed only if the reader could open it.
            match visible_thread(&t, &granted, &dir, actor, today) {
                Some(v) => threads.push(ThreadSummary {
                    id: v.id,
                    kind: v.kind,
                    category: v.category,
                    subject: v.subject,
                    started_by_name: v.started_by_name,
                    updated_at: t.updated_at,
                    answer_by: v.answer_by,
                    messages: v.messages.len(),
                    recipients: v.recipients,
                    waiting_for_me: v.waiting_for_me,
                }),
                None => withheld_threads += 1,
            }
        }
        let object = format!("course/{course}/threads");
        self.audit(actor, AuditAction::Read, granted.purpose, Some(patient), object, AuditOutcome::Permitted).await?;
        Ok(ThreadList { threads, withheld_threads, access: (&granted).into() })
    }

    /// A file sent with a message the reader may see: its name, type and bytes.
    pub async fn attachment(
        &self,
        actor: &Actor,
        patient: PatientId,
        thread: ThreadId,
        attachment: ItemId,
    ) -> AppResult<(String, String, Vec<u8>)> {
        let (_, c, t, granted) = self.thread_for(actor, patient, thread, Access::ReadCourse, AuditAction::Read).await?;
        let object = format!("course/{}/thread/{thread}/attachment", c.id);
        let found = t.messages.iter().find_map(|m| {
            let shown = granted.filter.shows(m.category, m.body.origin, m.org, Some(c.id)).0;
            m.body.attachments.iter().find(|a| a.id == attachment && shown).cloned()
        });
        let Some(meta) = found else {
            self.audit(actor, AuditAction::Read, granted.purpose, Some(patient), object, AuditOutcome::Refused).await?;
            return Err(AppError::NotFound("attachment"));
        };
        let (content_type, bytes) = self
            .store
            .attachment(patient, attachment)
            .await?
            .ok_or(StoreError::Corrupt("attachment bytes missing".into()))?;
        self.audit(actor, AuditAction::Read, granted.purpose, Some(patient), object, AuditOutcome::Permitted).await?;
        Ok((meta.filename, content_type, bytes))
    }
}
