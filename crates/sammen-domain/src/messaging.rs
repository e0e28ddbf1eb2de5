//! Messages about a patient's course, so professionals reach the one responsible
//! instead of playing phone tag.
//!
//! A thread belongs to one course and has a category (as MedCom's care communication
//! does), a subject, and recipients: professionals, roles at organisations ("the
//! psychiatrist responsible at the outpatient clinic"), or the whole care team, plus
//! copies. Replies stay in the thread; forwarding starts a new thread that links back.
//! Nothing is edited or deleted: a correction is a new message that names the one it
//! corrects. Each recipient's delivered / read / answered state is tracked, and a thread
//! may ask for an answer by a date.
//!
//! Each thread is its own stream on the patient's log, so a message, or a recipient
//! opening one, never makes a care plan change conflict. Every message carries a data
//! category and the legal domain it was written in, and the policy filters messages on
//! every read exactly as it filters care items.

use serde::{Deserialize, Serialize};
use time::{Date, OffsetDateTime};

use crate::care::Owner;
use crate::clock::danish_day;
use crate::decide::{Context, MAX_TEXT, MAX_TITLE};
use crate::directory::required_text;
use crate::error::DomainError;
use crate::event::{EventBody, NewEvent, Stream, TeamMember};
use crate::ids::{CourseId, ItemId, OrgId, PatientId, ThreadId, UserId};
use crate::projection::CourseState;
use crate::vocab::{DataCategory, LegalDomain};

/// The largest attachment accepted.
pub const MAX_ATTACHMENT_BYTES: usize = 5 * 1024 * 1024;
/// The most attachments on one message.
pub const MAX_ATTACHMENTS: usize = 5;
/// The most recipients (including copies) on one thread.
pub const MAX_RECIPIENTS: usize = 20;
/// The longest client message id (the sender's idempotency key).
pub const MAX_CLIENT_ID: usize = 100;

/// What a thread is about, as MedCom's care communication categorises it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ThreadCategory {
    CareCoordination,
    RegardingReferral,
    Discharge,
    Medication,
    PsychiatrySocial,
    /// Needs a topic.
    Other,
}

/// A plain message, or a question to a specialist whose answer is filed on the course.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ThreadKind {
    #[default]
    Message,
    SpecialistQuestion,
}

/// Whom a message is addressed to, as the sender writes it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Addressee {
    Professional {
        user: UserId,
        org: OrgId,
    },
    Role {
        org: OrgId,
        role: String,
    },
    /// Everyone on the course's care team (except the sender's own organisation).
    CareTeam,
}

/// One recipient of a thread, after the care team is expanded, with what they did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Recipient {
    pub to: Owner,
    /// A copy: kept informed, not asked to answer.
    pub copy: bool,
    #[serde(with = "time::serde::rfc3339")]
    pub delivered_at: OffsetDateTime,
    /// When they last opened the thread.
    #[serde(with = "time::serde::rfc3339::option", default)]
    pub read_at: Option<OffsetDateTime>,
    /// When they last wrote in the thread.
    #[serde(with = "time::serde::rfc3339::option", default)]
    pub answered_at: Option<OffsetDateTime>,
}

/// Where a recipient stands with the thread, as the sender sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Tracking {
    Delivered,
    Read,
    Answered,
}

/// A file sent with a message. The bytes are stored beside the log, keyed by `id`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttachmentMeta {
    pub id: ItemId,
    pub filename: String,
    pub content_type: String,
    pub size: u64,
    /// SHA-256 of the bytes, hex.
    pub sha256: String,
}

/// What a message says and carries, as stored in its event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageBody {
    pub text: String,
    /// The legal domain it was written in.
    #[serde(default)]
    pub origin: LegalDomain,
    /// Items of the course attached by reference (entries, steps, goals, ...).
    #[serde(default)]
    pub references: Vec<ItemId>,
    #[serde(default)]
    pub attachments: Vec<AttachmentMeta>,
    /// The earlier message of the same author that this one corrects.
    #[serde(default)]
    pub corrects: Option<ItemId>,
    /// The sender's idempotency key: a second submission with it stores nothing.
    #[serde(default)]
    pub client_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    pub id: ItemId,
    pub author: UserId,
    pub org: Option<OrgId>,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    pub category: DataCategory,
    #[serde(flatten)]
    pub body: MessageBody,
    /// Set when a later message of the author corrects this one.
    #[serde(default)]
    pub corrected_by: Option<ItemId>,
}

/// A thread as it stands now.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ThreadState {
    pub id: ThreadId,
    pub patient: PatientId,
    pub course: CourseId,
    pub kind: ThreadKind,
    pub category: ThreadCategory,
    pub topic: Option<String>,
    pub subject: String,
    pub forwarded_from: Option<ThreadId>,
    pub started_by: UserId,
    pub started_org: Option<OrgId>,
    #[serde(with = "time::serde::rfc3339")]
    pub started_at: OffsetDateTime,
    /// The answer asked for by this day.
    pub answer_by: Option<Date>,
    pub recipients: Vec<Recipient>,
    pub messages: Vec<Message>,
    pub version: u64,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

/// A fact about a thread, as stored in the log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ThreadEvent {
    /// The thread's first message; the event's item is the message's id.
    ThreadStarted {
        course: CourseId,
        thread_kind: ThreadKind,
        category: ThreadCategory,
        topic: Option<String>,
        subject: String,
        forwarded_from: Option<ThreadId>,
        answer_by: Option<Date>,
        recipients: Vec<(Owner, bool)>,
        message: MessageBody,
    },
    /// A reply or a correction; the event's item is the message's id.
    MessagePosted {
        message: MessageBody,
        /// A new date the answer is asked by, if the reply asks again.
        answer_by: Option<Date>,
    },
    /// A recipient opened the thread.
    ThreadRead,
}

impl ThreadEvent {
    pub fn kind(&self) -> &'static str {
        match self {
            ThreadEvent::ThreadStarted { .. } => "thread_started",
            ThreadEvent::MessagePosted { .. } => "message_posted",
            ThreadEvent::ThreadRead => "thread_read",
        }
    }
}

impl Recipient {
    /// The last time someone other than this recipient wrote in the thread.
    fn last_from_others(&self, messages: &[Message]) -> Option<OffsetDateTime> {
        messages.iter().filter(|m| !self.to.includes(m.author, m.org)).map(|m| m.at).max()
    }

    pub fn tracking(&self, messages: &[Message]) -> Tracking {
        let last = self.last_from_others(messages);
        let after = |t: Option<OffsetDateTime>| t.is_some_and(|t| last.is_none_or(|l| t >= l));
        if after(self.answered_at) {
            Tracking::Answered
        } else if after(self.read_at) {
            Tracking::Read
        } else {
            Tracking::Delivered
        }
    }

    /// Asked to answer and has not answered since the last message to them.
    pub fn owes_answer(&self, messages: &[Message]) -> bool {
        !self.copy && self.tracking(messages) != Tracking::Answered
    }
}

impl ThreadState {
    pub fn from_start(patient: PatientId, e: &NewEvent) -> Option<Self> {
        let (Stream::Thread(id), EventBody::Thread(ThreadEvent::ThreadStarted { .. })) = (e.stream, &e.body) else {
            return None;
        };
        let mut t = ThreadState {
            id,
            patient,
            course: CourseId::from_random_bytes([0; 16]),
            kind: ThreadKind::Message,
            category: ThreadCategory::Other,
            topic: None,
            subject: String::new(),
            forwarded_from: None,
            started_by: e.actor,
            started_org: e.org,
            started_at: e.recorded_at,
            answer_by: None,
            recipients: Vec::new(),
            messages: Vec::new(),
            version: 0,
            updated_at: e.recorded_at,
        };
        t.apply(e);
        Some(t)
    }

    pub fn message(&self, id: ItemId) -> Option<&Message> {
        self.messages.iter().find(|m| m.id == id)
    }

    /// Does this actor count as a recipient (themself, or working in a role's organisation)?
    pub fn is_recipient(&self, user: UserId, org: Option<OrgId>) -> bool {
        self.recipients.iter().any(|r| r.to.includes(user, org))
    }

    fn post(&mut self, e: &NewEvent, body: &MessageBody) {
        let Some(id) = e.item else { return };
        if let Some(corrected) = body.corrects {
            if let Some(m) = self.messages.iter_mut().find(|m| m.id == corrected) {
                m.corrected_by.get_or_insert(id);
            }
        }
        self.messages.push(Message {
            id,
            author: e.actor,
            org: e.org,
            at: e.recorded_at,
            category: e.category,
            body: body.clone(),
            corrected_by: None,
        });
        for r in self.recipients.iter_mut().filter(|r| r.to.includes(e.actor, e.org)) {
            r.answered_at = Some(e.recorded_at);
            r.read_at = Some(e.recorded_at);
        }
    }

    /// Folds one event of this thread.
    pub fn apply(&mut self, e: &NewEvent) {
        let EventBody::Thread(event) = &e.body else { return };
        match event {
            ThreadEvent::ThreadStarted {
                course,
                thread_kind,
                category,
                topic,
                subject,
                forwarded_from,
                answer_by,
                recipients,
                message,
            } => {
                self.course = *course;
                self.kind = *thread_kind;
                self.category = *category;
                self.topic = topic.clone();
                self.subject = subject.clone();
                self.forwarded_from = *forwarded_from;
                self.answer_by = *answer_by;
                self.recipients = recipients
                    .iter()
                    .map(|(to, copy)| Recipient {
                        to: to.clone(),
                        copy: *copy,
                        delivered_at: e.recorded_at,
                        read_at: None,
                        answered_at: None,
                    })
                    .collect();
                self.post(e, message);
            }
            ThreadEvent::MessagePosted { message, answer_by } => {
                if answer_by.is_some() {
                    self.answer_by = *answer_by;
                }
                self.post(e, message);
            }
            ThreadEvent::ThreadRead => {
                for r in self.recipients.iter_mut().filter(|r| r.to.includes(e.actor, e.org)) {
                    r.read_at = Some(e.recorded_at);
                }
            }
        }
        self.version = e.version;
        self.updated_at = e.recorded_at;
    }

    /// Recipients who owe an answer after the day it was asked by.
    pub fn overdue(&self, today: Date) -> Vec<&Recipient> {
        match self.answer_by {
            Some(by) if today > by => self.recipients.iter().filter(|r| r.owes_answer(&self.messages)).collect(),
            _ => Vec::new(),
        }
    }
}

// ---- attachments ------------------------------------------------------------------

/// The file types a message may carry, told by their first bytes, not by what the
/// sender claims.
const KNOWN_TYPES: &[(&str, &[u8])] =
    &[("application/pdf", b"%PDF-"), ("image/png", b"\x89PNG\r\n\x1a\n"), ("image/jpeg", b"\xff\xd8\xff")];

/// Checks an attachment: a size within the limit and bytes that are what the declared
/// content type says. Returns the content type in canonical form.
pub fn check_attachment(filename: &str, content_type: &str, bytes: &[u8]) -> Result<String, DomainError> {
    let name = required_text("attachments.filename", filename, MAX_TITLE)?;
    if name.contains(['/', '\\', '\0']) {
        return Err(DomainError::field("attachments.filename", "a file name cannot contain slashes"));
    }
    if bytes.is_empty() {
        return Err(DomainError::field("attachments.data", "the file is empty"));
    }
    if bytes.len() > MAX_ATTACHMENT_BYTES {
        return Err(DomainError::field(
            "attachments.data",
            crate::Reason::new("a file may be at most {mb} MB").with("mb", MAX_ATTACHMENT_BYTES / (1024 * 1024)),
        ));
    }
    let declared = content_type.trim().to_ascii_lowercase();
    let Some((canonical, magic)) = KNOWN_TYPES.iter().find(|(t, _)| *t == declared) else {
        return Err(DomainError::UnknownValue {
            what: "attachment type",
            expected: KNOWN_TYPES.iter().map(|(t, _)| *t).collect::<Vec<_>>().join(", "),
        });
    };
    if !bytes.starts_with(magic) {
        return Err(DomainError::field("attachments.content_type", "the file's content is not what its type says"));
    }
    Ok(canonical.to_string())
}

// ---- decisions ------------------------------------------------------------------

/// A checked attachment, ready to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttachmentIn {
    pub filename: String,
    pub content_type: String,
    pub bytes: Vec<u8>,
}

/// A new thread, as the sender writes it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewThread {
    #[serde(default)]
    pub kind: ThreadKind,
    pub category: ThreadCategory,
    #[serde(default)]
    pub topic: Option<String>,
    pub subject: String,
    pub to: Vec<Addressee>,
    #[serde(default)]
    pub copy: Vec<Addressee>,
    pub text: String,
    /// What the message is about, for the consent rules. Defaults to `messages`.
    #[serde(default = "default_category")]
    pub data_category: DataCategory,
    #[serde(default)]
    pub references: Vec<ItemId>,
    #[serde(default)]
    pub answer_by: Option<Date>,
    #[serde(default)]
    pub client_id: Option<String>,
}

/// A reply (or a correction of one's own message) in a thread.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Reply {
    pub text: String,
    #[serde(default = "default_category")]
    pub data_category: DataCategory,
    #[serde(default)]
    pub references: Vec<ItemId>,
    #[serde(default)]
    pub corrects: Option<ItemId>,
    #[serde(default)]
    pub answer_by: Option<Date>,
    #[serde(default)]
    pub client_id: Option<String>,
}

fn default_category() -> DataCategory {
    DataCategory::Messages
}

/// What the caller looked up for a message: whether each referenced item exists on
/// the course, and the attachments, already checked.
#[derive(Debug, Clone, Default)]
pub struct MessageFacts {
    pub attachments: Vec<(AttachmentMeta, Vec<u8>)>,
}

/// The recipients a thread's addressees stand for. The care team becomes each of its
/// members except the sender's own organisation; the sender is never their own
/// recipient. Someone named both as addressee and as copy is an addressee.
pub fn expand(
    course: &CourseState,
    to: &[Addressee],
    copy: &[Addressee],
    sender: UserId,
    sender_org: Option<OrgId>,
) -> Result<Vec<(Owner, bool)>, DomainError> {
    let mut out: Vec<(Owner, bool)> = Vec::new();
    for (list, is_copy) in [(to, false), (copy, true)] {
        for a in list {
            let owners = match a {
                Addressee::Professional { user, org } => vec![Owner::Professional { user: *user, org: *org }],
                Addressee::Role { org, role } => {
                    vec![Owner::Role { org: *org, role: required_text("to.role", role, MAX_TITLE)? }]
                }
                Addressee::CareTeam => course
                    .team
                    .iter()
                    .filter(|m| Some(m.member.org()) != sender_org)
                    .map(|m| match m.member {
                        TeamMember::Organisation { org } => Owner::Role { org, role: m.role.clone() },
                        TeamMember::Professional { user, org } => Owner::Professional { user, org },
                    })
                    .collect(),
            };
            for owner in owners {
                if matches!(owner, Owner::Professional { user, .. } if user == sender) {
                    continue;
                }
                match out.iter_mut().find(|(o, _)| *o == owner) {
                    Some(existing) => existing.1 &= is_copy,
                    None => out.push((owner, is_copy)),
                }
            }
        }
    }
    if !out.iter().any(|(_, copy)| !copy) {
        return Err(DomainError::field(
            "to",
            "address the message to at least one other professional, role or the care team",
        ));
    }
    if out.len() > MAX_RECIPIENTS {
        return Err(DomainError::field(
            "to",
            crate::Reason::new("a message may go to at most {max} recipients").with("max", MAX_RECIPIENTS),
        ));
    }
    Ok(out)
}

fn check_client_id(client_id: &Option<String>) -> Result<Option<String>, DomainError> {
    match client_id {
        None => Ok(None),
        Some(id) => Ok(Some(required_text("client_id", id, MAX_CLIENT_ID)?)),
    }
}

fn check_references(course: &CourseState, references: &[ItemId]) -> Result<Vec<ItemId>, DomainError> {
    let mut out = Vec::new();
    for r in references {
        if !course.has_item(*r) {
            return Err(DomainError::NotFound { what: "referenced item on the course" });
        }
        if !out.contains(r) {
            out.push(*r);
        }
    }
    Ok(out)
}

/// An answer date is today or later (a preview checks it as sending does).
pub fn check_answer_by(ctx: &Context<'_>, answer_by: Option<Date>) -> Result<(), DomainError> {
    if answer_by.is_some_and(|d| d < danish_day(ctx.now)) {
        return Err(DomainError::field("answer_by", "the answer cannot be due in the past"));
    }
    Ok(())
}

fn body(
    ctx: &Context<'_>,
    course: &CourseState,
    text: &str,
    references: &[ItemId],
    corrects: Option<ItemId>,
    client_id: &Option<String>,
    facts: &MessageFacts,
) -> Result<MessageBody, DomainError> {
    if facts.attachments.len() > MAX_ATTACHMENTS {
        return Err(DomainError::field(
            "attachments",
            crate::Reason::new("send at most {max} files at a time").with("max", MAX_ATTACHMENTS),
        ));
    }
    Ok(MessageBody {
        text: required_text("text", text, MAX_TEXT)?,
        origin: ctx.domain,
        references: check_references(course, references)?,
        attachments: facts.attachments.iter().map(|(m, _)| m.clone()).collect(),
        corrects,
        client_id: check_client_id(client_id)?,
    })
}

/// Starts a thread. `recipients` are the expanded addressees (see [`expand`]); the
/// caller has checked that each may receive the message (consent).
pub fn start_thread(
    ctx: &Context<'_>,
    course: &CourseState,
    cmd: &NewThread,
    recipients: Vec<(Owner, bool)>,
    forwarded_from: Option<ThreadId>,
    facts: &MessageFacts,
) -> Result<(ThreadId, NewEvent), DomainError> {
    if course.status == crate::projection::CourseStatus::Closed {
        return Err(DomainError::rejected("the course is closed; reopen it first"));
    }
    if cmd.data_category == DataCategory::Identity {
        return Err(DomainError::field("data_category", "a message is about the course, not the patient's identity"));
    }
    let topic = match (cmd.category, cmd.topic.as_deref().map(str::trim).filter(|t| !t.is_empty())) {
        (ThreadCategory::Other, None) => {
            return Err(DomainError::field("topic", "a message in the category 'other' needs a topic"))
        }
        (_, Some(t)) => Some(required_text("topic", t, MAX_TITLE)?),
        (_, None) => None,
    };
    if cmd.kind == ThreadKind::SpecialistQuestion {
        let asked = recipients.iter().filter(|(o, copy)| !copy && matches!(o, Owner::Role { .. })).count();
        if asked != 1 {
            return Err(DomainError::field("to", "a question to a specialist goes to one specialist role"));
        }
    }
    check_answer_by(ctx, cmd.answer_by)?;
    let message = body(ctx, course, &cmd.text, &cmd.references, None, &cmd.client_id, facts)?;
    let id = ThreadId::from_random_bytes(ctx.ids.random_bytes());
    let event = ThreadEvent::ThreadStarted {
        course: course.id,
        thread_kind: cmd.kind,
        category: cmd.category,
        topic,
        subject: required_text("subject", &cmd.subject, MAX_TITLE)?,
        forwarded_from,
        answer_by: cmd.answer_by,
        recipients,
        message,
    };
    let item = ItemId::from_random_bytes(ctx.ids.random_bytes());
    Ok((id, ctx.event(Stream::Thread(id), 1, Some(item), cmd.data_category, EventBody::Thread(event))))
}

/// The message in `thread` that this author already sent with this client id: a second
/// submission of the same message. The same id with other text is refused: answering
/// with the first message would tell the sender the new text was sent.
pub fn duplicate(
    thread: &ThreadState,
    author: UserId,
    client_id: Option<&str>,
    text: &str,
) -> Result<Option<ItemId>, DomainError> {
    let Some(client_id) = client_id.map(str::trim) else { return Ok(None) };
    let Some(m) = thread.messages.iter().find(|m| m.author == author && m.body.client_id.as_deref() == Some(client_id))
    else {
        return Ok(None);
    };
    same_text(&m.body.text, text)?;
    Ok(Some(m.id))
}

/// Refuses a second submission under a client message id whose text differs from the
/// first's.
pub fn same_text(sent: &str, again: &str) -> Result<(), DomainError> {
    if sent.trim() == again.trim() {
        return Ok(());
    }
    Err(DomainError::rejected(
        "this client message id was used for a message with other text; give a new message a new id",
    ))
}

/// Replies in a thread, or corrects one's own earlier message.
pub fn reply(
    ctx: &Context<'_>,
    course: &CourseState,
    thread: &ThreadState,
    cmd: &Reply,
    facts: &MessageFacts,
) -> Result<NewEvent, DomainError> {
    if cmd.data_category == DataCategory::Identity {
        return Err(DomainError::field("data_category", "a message is about the course, not the patient's identity"));
    }
    if let Some(corrected) = cmd.corrects {
        let m = thread.message(corrected).ok_or(DomainError::NotFound { what: "message" })?;
        if m.author != ctx.actor {
            return Err(DomainError::rejected("you can only correct your own messages"));
        }
        if m.corrected_by.is_some() {
            return Err(DomainError::rejected("that message was already corrected; correct the correction"));
        }
    }
    check_answer_by(ctx, cmd.answer_by)?;
    let message = body(ctx, course, &cmd.text, &cmd.references, cmd.corrects, &cmd.client_id, facts)?;
    let event = ThreadEvent::MessagePosted { message, answer_by: cmd.answer_by };
    let item = ItemId::from_random_bytes(ctx.ids.random_bytes());
    Ok(ctx.event(
        Stream::Thread(thread.id),
        thread.version + 1,
        Some(item),
        cmd.data_category,
        EventBody::Thread(event),
    ))
}

/// A recipient opening a thread, if it has something they have not seen. Others
/// opening it change nothing.
pub fn mark_read(ctx: &Context<'_>, thread: &ThreadState) -> Option<NewEvent> {
    let unseen = thread.recipients.iter().any(|r| {
        r.to.includes(ctx.actor, ctx.org)
            && r.last_from_others(&thread.messages).is_some_and(|last| r.read_at.is_none_or(|read| read < last))
    });
    unseen.then(|| {
        ctx.event(
            Stream::Thread(thread.id),
            thread.version + 1,
            None,
            DataCategory::Messages,
            EventBody::Thread(ThreadEvent::ThreadRead),
        )
    })
}

/// The course entry that files a specialist's answer on the course, when a recipient
/// of a specialist question replies.
pub fn filed_answer(
    ctx: &Context<'_>,
    course: &CourseState,
    thread: &ThreadState,
    reply: &NewEvent,
) -> Option<NewEvent> {
    if thread.kind != ThreadKind::SpecialistQuestion || !thread.is_recipient(ctx.actor, ctx.org) {
        return None;
    }
    let EventBody::Thread(ThreadEvent::MessagePosted { message, .. }) = &reply.body else { return None };
    let title: String = format!("Svar: {}", thread.subject).chars().take(MAX_TITLE).collect();
    let body = EventBody::EntryRecorded {
        entry_type: crate::event::EntryType::SpecialistAnswer,
        category: reply.category,
        title,
        text: message.text.clone(),
        occurred_on: danish_day(ctx.now),
        origin: ctx.domain,
    };
    let item = ItemId::from_random_bytes(ctx.ids.random_bytes());
    Some(ctx.event(Stream::Course(course.id), course.version + 1, Some(item), reply.category, body))
}

/// A subject line for a forward: the old subject, marked.
pub fn forward_subject(old: &str) -> String {
    format!("Videresendt: {old}").chars().take(MAX_TITLE).collect()
}
