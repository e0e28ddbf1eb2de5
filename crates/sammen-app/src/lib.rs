//! Sammen's use cases. Each one loads what it needs, asks the policy, decides with the
//! domain, commits through the store, and writes an audit entry, in that order. The
//! HTTP crate and the CLI call these and nothing below them, so no path to patient
//! data skips the policy or the audit trail.
//!
//! One module per concept, each an `impl Sammen` block:
//! [`access`] (the policy gate every use case passes, and the one write path),
//! [`identity`] (tokens, passwords, sessions), [`directory`] (organisations, users, how
//! to reach them), [`records`] (patients and courses), [`briefing`] (the briefing and
//! the timeline), [`messages`] (threads, specialist questions), [`worklist`] (what
//! needs a professional), [`sharing`] (consents, objections, proxies, break-glass, the
//! access log), [`notify`] (e-mail) and [`operations`] (import, rebuild, audit
//! verification).

pub mod access;
pub mod audit_log;
pub mod briefing;
pub mod contact;
pub mod directory;
pub mod error;
pub mod identity;
pub mod ids;
pub mod messages;
pub mod notify;
pub mod operations;
pub mod records;
pub mod sharing;
mod turns;
pub mod unit;
pub mod worklist;

use sha2::{Digest, Sha256};
use std::sync::Arc;
use time::OffsetDateTime;

use sammen_domain::audit::{AuditAction, AuditDraft, AuditOutcome};
use sammen_domain::clock::{truncate_to_micros, Clock, IdSource};
use sammen_domain::decide::Context;
use sammen_domain::directory::{Organisation, User};
use sammen_domain::event::Stream;
use sammen_domain::ids::PatientId;
use sammen_domain::policy;
use sammen_domain::vocab::{LegalDomain, Profession, Purpose};
use sammen_domain::DomainError;
use sammen_store::Store;

pub use audit_log::AuditLog;
pub use error::AppError;
pub use records::{CourseSummaryView, CourseView, HistoryView, PatientHit, PatientView, RecordView};

pub type AppResult<T> = Result<T, AppError>;

/// Who is acting and for which organisation. Every request and command has one.
#[derive(Debug, Clone)]
pub struct Actor {
    pub user: User,
    pub org: Option<Organisation>,
    /// The purpose the caller declared: treatment, or their own record. Break-glass is
    /// not declared here; it follows from an open break-glass opening.
    pub purpose: Purpose,
}

impl Actor {
    fn audit_org(&self) -> Option<String> {
        self.org.as_ref().map(|o| format!("org/{}", o.id))
    }

    /// The legal domain the actor works in (patients and proxies: health).
    pub fn domain(&self) -> LegalDomain {
        self.org.as_ref().map(|o| o.legal_domain()).unwrap_or_default()
    }
}

/// The application: storage, time, randomness and the audit writer.
#[derive(Clone)]
pub struct Sammen {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    ids: Arc<dyn IdSource>,
    audit: AuditLog,
    logins: Arc<identity::LoginThrottle>,
    directory: Arc<tokio::sync::RwLock<Option<directory::Cached>>>,
    mailer: Arc<dyn notify::Mailer>,
    /// Additions to one course wait for each other (see [`turns`]).
    turns: Arc<turns::CourseTurns>,
    /// In a unit: how far the unit's own writes moved each stream (see [`unit::OwnVersions`]).
    own_versions: Option<Arc<unit::OwnVersions>>,
}

/// The actor recorded for operators' commands (`sammen demo`, `sammen user add`, ...).
pub const SYSTEM_ACTOR: &str = "system/cli";

impl Sammen {
    /// Must be called inside a Tokio runtime: it starts the audit writer.
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>, ids: Arc<dyn IdSource>) -> Self {
        let audit = AuditLog::start(store.clone());
        let logins = Arc::new(identity::LoginThrottle::default());
        let mailer = Arc::new(notify::NoMail);
        Sammen {
            store,
            clock,
            ids,
            audit,
            logins,
            directory: Arc::default(),
            mailer,
            turns: Arc::default(),
            own_versions: None,
        }
    }

    /// Where notification e-mails go (none by default).
    pub fn with_mailer(mut self, mailer: Arc<dyn notify::Mailer>) -> Self {
        self.mailer = mailer;
        self
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    pub fn now(&self) -> OffsetDateTime {
        truncate_to_micros(self.clock.now())
    }

    fn context(&self, actor: &Actor) -> Context<'_> {
        Context {
            actor: actor.user.id,
            org: actor.user.org(),
            domain: actor.domain(),
            now: self.now(),
            ids: &*self.ids,
        }
    }

    async fn audit(
        &self,
        actor: &Actor,
        action: AuditAction,
        purpose: Purpose,
        patient: Option<PatientId>,
        object: String,
        outcome: AuditOutcome,
    ) -> AppResult<()> {
        self.audit.record(self.draft(actor, action, purpose, patient, object, outcome)).await
    }

    /// An audit entry for something the actor did now.
    fn draft(
        &self,
        actor: &Actor,
        action: AuditAction,
        purpose: Purpose,
        patient: Option<PatientId>,
        object: String,
        outcome: AuditOutcome,
    ) -> AuditDraft {
        AuditDraft {
            at: self.now(),
            actor: policy::audit_actor(actor.user.id),
            org: actor.audit_org(),
            action,
            purpose,
            patient,
            object,
            outcome,
        }
    }

    fn system_draft(&self, action: AuditAction, patient: Option<PatientId>, object: String) -> AuditDraft {
        AuditDraft {
            at: self.now(),
            actor: SYSTEM_ACTOR.to_string(),
            org: None,
            action,
            purpose: Purpose::Operations,
            patient,
            object,
            outcome: AuditOutcome::Permitted,
        }
    }

    /// Records an operator's action on the trail (no user, no patient data shown).
    pub async fn audit_system(&self, action: AuditAction, patient: Option<PatientId>, object: String) -> AppResult<()> {
        self.audit.record(self.system_draft(action, patient, object)).await
    }
}

impl Sammen {
    /// Whether a write made from version `expected` of a stream may go ahead with the
    /// stream at `actual`: the same version, or, in a unit, a version the unit's own
    /// writes moved the stream on from. Each entry of a transaction names the version
    /// its client read, and the entries before it in the same transaction are nobody
    /// else's change: two updates to one course would otherwise be impossible in one.
    fn check_version(&self, patient: PatientId, stream: Stream, expected: u64, actual: u64) -> AppResult<()> {
        let moved_by_unit = self.own_versions.as_ref().is_some_and(|own| own.moved(patient, stream, expected, actual));
        if expected == actual || moved_by_unit {
            Ok(())
        } else {
            Err(DomainError::Conflict { expected, actual }.into())
        }
    }
}

/// SHA-256 of a high-entropy secret (a token or a session cookie), hex. Such secrets
/// have 256 bits of entropy, so a fast hash is enough; passwords get Argon2id.
pub fn token_hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// How a profession is named as a care team role.
pub fn role_name(p: Profession) -> &'static str {
    match p {
        Profession::GeneralPractitioner | Profession::PracticeNurse => "general practice",
        Profession::Chiropractor => "chiropractic",
        Profession::Physiotherapist => "physiotherapy",
        Profession::Psychologist => "psychology",
        Profession::HospitalDoctor | Profession::HospitalNurse => "hospital",
        Profession::Psychiatrist | Profession::PsychiatricNurse => "psychiatry",
        Profession::MunicipalPhysiotherapist
        | Profession::OccupationalTherapist
        | Profession::MunicipalPsychologist => "municipal rehabilitation",
        Profession::JobcentreSocialWorker => "jobcentre",
        Profession::SocialPsychiatryWorker => "social psychiatry",
        Profession::Coordinator => "coordination",
    }
}
