//! The audit trail: one entry for every read and write of patient data, chained by
//! hash so that an altered or removed entry is found by `sammen audit verify`.
//!
//! Each entry's hash covers the previous entry's hash and the entry's own fields in a
//! fixed text form. A separate head (the last sequence number and hash) is kept beside
//! the chain, so removing entries from the end is caught too.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fmt;
use time::OffsetDateTime;

use crate::clock::to_micros;
use crate::ids::PatientId;
use crate::vocab::Purpose;

/// The hash that stands before the first entry.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuditAction {
    Create,
    Read,
    Update,
    Query,
    Import,
    /// Signing in, or presenting a token or session (no patient).
    SignIn,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuditOutcome {
    Permitted,
    Denied,
    Refused,
    Conflict,
}

macro_rules! text_form {
    ($t:ty { $($v:ident => $s:literal),+ }) => {
        impl $t {
            pub fn as_str(&self) -> &'static str {
                match self { $(Self::$v => $s),+ }
            }
            pub fn parse(s: &str) -> Option<Self> {
                match s { $($s => Some(Self::$v),)+ _ => None }
            }
        }
    };
}
text_form!(AuditAction { Create => "create", Read => "read", Update => "update", Query => "query", Import => "import", SignIn => "sign_in" });
text_form!(AuditOutcome { Permitted => "permitted", Denied => "denied", Refused => "refused", Conflict => "conflict" });

/// What happened, before it has a place in the chain. Holds no CPR number, name or
/// health detail: the object is an opaque reference such as `course/<uuid>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditDraft {
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// `user/<uuid>`, or `system/<name>` for operators' commands.
    pub actor: String,
    /// The organisation the actor acted for, as `org/<uuid>`, if any.
    pub org: Option<String>,
    pub action: AuditAction,
    pub purpose: Purpose,
    pub patient: Option<PatientId>,
    pub object: String,
    pub outcome: AuditOutcome,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub seq: u64,
    #[serde(flatten)]
    pub draft: AuditDraft,
    pub prev_hash: String,
    pub hash: String,
}

impl AuditDraft {
    /// The fixed text the hash covers. Fields are separated by a unit separator that
    /// cannot occur in any of them.
    fn canonical(&self, seq: u64) -> String {
        let patient = self.patient.map(|p| p.to_string()).unwrap_or_default();
        [
            seq.to_string(),
            to_micros(self.at).to_string(),
            self.actor.clone(),
            self.org.clone().unwrap_or_default(),
            self.action.as_str().to_string(),
            self.purpose.as_str().to_string(),
            patient,
            self.object.clone(),
            self.outcome.as_str().to_string(),
        ]
        .join("\u{1f}")
    }

    /// A permitted read or write of a course by a user: their look at it, which "what
    /// changed since I last looked" starts from. Only the course itself, its briefing,
    /// timeline or history count: reading one message thread or the team's phone
    /// numbers is not having seen what changed.
    pub fn course_look(&self) -> Option<(PatientId, crate::ids::CourseId, crate::ids::UserId)> {
        if self.outcome != AuditOutcome::Permitted {
            return None;
        }
        let user = crate::ids::UserId::parse(self.actor.strip_prefix("user/")?).ok()?;
        let mut parts = self.object.strip_prefix("course/")?.split('/');
        let course = parts.next()?;
        if !matches!(parts.next(), None | Some("briefing" | "timeline" | "history")) {
            return None;
        }
        Some((self.patient?, crate::ids::CourseId::parse(course).ok()?, user))
    }

    /// Gives the draft its place after `prev_hash`.
    pub fn chain(self, seq: u64, prev_hash: &str) -> AuditEntry {
        let hash = entry_hash(prev_hash, &self.canonical(seq));
        AuditEntry { seq, draft: self, prev_hash: prev_hash.to_string(), hash }
    }
}

fn entry_hash(prev_hash: &str, canonical: &str) -> String {
    let mut h = Sha256::new();
    h.update(prev_hash.as_bytes());
    h.update(b"\n");
    h.update(canonical.as_bytes());
    hex::encode(h.finalize())
}

/// The last link: kept apart from the entries so truncation is detectable.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditHead {
    pub seq: u64,
    pub hash: String,
}

impl Default for AuditHead {
    fn default() -> Self {
        AuditHead { seq: 0, hash: GENESIS.to_string() }
    }
}

/// Chains drafts, in order, after `head` (one group commit).
pub fn chain_after(head: &AuditHead, drafts: &[AuditDraft]) -> Vec<AuditEntry> {
    let mut seq = head.seq;
    let mut prev = head.hash.clone();
    drafts
        .iter()
        .map(|d| {
            seq += 1;
            let e = d.clone().chain(seq, &prev);
            prev = e.hash.clone();
            e
        })
        .collect()
}

/// Where and why the chain is broken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainBreak {
    /// The first entry that is wrong or missing.
    pub seq: u64,
    pub reason: &'static str,
}

impl fmt::Display for ChainBreak {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "audit entry {} {}", self.seq, self.reason)
    }
}

/// Checks a chain incrementally, page by page, so verifying a large log needs little
/// memory.
#[derive(Debug)]
pub struct ChainVerifier {
    expected_seq: u64,
    prev_hash: String,
}

impl Default for ChainVerifier {
    fn default() -> Self {
        ChainVerifier { expected_seq: 1, prev_hash: GENESIS.to_string() }
    }
}

impl ChainVerifier {
    pub fn check(&mut self, e: &AuditEntry) -> Result<(), ChainBreak> {
        if e.seq != self.expected_seq {
            return Err(ChainBreak { seq: self.expected_seq, reason: "is missing" });
        }
        if e.prev_hash != self.prev_hash {
            return Err(ChainBreak { seq: e.seq, reason: "does not follow the entry before it" });
        }
        if entry_hash(&e.prev_hash, &e.draft.canonical(e.seq)) != e.hash {
            return Err(ChainBreak { seq: e.seq, reason: "was altered (its hash does not match its content)" });
        }
        self.expected_seq += 1;
        self.prev_hash = e.hash.clone();
        Ok(())
    }

    /// After the last entry: the chain must end where the head says.
    pub fn finish(&self, head: &AuditHead) -> Result<u64, ChainBreak> {
        let last = self.expected_seq - 1;
        if head.seq > last {
            return Err(ChainBreak { seq: last + 1, reason: "is missing (entries were removed from the end)" });
        }
        if head.seq < last || head.hash != self.prev_hash {
            return Err(ChainBreak { seq: head.seq.max(1), reason: "does not match the recorded head of the chain" });
        }
        Ok(last)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn draft(n: u8) -> AuditDraft {
        AuditDraft {
            at: datetime!(2026-01-01 00:00 UTC) + time::Duration::seconds(n.into()),
            actor: format!("user/{n}"),
            org: None,
            action: AuditAction::Read,
            purpose: Purpose::Treatment,
            patient: Some(PatientId::from_random_bytes([n; 16])),
            object: "course/x".into(),
            outcome: AuditOutcome::Permitted,
        }
    }

    fn chain(n: u8) -> (Vec<AuditEntry>, AuditHead) {
        let drafts: Vec<AuditDraft> = (1..=n).map(draft).collect();
        let out = chain_after(&AuditHead::default(), &drafts);
        let head = out.last().map(|e| AuditHead { seq: e.seq, hash: e.hash.clone() }).unwrap_or_default();
        (out, head)
    }

    fn verify(entries: &[AuditEntry], head: &AuditHead) -> Result<u64, ChainBreak> {
        let mut v = ChainVerifier::default();
        for e in entries {
            v.check(e)?;
        }
        v.finish(head)
    }

    #[test]
    fn an_intact_chain_verifies() {
        let (entries, head) = chain(5);
        assert_eq!(verify(&entries, &head), Ok(5));
        assert_eq!(verify(&[], &AuditHead::default()), Ok(0));
    }

    #[test]
    fn an_altered_entry_is_named() {
        let (mut entries, head) = chain(5);
        entries[2].draft.outcome = AuditOutcome::Denied;
        assert_eq!(verify(&entries, &head).unwrap_err().seq, 3);
    }

    #[test]
    fn a_removed_entry_is_named() {
        let (mut entries, head) = chain(5);
        entries.remove(1);
        let err = verify(&entries, &head).unwrap_err();
        assert_eq!(err.seq, 2);
        assert_eq!(err.reason, "is missing");
    }

    #[test]
    fn a_removed_tail_is_caught_by_the_head() {
        let (mut entries, head) = chain(5);
        entries.truncate(3);
        assert_eq!(verify(&entries, &head).unwrap_err().seq, 4);
    }

    #[test]
    fn a_rewritten_chain_does_not_match_the_head() {
        let (entries, head) = chain(5);
        // Someone recomputes every hash after changing entry 2: the head still differs.
        let mut forged = Vec::new();
        let mut prev = GENESIS.to_string();
        for (i, e) in entries.iter().enumerate() {
            let mut d = e.draft.clone();
            if i == 1 {
                d.actor = "user/someone-else".into();
            }
            let e = d.chain(e.seq, &prev);
            prev = e.hash.clone();
            forged.push(e);
        }
        assert!(verify(&forged, &head).is_err());
    }
}
