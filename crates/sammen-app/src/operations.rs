//! Operators' work on the whole database: imports, rebuilding projections from the
//! logs, and verifying the audit chain.

use sammen_domain::audit::{AuditAction, ChainBreak, ChainVerifier};
use sammen_domain::ids::PatientId;
use sammen_domain::projection::Projections;
use sammen_domain::worklist::{self, WorkItem};
use sammen_store::{EventFilter, PatientLog};

use crate::{AppResult, Sammen};

impl Sammen {
    /// Writes whole generated patient logs (synthetic data), audited as one import
    /// entry per patient, queued together so they share commits.
    pub async fn import(&self, logs: &[PatientLog]) -> AppResult<()> {
        self.store.import(logs).await?;
        let drafts = logs
            .iter()
            .map(|log| self.system_draft(AuditAction::Import, Some(log.patient), format!("patient/{}", log.patient)))
            .collect();
        self.audit.record_all(drafts).await.map(|_| ())
    }

    /// Rebuilds every projection from the log. Returns (patients, how many differed).
    pub async fn rebuild_projections(&self, mut progress: impl FnMut(u64)) -> AppResult<(u64, u64)> {
        let mut after = None;
        let (mut done, mut differed) = (0u64, 0u64);
        loop {
            let page = self.store.patient_ids(after, 500).await?;
            let Some(last) = page.last().copied() else { break };
            for id in page {
                let events = self.store.events(id, EventFilter::default()).await?;
                let rebuilt = Projections::fold(id, &events);
                if !self.projections_match(id, &rebuilt).await? {
                    differed += 1;
                }
                // The open work is derived from the projections and always rewritten.
                let work = self.work_of(&rebuilt).await?;
                self.store.replace_projections(id, &rebuilt, &work).await?;
                self.audit_system(AuditAction::Update, Some(id), format!("patient/{id}/projections")).await?;
                done += 1;
                progress(done);
            }
            after = Some(last);
        }
        Ok((done, differed))
    }

    /// The open work a patient's projections hold.
    pub async fn work_of(&self, p: &Projections) -> AppResult<Vec<WorkItem>> {
        let dir = self.directory().await?;
        let mut work: Vec<WorkItem> =
            p.courses.values().flat_map(|c| worklist::of_course(c, |org| dir.sector_of(org))).collect();
        work.extend(p.threads.values().flat_map(worklist::of_thread));
        Ok(work)
    }

    /// Whether the stored projections of a patient equal those folded from the log.
    async fn projections_match(&self, id: PatientId, rebuilt: &Projections) -> AppResult<bool> {
        if self.store.patient(id).await? != rebuilt.patient
            || self.store.course_summaries(id).await?.len() != rebuilt.courses.len()
        {
            return Ok(false);
        }
        for (cid, c) in &rebuilt.courses {
            if self.store.course(id, *cid).await?.as_ref() != Some(c) {
                return Ok(false);
            }
            let mut stored = self.store.threads(id, *cid).await?;
            let mut folded: Vec<_> = rebuilt.threads.values().filter(|t| t.course == *cid).cloned().collect();
            stored.sort_by_key(|t| t.id);
            folded.sort_by_key(|t| t.id);
            if stored != folded {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Checks the whole audit chain. Ok(number of entries) or the first break.
    pub async fn verify_audit(&self) -> AppResult<Result<u64, ChainBreak>> {
        let head = self.store.audit_head().await?;
        let mut verifier = ChainVerifier::default();
        let mut after = 0;
        loop {
            let page = self.store.audit_page(after, 5_000).await?;
            let Some(last) = page.last() else { break };
            after = last.seq;
            for e in &page {
                if let Err(b) = verifier.check(e) {
                    return Ok(Err(b));
                }
            }
        }
        Ok(verifier.finish(&head))
    }
}
