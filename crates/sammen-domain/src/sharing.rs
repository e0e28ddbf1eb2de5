//! What the patient (and the law) let through: consents, objections, proxies and
//! break-glass openings. All are data on the patient's log, folded into
//! [`crate::projection::PatientState`] and read by [`crate::policy::decide`] on every
//! access, so a withdrawal or an expiry takes effect on the very next request.

use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use time::{Duration, OffsetDateTime};

use crate::directory::Organisation;
use crate::ids::{CourseId, ItemId, OrgId, UserId};
use crate::vocab::{DataCategory, LegalDomain, Sector};

/// How long a break-glass opening lasts.
pub const BREAK_GLASS: Duration = Duration::hours(4);
/// The longest a consent may run when health data goes outside the health domain
/// (Health Act §43-44: it lapses at the latest one year after it was given).
pub const MAX_CONSENT_OUTSIDE_HEALTH: Duration = Duration::days(365);
/// The longest any consent may run.
pub const MAX_CONSENT: Duration = Duration::days(3 * 365);

/// Who a consent lets in: one organisation, or every organisation of a sector.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Recipient {
    Organisation { org: OrgId },
    Sector { sector: Sector },
}

impl Recipient {
    pub fn includes(&self, org: &Organisation) -> bool {
        match self {
            Recipient::Organisation { org: o } => *o == org.id,
            Recipient::Sector { sector } => *sector == org.sector,
        }
    }

    /// Every place of a kind outside health care ("every jobcentre"): a blanket consent,
    /// which Retssikkerhedsloven §11a does not accept. None can be given now; one given
    /// before that rule lets no one in.
    pub fn is_blanket_outside_health(&self) -> bool {
        matches!(self, Recipient::Sector { sector } if sector.legal_domain() != LegalDomain::Health)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConsentMethod {
    /// Signed by the patient (or proxy).
    Written,
    /// Given by word of mouth and recorded by the professional who heard it.
    Oral,
}

/// Who gave the consent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum GivenBy {
    Patient,
    Proxy { user: UserId },
}

/// A recorded consent: a recipient may see these categories of this course, for this
/// purpose, until it expires or is withdrawn.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Consent {
    pub id: ItemId,
    pub recipient: Recipient,
    pub categories: BTreeSet<DataCategory>,
    pub purpose: String,
    pub course: CourseId,
    #[serde(with = "time::serde::rfc3339")]
    pub given_at: OffsetDateTime,
    pub given_by: GivenBy,
    pub method: ConsentMethod,
    /// Who recorded it: the patient themself, or the professional who heard it.
    pub recorded_by: UserId,
    /// Where the one who recorded it worked then (none for the patient; none in a state
    /// folded before it was kept).
    #[serde(default)]
    pub recorded_in: Option<OrgId>,
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub withdrawn_at: Option<OffsetDateTime>,
}

impl Consent {
    pub fn is_active_at(&self, now: OffsetDateTime) -> bool {
        self.given_at <= now && now < self.expires_at && self.withdrawn_at.is_none_or(|w| now < w)
    }

    /// Does this consent, now, let `org` see `category` of `course`?
    pub fn covers(&self, org: &Organisation, course: CourseId, category: DataCategory, now: OffsetDateTime) -> bool {
        self.is_active_at(now)
            && self.course == course
            && self.categories.contains(&category)
            && self.recipient.includes(org)
            && !self.recipient.is_blanket_outside_health()
    }
}

/// Whom the patient objects to: that objection wins over every other rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ObjectionTarget {
    Organisation { org: OrgId },
    Professional { user: UserId },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Objection {
    pub id: ItemId,
    pub target: ObjectionTarget,
    #[serde(with = "time::serde::rfc3339")]
    pub made_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub withdrawn_at: Option<OffsetDateTime>,
}

impl Objection {
    pub fn applies_to(&self, user: UserId, org: Option<OrgId>, now: OffsetDateTime) -> bool {
        self.applies(Some(user), org, now)
    }

    /// As [`Objection::applies_to`], for someone who may be a whole organisation (a
    /// message to a role there): an objection to one professional does not bar it.
    pub fn applies(&self, user: Option<UserId>, org: Option<OrgId>, now: OffsetDateTime) -> bool {
        let active = self.withdrawn_at.is_none_or(|w| now < w);
        active
            && match self.target {
                ObjectionTarget::Organisation { org: o } => Some(o) == org,
                ObjectionTarget::Professional { user: u } => Some(u) == user,
            }
    }
}

/// Someone the patient named to read on their behalf: a relative, or a social worker.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProxyGrant {
    pub user: UserId,
    pub relationship: String,
    #[serde(with = "time::serde::rfc3339")]
    pub named_at: OffsetDateTime,
}

/// An emergency opening by a health professional not on the care team.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BreakGlass {
    pub user: UserId,
    pub org: Option<OrgId>,
    pub reason: String,
    #[serde(with = "time::serde::rfc3339")]
    pub opened_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub until: OffsetDateTime,
}

impl BreakGlass {
    pub fn is_open_for(&self, user: UserId, now: OffsetDateTime) -> bool {
        self.user == user && self.opened_at <= now && now < self.until
    }
}

/// How long a consent may run for a recipient in `domain`.
pub fn max_consent_for(domain: LegalDomain) -> Duration {
    if domain == LegalDomain::Health {
        MAX_CONSENT
    } else {
        MAX_CONSENT_OUTSIDE_HEALTH
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    /// A blanket consent outside health care given before such consents were refused
    /// lets no one in; a sector within health care still does.
    #[test]
    fn a_blanket_consent_outside_health_lets_no_one_in() {
        let course = CourseId::from_random_bytes([1; 16]);
        let at = datetime!(2026-03-01 10:00 UTC);
        let consent = |sector| Consent {
            id: ItemId::from_random_bytes([2; 16]),
            recipient: Recipient::Sector { sector },
            categories: [DataCategory::Plan].into(),
            purpose: "Arbejde".into(),
            course,
            given_at: at,
            given_by: GivenBy::Patient,
            method: ConsentMethod::Written,
            recorded_by: UserId::from_random_bytes([3; 16]),
            recorded_in: None,
            expires_at: at + Duration::days(100),
            withdrawn_at: None,
        };
        let place =
            |sector| Organisation { id: OrgId::from_random_bytes([4; 16]), name: "Sted".into(), sector, sor: None };
        let now = at + Duration::days(1);
        for sector in [Sector::MunicipalEmployment, Sector::MunicipalSocial] {
            assert!(!consent(sector).covers(&place(sector), course, DataCategory::Plan, now), "{sector}");
        }
        assert!(consent(Sector::Hospital).covers(&place(Sector::Hospital), course, DataCategory::Plan, now));
    }
}
