//! The briefing before a visit and the timeline across sectors, for the reader who
//! opens a course: filtered by the policy, with the names of the people and places.

use serde::Serialize;
use std::collections::BTreeMap;

use sammen_domain::audit::{AuditAction, AuditOutcome};
use sammen_domain::briefing::{self, Briefing, TimelineItem};
use sammen_domain::directory::UserKind;
use sammen_domain::ids::{CourseId, PatientId};
use sammen_domain::policy::{self, Access, Withheld};
use sammen_store::EventFilter;

use crate::records::AccessNote;
use crate::{Actor, AppResult, Sammen};

/// Names of the people and organisations a view refers to, by id.
pub type Names = BTreeMap<String, String>;

#[derive(Debug, Clone, Serialize)]
pub struct BriefingView {
    pub patient_name: String,
    pub course_title: String,
    /// The course's version, for a change made from the briefing.
    pub version: u64,
    #[serde(flatten)]
    pub briefing: Briefing,
    pub withheld: Vec<Withheld>,
    pub names: Names,
    pub access: AccessNote,
}

#[derive(Debug, Clone, Serialize)]
pub struct TimelineView {
    pub patient_name: String,
    pub course_title: String,
    pub items: Vec<TimelineItem>,
    pub withheld: Vec<Withheld>,
    pub names: Names,
    pub access: AccessNote,
}

impl Sammen {
    /// One page of what the reader needs before the patient enters the room.
    pub async fn briefing(&self, actor: &Actor, patient: PatientId, course: CourseId) -> AppResult<BriefingView> {
        let (p, c, granted) =
            self.authorized_course(actor, patient, course, Access::ReadCourse, AuditAction::Read).await?;
        // The reader's last look at this course: their last permitted read or write of
        // it, kept from the audit trail.
        let since = self.store.last_look(patient, course, actor.user.id).await?;
        let events = match since {
            Some(since) => {
                let events = self
                    .store
                    .events(patient, EventFilter { course: Some(course), since: Some(since), ..Default::default() })
                    .await?;
                policy::filter_events(events, &c, &granted.filter).0
            }
            None => Vec::new(),
        };
        let (view, withheld) = policy::filter_course(&c, &granted.filter);
        let briefing = briefing::briefing(&view, since, &events, self.now());
        let names = self.names(patient).await?;
        let object = format!("course/{course}/briefing");
        self.audit(actor, AuditAction::Read, granted.purpose, Some(patient), object, AuditOutcome::Permitted).await?;
        Ok(BriefingView {
            patient_name: p.name,
            course_title: view.title.clone(),
            version: c.version,
            briefing,
            withheld,
            names,
            access: (&granted).into(),
        })
    }

    /// The course in time order: past, now and next.
    pub async fn timeline(&self, actor: &Actor, patient: PatientId, course: CourseId) -> AppResult<TimelineView> {
        let (p, c, granted) =
            self.authorized_course(actor, patient, course, Access::ReadCourse, AuditAction::Read).await?;
        let (view, withheld) = policy::filter_course(&c, &granted.filter);
        let items = briefing::timeline(&view, self.now());
        let names = self.names(patient).await?;
        let object = format!("course/{course}/timeline");
        self.audit(actor, AuditAction::Read, granted.purpose, Some(patient), object, AuditOutcome::Permitted).await?;
        Ok(TimelineView {
            patient_name: p.name,
            course_title: view.title.clone(),
            items,
            withheld,
            names,
            access: (&granted).into(),
        })
    }

    /// Every professional's and organisation's name, by id (from the directory cache),
    /// and the names of this patient's own logins (the patient agrees goals too). No
    /// other patient's name is ever in the map.
    async fn names(&self, patient: PatientId) -> AppResult<Names> {
        let dir = self.directory().await?;
        let mut names = Names::new();
        for u in &dir.users {
            let own =
                matches!(u.kind, UserKind::Patient { patient: p } | UserKind::Proxy { patient: p } if p == patient);
            if u.org().is_some() || own {
                names.insert(u.id.to_string(), u.name.clone());
            }
        }
        for o in &dir.orgs {
            names.insert(o.id.to_string(), o.name.clone());
        }
        Ok(names)
    }
}
