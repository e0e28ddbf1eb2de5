//! Several use cases as one: a [`Unit`] is a `Sammen` whose store is one unit of work
//! (see [`sammen_store::unit`]), so each use case still asks the policy, decides and
//! audits as it always does, and everything they write, their audit entries
//! included, lands at [`Unit::commit`] or not at all. A FHIR transaction Bundle is
//! one unit.
//!
//! The unit's audit entries are written when it commits, in its transaction, so they
//! land with what they record. A unit that rolls back records them outside it instead,
//! each as refused: the trail still shows who tried to read or write what.
//!
//! Notification e-mails wait in an outbox until the commit: a mail must not announce
//! something that was then rolled back.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use sammen_domain::audit::{AuditDraft, AuditOutcome};
use sammen_domain::event::Stream;
use sammen_domain::ids::PatientId;
use sammen_store::UnitOfWork;

use crate::audit_log::AuditLog;
use crate::directory::Directory;
use crate::notify::Mailer;
use crate::{AppResult, Sammen};

/// Mails held back until the unit commits.
#[derive(Default)]
struct Outbox(Mutex<Vec<(String, String, String)>>);

impl Mailer for Outbox {
    fn send(&self, to: &str, subject: &str, body: &str) -> Result<(), String> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).push((to.into(), subject.into(), body.into()));
        Ok(())
    }
}

/// How far a unit's own writes moved each stream: from the version the unit first found
/// it at (the one a client read) to the version its last write made.
#[derive(Default)]
pub(crate) struct OwnVersions(Mutex<HashMap<(PatientId, Stream), (u64, u64)>>);

impl OwnVersions {
    /// Notes that the unit wrote `stream` from version `from` to `to`.
    pub(crate) fn wrote(&self, patient: PatientId, stream: Stream, from: u64, to: u64) {
        let mut moved = self.0.lock().unwrap_or_else(|e| e.into_inner());
        moved.entry((patient, stream)).and_modify(|(_, now)| *now = to).or_insert((from, to));
    }

    /// Whether the unit alone moved `stream` from `from` to where it is now, `now`.
    pub(crate) fn moved(&self, patient: PatientId, stream: Stream, from: u64, now: u64) -> bool {
        let moved = self.0.lock().unwrap_or_else(|e| e.into_inner());
        moved.get(&(patient, stream)).is_some_and(|&(first, last)| first <= from && from <= last && last == now)
    }
}

/// An open unit: run use cases on [`Unit::sammen`], then commit or drop.
pub struct Unit {
    sammen: Sammen,
    work: UnitOfWork,
    outbox: Arc<Outbox>,
    mailer: Arc<dyn Mailer>,
    audited: Arc<Mutex<Vec<AuditDraft>>>,
    /// The directory the unit started from, to tell at its commit whether it changed it.
    directory_at_start: Option<Arc<Directory>>,
}

impl Sammen {
    /// Opens a unit of work. While it is open it holds the write transaction, so other
    /// writers wait: keep units short.
    pub async fn unit(&self) -> AppResult<Unit> {
        let work = self.store.unit_of_work().await?;
        let store = work.store();
        let outbox = Arc::new(Outbox::default());
        let audited = Arc::new(Mutex::new(Vec::new()));
        let cached = self.directory.read().await.clone();
        let directory_at_start = cached.as_ref().map(|(_, dir)| dir.clone());
        let sammen = Sammen {
            audit: AuditLog::deferred(audited.clone()),
            store,
            clock: self.clock.clone(),
            ids: self.ids.clone(),
            logins: self.logins.clone(),
            // Its own cache, starting from the shared one: loading the whole directory
            // again for each unit cost a transaction Bundle more than its writes at
            // 100,000 patients. A use case in the unit that changes the directory drops
            // the unit's copy, which is then read inside the unit; the shared cache never
            // sees what the unit has not committed.
            directory: Arc::new(tokio::sync::RwLock::new(cached)),
            mailer: outbox.clone(),
            // Not taken inside the unit (see `add_to_course`).
            turns: self.turns.clone(),
            own_versions: Some(Arc::default()),
        };
        Ok(Unit { sammen, work, outbox, mailer: self.mailer.clone(), audited, directory_at_start })
    }
}

impl Sammen {
    /// Whether this is a unit's `Sammen` (units do not nest: what it writes already
    /// lands together).
    pub fn in_unit(&self) -> bool {
        self.audit.is_deferred()
    }
}

impl Unit {
    /// The use cases, inside the unit.
    pub fn sammen(&self) -> &Sammen {
        &self.sammen
    }

    /// Makes everything the unit's use cases wrote durable at once, their audit entries
    /// with it, then sends the mails they queued. If that fails, it is all rolled back and
    /// the entries are recorded through `outside`, as refused.
    pub async fn commit(self, outside: &Sammen) -> AppResult<()> {
        let Unit { sammen, work, outbox, mailer, audited, directory_at_start } = self;
        // Unless the unit's directory is still the one it started from, it may have
        // changed the directory (a use case that does drops the unit's copy).
        let unchanged = match (&directory_at_start, sammen.directory.read().await.as_ref()) {
            (Some(start), Some((_, now))) => Arc::ptr_eq(start, now),
            _ => false,
        };
        drop(sammen);
        let drafts = audited.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let written = match drafts.is_empty() {
            true => Ok(Vec::new()),
            false => work.store().append_audit(&drafts).await,
        };
        let committed = match written {
            Ok(_) => work.commit().await,
            Err(e) => {
                work.rollback().await;
                Err(e)
            }
        };
        if let Err(e) = committed {
            refuse_outside(outside, &audited).await?;
            return Err(e.into());
        }
        if !unchanged {
            // What the unit changed is everyone's now; the shared cache must not keep
            // the directory from before it for up to DIRECTORY_TTL.
            outside.directory_changed().await;
        }
        let mails = std::mem::take(&mut *outbox.0.lock().unwrap_or_else(|e| e.into_inner()));
        for (to, subject, body) in mails {
            if let Err(e) = mailer.send(&to, &subject, &body) {
                tracing::warn!(error = %e, "a notification e-mail could not be sent");
            }
        }
        Ok(())
    }

    /// Undoes everything the unit's use cases wrote, and records their audit entries
    /// again through `outside`, each as refused (a denial stays a denial).
    pub async fn rollback(self, outside: &Sammen) -> AppResult<()> {
        let Unit { sammen, work, audited, .. } = self;
        drop(sammen);
        work.rollback().await;
        refuse_outside(outside, &audited).await
    }
}

/// Records a rolled-back unit's entries through `outside`, each as refused (a denial
/// stays a denial).
async fn refuse_outside(outside: &Sammen, audited: &Mutex<Vec<AuditDraft>>) -> AppResult<()> {
    let mut drafts = std::mem::take(&mut *audited.lock().unwrap_or_else(|e| e.into_inner()));
    for d in &mut drafts {
        if d.outcome == AuditOutcome::Permitted {
            d.outcome = AuditOutcome::Refused;
        }
    }
    outside.audit.record_all(drafts).await
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use sammen_domain::clock::SystemClock;
    use sammen_domain::vocab::Sector;

    use crate::ids::RandomIds;
    use crate::Sammen;

    /// A unit starts from the shared directory rather than reading it again, yet sees the
    /// changes it makes itself at once; nobody outside sees them before it commits.
    #[tokio::test]
    async fn a_unit_starts_from_the_shared_directory_and_sees_its_own_changes() {
        let store = sammen_store_sqlite::open(&sammen_store_sqlite::test_dir().join("sammen.db")).await.unwrap();
        let app = Sammen::new(Arc::new(store), Arc::new(SystemClock), Arc::new(RandomIds));
        let before = app.shared_directory().await.unwrap();
        let unit = app.unit().await.unwrap();
        let shared = unit.sammen().shared_directory().await.unwrap();
        assert!(Arc::ptr_eq(&before, &shared), "the shared directory, not a copy read again");
        let org = unit.sammen().add_organisation("Ny klinik", Sector::PrivatePractice, None).await.unwrap();
        assert!(unit.sammen().shared_directory().await.unwrap().org(org.id).is_some(), "the unit sees its change");
        assert!(app.shared_directory().await.unwrap().org(org.id).is_none(), "outside, not before the commit");
        unit.rollback(&app).await.unwrap();
        assert!(app.store().organisation(org.id).await.unwrap().is_none());
        assert!(Arc::ptr_eq(&before, &app.shared_directory().await.unwrap()), "a rollback leaves the cache be");

        // Committed, the change is everyone's at once, not after the cache's lifetime.
        let unit = app.unit().await.unwrap();
        let org = unit.sammen().add_organisation("Anden klinik", Sector::PrivatePractice, None).await.unwrap();
        unit.commit(&app).await.unwrap();
        assert!(app.shared_directory().await.unwrap().org(org.id).is_some(), "outside, at once after the commit");

        // A unit that changes nothing in the directory leaves the shared cache as it was.
        let cached = app.shared_directory().await.unwrap();
        let unit = app.unit().await.unwrap();
        unit.commit(&app).await.unwrap();
        assert!(Arc::ptr_eq(&cached, &app.shared_directory().await.unwrap()));
    }
}
