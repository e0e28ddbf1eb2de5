//! Row shapes and SQL shared by both engines. Each engine fetches plain tuples of
//! text and integers (the types both map the same way) and decodes them here, so the
//! engine crates hold only what truly differs: connections, transactions, DDL.
//!
//! Type map: ids are TEXT (UUID text); instants are BIGINT microseconds since the Unix
//! epoch (UTC); dates are TEXT `YYYY-MM-DD`; enums are TEXT in snake_case; event
//! payloads and projections are JSON in TEXT; flags are BOOLEAN (INTEGER 0/1 in SQLite).

use serde::{de::DeserializeOwned, Serialize};

use sammen_domain::audit::{AuditAction, AuditDraft, AuditEntry, AuditOutcome};
use sammen_domain::clock::{from_micros, to_micros};
use sammen_domain::directory::{ApiToken, Organisation, SorCode, User, UserKind};
use sammen_domain::event::{Event, EventBody, NewEvent, Stream, TeamMember};
use sammen_domain::ids::{CourseId, EventId, ItemId, OrgId, PatientId, ThreadId, UserId};
use sammen_domain::projection::{CourseState, CourseStatus};
use sammen_domain::vocab::{DataCategory, Purpose};
use sammen_domain::worklist::{Assignee, Show, WorkItem, WorkKind};

use crate::sql::Val;
use crate::{CourseSummary, Notice, Session, StoreError, StoreResult, UnseenChange};

pub fn corrupt(what: &str) -> StoreError {
    StoreError::Corrupt(what.to_string())
}

pub fn to_json<T: Serialize>(value: &T) -> StoreResult<String> {
    serde_json::to_string(value).map_err(|e| StoreError::Corrupt(format!("encode: {e}")))
}

pub fn from_json<T: DeserializeOwned>(text: &str, what: &str) -> StoreResult<T> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(format!("{what}: {e}")))
}

fn parse<T>(text: &str, what: &str, f: impl Fn(&str) -> Result<T, sammen_domain::DomainError>) -> StoreResult<T> {
    f(text).map_err(|_| corrupt(what))
}

pub fn u64_of(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

pub fn i64_of(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// The text stored in `events.stream`: `patient`, or the course id.
pub fn stream_text(stream: Stream) -> String {
    match stream {
        Stream::Patient => "patient".to_string(),
        Stream::Course(c) => c.to_string(),
        Stream::Thread(t) => format!("thread/{t}"),
    }
}

pub fn parse_stream(text: &str) -> StoreResult<Stream> {
    if text == "patient" {
        Ok(Stream::Patient)
    } else if let Some(thread) = text.strip_prefix("thread/") {
        Ok(Stream::Thread(parse(thread, "event stream", ThreadId::parse)?))
    } else {
        Ok(Stream::Course(parse(text, "event stream", CourseId::parse)?))
    }
}

/// An event flattened to the columns of the `events` table.
pub struct EventColumns {
    pub event_id: String,
    pub stream: String,
    pub course_id: Option<String>,
    pub version: i64,
    pub item_id: Option<String>,
    pub recorded_at: i64,
    pub actor: String,
    pub org_id: Option<String>,
    pub kind: &'static str,
    pub category: &'static str,
    pub payload: String,
}

impl EventColumns {
    pub fn of(e: &NewEvent) -> StoreResult<Self> {
        Ok(EventColumns {
            event_id: e.id.to_string(),
            stream: stream_text(e.stream),
            course_id: e.stream.course().map(|c| c.to_string()),
            version: i64_of(e.version),
            item_id: e.item.map(|i| i.to_string()),
            recorded_at: to_micros(e.recorded_at),
            actor: e.actor.to_string(),
            org_id: e.org.map(|o| o.to_string()),
            kind: e.body.kind(),
            category: e.category.as_str(),
            payload: to_json(&e.body)?,
        })
    }
}

/// `SELECT` list matching [`EventRow`].
pub const EVENT_COLUMNS: &str =
    "patient_id, seq, event_id, stream, version, item_id, recorded_at, actor, org_id, category, payload";

pub type EventRow = (String, i64, String, String, i64, Option<String>, i64, String, Option<String>, String, String);

pub fn decode_event(row: EventRow) -> StoreResult<Event> {
    let (patient, seq, id, stream, version, item, at, actor, org, category, payload) = row;
    let stream = parse_stream(&stream)?;
    let body: EventBody = from_json(&payload, "event payload")?;
    Ok(Event {
        patient: parse(&patient, "patient id", PatientId::parse)?,
        seq: u64_of(seq),
        event: NewEvent {
            id: parse(&id, "event id", EventId::parse)?,
            stream,
            version: u64_of(version),
            item: item.map(|i| parse(&i, "item id", ItemId::parse)).transpose()?,
            recorded_at: from_micros(at),
            actor: parse(&actor, "actor", UserId::parse)?,
            org: org.map(|o| parse(&o, "org id", OrgId::parse)).transpose()?,
            category: parse(&category, "category", |s| s.parse::<DataCategory>())?,
            body,
        },
    })
}

pub fn course_status_text(s: CourseStatus) -> &'static str {
    match s {
        CourseStatus::Open => "open",
        CourseStatus::Closed => "closed",
    }
}

pub type CourseSummaryRow = (String, String, String, i64, String, Option<String>);

pub fn decode_course_summary(row: CourseSummaryRow) -> StoreResult<CourseSummary> {
    let (id, title, status, version, origin, opened_org) = row;
    Ok(CourseSummary {
        id: parse(&id, "course id", CourseId::parse)?,
        title,
        status: match status.as_str() {
            "open" => CourseStatus::Open,
            "closed" => CourseStatus::Closed,
            _ => return Err(corrupt("course status")),
        },
        version: u64_of(version),
        origin: parse(&origin, "origin", |s| s.parse())?,
        opened_org: opened_org.map(|o| parse(&o, "org id", OrgId::parse)).transpose()?,
    })
}

/// The rows of `care_team` a course's state implies: (org_id, user_id or '').
pub fn team_rows(course: &CourseState) -> Vec<(String, String)> {
    course
        .team
        .iter()
        .map(|m| match m.member {
            TeamMember::Organisation { org } => (org.to_string(), String::new()),
            TeamMember::Professional { user, org } => (org.to_string(), user.to_string()),
        })
        .collect()
}

pub fn decode_team_row(row: (String, String, String)) -> StoreResult<(CourseId, TeamMember)> {
    let (course, org, user) = row;
    let course = parse(&course, "course id", CourseId::parse)?;
    let org = parse(&org, "org id", OrgId::parse)?;
    let member = if user.is_empty() {
        TeamMember::Organisation { org }
    } else {
        TeamMember::Professional { user: parse(&user, "user id", UserId::parse)?, org }
    };
    Ok((course, member))
}

pub const ORG_COLUMNS: &str = "org_id, name, sector, sor";
pub type OrgRow = (String, String, String, Option<String>);

pub fn decode_org(row: OrgRow) -> StoreResult<Organisation> {
    let (id, name, sector, sor) = row;
    Ok(Organisation {
        id: parse(&id, "org id", OrgId::parse)?,
        name,
        sector: parse(&sector, "sector", |s| s.parse())?,
        sor: sor.map(|s| parse(&s, "sor", SorCode::parse)).transpose()?,
    })
}

pub const USER_COLUMNS: &str =
    "user_id, login, name, kind, profession, org_id, patient_id, disabled, org_admin, email, language";
pub type UserRow = (
    String,
    String,
    String,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    bool,
    bool,
    Option<String>,
    Option<String>,
);

/// A user flattened to the columns of `users` (kind, profession, org, patient).
pub fn user_columns(u: &User) -> (&'static str, Option<&'static str>, Option<String>, Option<String>) {
    match &u.kind {
        UserKind::Professional { profession, org } => {
            ("professional", Some(profession.as_str()), Some(org.to_string()), None)
        }
        UserKind::Patient { patient } => ("patient", None, None, Some(patient.to_string())),
        UserKind::Proxy { patient } => ("proxy", None, None, Some(patient.to_string())),
        UserKind::Operator => ("operator", None, None, None),
    }
}

pub fn decode_user(row: UserRow) -> StoreResult<User> {
    let (id, login, name, kind, profession, org, patient, disabled, org_admin, email, language) = row;
    let patient_of = |p: Option<String>| -> StoreResult<PatientId> {
        parse(&p.ok_or_else(|| corrupt("user patient"))?, "patient id", PatientId::parse)
    };
    let kind = match kind.as_str() {
        "professional" => UserKind::Professional {
            profession: parse(&profession.ok_or_else(|| corrupt("profession"))?, "profession", |s| s.parse())?,
            org: parse(&org.ok_or_else(|| corrupt("user org"))?, "org id", OrgId::parse)?,
        },
        "patient" => UserKind::Patient { patient: patient_of(patient)? },
        "proxy" => UserKind::Proxy { patient: patient_of(patient)? },
        "operator" => UserKind::Operator,
        _ => return Err(corrupt("user kind")),
    };
    Ok(User { id: parse(&id, "user id", UserId::parse)?, login, name, kind, disabled, org_admin, email, language })
}

pub const NOTICE_COLUMNS: &str = "notice_id, recipient_id, patient_id, at, kind, object";
pub type NoticeRow = (String, String, String, i64, String, String);

pub fn decode_notice(row: NoticeRow) -> StoreResult<Notice> {
    let (id, recipient, patient, at, kind, object) = row;
    Ok(Notice {
        id: uuid::Uuid::parse_str(&id).map_err(|_| corrupt("notice id"))?,
        recipient: parse(&recipient, "user id", UserId::parse)?,
        patient: parse(&patient, "patient id", PatientId::parse)?,
        at: from_micros(at),
        kind,
        object,
    })
}

pub const SESSION_COLUMNS: &str = "session_hash, user_id, csrf_token, created_at, expires_at, ended_at";
pub type SessionRow = (String, String, String, i64, i64, Option<i64>);

pub fn decode_session(row: SessionRow) -> StoreResult<Session> {
    let (hash, user, csrf_token, created, expires, ended) = row;
    Ok(Session {
        hash,
        user: parse(&user, "user id", UserId::parse)?,
        csrf_token,
        created_at: from_micros(created),
        expires_at: from_micros(expires),
        ended_at: ended.map(from_micros),
    })
}

pub const TOKEN_COLUMNS: &str = "token_id, user_id, token_hash, created_at, expires_at, revoked_at";
pub type TokenRow = (String, String, String, i64, Option<i64>, Option<i64>);

pub fn decode_token(row: TokenRow) -> StoreResult<ApiToken> {
    let (id, user, hash, created, expires, revoked) = row;
    Ok(ApiToken {
        id,
        user: parse(&user, "user id", UserId::parse)?,
        hash,
        created_at: from_micros(created),
        expires_at: expires.map(from_micros),
        revoked_at: revoked.map(from_micros),
    })
}

pub const AUDIT_COLUMNS: &str = "seq, at, actor, org, action, purpose, patient_id, object, outcome, prev_hash, hash";
pub type AuditRow = (i64, i64, String, Option<String>, String, String, Option<String>, String, String, String, String);

/// Decodes an audit row. A value that does not parse is kept as a chain break rather
/// than an error, so `audit verify` can name the entry instead of failing outright.
pub fn decode_audit(row: AuditRow) -> StoreResult<AuditEntry> {
    let (seq, at, actor, org, action, purpose, patient, object, outcome, prev_hash, hash) = row;
    Ok(AuditEntry {
        seq: u64_of(seq),
        draft: AuditDraft {
            at: from_micros(at),
            actor,
            org,
            action: AuditAction::parse(&action).ok_or_else(|| corrupt(&format!("audit entry {seq}: action")))?,
            purpose: parse(&purpose, &format!("audit entry {seq}: purpose"), |s| s.parse::<Purpose>())?,
            patient: patient
                .map(|p| parse(&p, &format!("audit entry {seq}: patient"), PatientId::parse))
                .transpose()?,
            object,
            outcome: AuditOutcome::parse(&outcome).ok_or_else(|| corrupt(&format!("audit entry {seq}: outcome")))?,
        },
        prev_hash,
        hash,
    })
}

pub const WORK_COLUMNS: &str =
    "assignee, patient_id, stream, item_id, kind, course_id, due, show_rule, since, title, category, origin, author_org";
pub const WORK_COLUMN_COUNT: usize = 13;
pub type WorkRow = (
    String,
    String,
    String,
    String,
    String,
    String,
    Option<String>,
    String,
    i64,
    String,
    String,
    String,
    Option<String>,
);

/// How `work_items.assignee` names an assignee.
pub fn assignee_key(a: &Assignee) -> String {
    match a {
        Assignee::User { user } => format!("user/{user}"),
        Assignee::Org { org } => format!("org/{org}"),
        Assignee::KeyWorker => "key_worker".into(),
    }
}

fn parse_assignee(text: &str) -> StoreResult<Assignee> {
    if let Some(u) = text.strip_prefix("user/") {
        Ok(Assignee::User { user: parse(u, "user id", UserId::parse)? })
    } else if let Some(o) = text.strip_prefix("org/") {
        Ok(Assignee::Org { org: parse(o, "org id", OrgId::parse)? })
    } else if text == "key_worker" {
        Ok(Assignee::KeyWorker)
    } else {
        Err(corrupt("work item assignee"))
    }
}

pub fn date_text(d: time::Date) -> String {
    // ISO dates sort as text, so the worklist can compare them in SQL.
    format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
}

fn parse_date(text: &str) -> StoreResult<time::Date> {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    time::Date::parse(text, &format).map_err(|_| corrupt("work item due date"))
}

/// A work item flattened to the columns of `work_items`, in [`WORK_COLUMNS`] order.
pub fn work_columns(w: &WorkItem) -> Vec<Val> {
    crate::args![
        assignee_key(&w.assignee),
        w.patient.to_string(),
        stream_text(w.stream),
        w.item.to_string(),
        w.kind.as_str(),
        w.course.to_string(),
        w.due.map(date_text),
        w.show.as_str(),
        to_micros(w.since),
        w.title.as_str(),
        w.category.as_str(),
        w.origin.as_str(),
        w.author_org.map(|o| o.to_string()),
    ]
}

pub fn decode_work(row: WorkRow) -> StoreResult<WorkItem> {
    let (assignee, patient, stream, item, kind, course, due, show, since, title, category, origin, author) = row;
    Ok(WorkItem {
        patient: parse(&patient, "patient id", PatientId::parse)?,
        course: parse(&course, "course id", CourseId::parse)?,
        stream: parse_stream(&stream)?,
        item: parse(&item, "item id", ItemId::parse)?,
        kind: WorkKind::parse(&kind).ok_or_else(|| corrupt("work kind"))?,
        assignee: parse_assignee(&assignee)?,
        due: due.as_deref().map(parse_date).transpose()?,
        show: Show::parse(&show).ok_or_else(|| corrupt("work show rule"))?,
        since: from_micros(since),
        title,
        category: parse(&category, "category", |s| s.parse::<DataCategory>())?,
        origin: parse(&origin, "origin", |s| s.parse())?,
        author_org: author.map(|o| parse(&o, "org id", OrgId::parse)).transpose()?,
    })
}

pub type UnseenRow = (String, String, String, String, Option<String>, i64);

pub fn decode_unseen(row: UnseenRow) -> StoreResult<UnseenChange> {
    let (patient, course, title, origin, opened_org, changed_at) = row;
    Ok(UnseenChange {
        patient: parse(&patient, "patient id", PatientId::parse)?,
        course: parse(&course, "course id", CourseId::parse)?,
        title,
        origin: parse(&origin, "origin", |s| s.parse())?,
        opened_org: opened_org.map(|o| parse(&o, "org id", OrgId::parse)).transpose()?,
        changed_at: from_micros(changed_at),
    })
}
