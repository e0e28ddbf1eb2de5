//! Operators' work on the whole database: imports, rebuilding projections from the
//! logs, and verifying the audit chain.

use sammen_domain::audit::{AuditAction, ChainBreak, ChainVerifier};
use sammen_domain::projection::Projections;
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
                let mut same = self.store.patient(id).await? == rebuilt.patient
                    && self.store.course_summaries(id).await?.len() == rebuilt.courses.len();
                for (cid, c) in &rebuilt.courses {
                    if !same {
                        break;
                    }
                    same = self.store.course(id, *cid).await?.as_ref() == Some(c);
                }
                if !same {
                    differed += 1;
                }
                self.store.replace_projections(id, &rebuilt).await?;
                self.audit_system(AuditAction::Update, Some(id), format!("patient/{id}/projections")).await?;
                done += 1;
                progress(done);
            }
            after = Some(last);
        }
        Ok((done, differed))
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
