//! How to reach the people on a patient's care team: each professional's own routes
//! and their organisation's roles' routes (a message in Sammen, a phone with opening
//! hours, secure e-mail), with the expected answer time and whether each is open now.

use serde::Serialize;

use sammen_domain::audit::{AuditAction, AuditOutcome};
use sammen_domain::contact::{reach_now, Audience, ContactRoute, Reach, RouteHolder, RouteKind};
use sammen_domain::event::TeamMember;
use sammen_domain::ids::{CourseId, OrgId, PatientId, UserId};
use sammen_domain::policy::Access;
use sammen_domain::vocab::Sector;
use sammen_domain::DomainError;

use crate::records::AccessNote;
use crate::{Actor, AppError, AppResult, Sammen};

/// A route and whether it is open now.
#[derive(Debug, Clone, Serialize)]
pub struct RouteNow {
    #[serde(flatten)]
    pub route: ContactRoute,
    #[serde(flatten)]
    pub reach: Reach,
}

/// One member of the care team and how to reach them now.
#[derive(Debug, Clone, Serialize)]
pub struct MemberView {
    pub member: TeamMember,
    pub role: String,
    /// The professional's name, when the member is one person.
    pub name: Option<String>,
    pub organisation: String,
    pub sector: Option<Sector>,
    pub key_worker: bool,
    pub routes: Vec<RouteNow>,
}

#[derive(Debug, Clone, Serialize)]
pub struct CareTeamView {
    pub members: Vec<MemberView>,
    pub key_worker: Option<UserId>,
    pub key_worker_name: Option<String>,
    pub access: AccessNote,
}

/// Whether the actor may be shown a route: a line for professionals is not shown to a
/// patient or a proxy, and neither is a message in Sammen, which only professionals send.
pub fn route_shown_to(actor: &Actor, route: &ContactRoute) -> bool {
    actor.user.profession().is_some() || (route.audience == Audience::Everyone && route.kind != RouteKind::Message)
}

impl Sammen {
    /// The care team of a course, each member with how to reach them right now.
    pub async fn care_team_view(&self, actor: &Actor, patient: PatientId, course: CourseId) -> AppResult<CareTeamView> {
        let (_, c, granted) =
            self.authorized_course(actor, patient, course, Access::ReadCourse, AuditAction::Read).await?;
        let dir = self.directory().await?;
        let now = self.now();
        let routes_of = |pred: &dyn Fn(&RouteHolder) -> bool| -> Vec<RouteNow> {
            dir.routes
                .iter()
                .filter(|r| pred(&r.holder) && route_shown_to(actor, r))
                .map(|r| RouteNow { reach: reach_now(r, now), route: r.clone() })
                .collect()
        };
        let org_routes = |org: OrgId| routes_of(&|h| matches!(h, RouteHolder::Role { org: o, .. } if *o == org));
        let members = c
            .team
            .iter()
            .map(|m| {
                let org = dir.org(m.member.org());
                let (name, routes, key_worker) = match m.member {
                    TeamMember::Professional { user, org } => {
                        let mut own = routes_of(&|h| *h == RouteHolder::Professional { user });
                        own.extend(org_routes(org));
                        (dir.user(user).map(|u| u.name.clone()), own, c.key_worker == Some(user))
                    }
                    TeamMember::Organisation { org } => {
                        let kw = c.key_worker.is_some_and(|k| dir.user(k).is_some_and(|u| u.org() == Some(org)));
                        (None, org_routes(org), kw)
                    }
                };
                MemberView {
                    member: m.member,
                    role: m.role.clone(),
                    name,
                    organisation: org.map(|o| o.name.clone()).unwrap_or_default(),
                    sector: org.map(|o| o.sector),
                    key_worker,
                    routes,
                }
            })
            .collect();
        let object = format!("course/{course}/team");
        self.audit(actor, AuditAction::Read, granted.purpose, Some(patient), object, AuditOutcome::Permitted).await?;
        Ok(CareTeamView {
            members,
            key_worker: c.key_worker,
            key_worker_name: c.key_worker.and_then(|k| dir.user(k).map(|u| u.name.clone())),
            access: (&granted).into(),
        })
    }

    /// The routes by which someone (or a role) can be reached.
    pub async fn contact_routes(&self, holder: &RouteHolder) -> AppResult<Vec<ContactRoute>> {
        Ok(self.directory().await?.routes.iter().filter(|r| r.holder == *holder).cloned().collect())
    }

    /// A professional sets how they can be reached.
    pub async fn set_my_contact_routes(
        &self,
        actor: &Actor,
        routes: Vec<ContactRoute>,
    ) -> AppResult<Vec<ContactRoute>> {
        if actor.user.profession().is_none() {
            return Err(AppError::Forbidden);
        }
        let holder = RouteHolder::Professional { user: actor.user.id };
        self.replace_routes(holder, routes).await
    }

    /// An organisation's admin sets how one of its roles can be reached.
    pub async fn set_role_contact_routes(
        &self,
        actor: &Actor,
        role: &str,
        routes: Vec<ContactRoute>,
    ) -> AppResult<Vec<ContactRoute>> {
        let org = self.administered_org(actor).await?;
        let role = sammen_domain::directory::required_text("role", role, sammen_domain::decide::MAX_TITLE)?;
        self.replace_routes(RouteHolder::Role { org, role }, routes).await
    }

    /// Replaces a holder's routes (operators and the demo; no actor checks).
    pub async fn replace_routes(&self, holder: RouteHolder, routes: Vec<ContactRoute>) -> AppResult<Vec<ContactRoute>> {
        let mut checked = Vec::new();
        for r in routes {
            if r.holder != holder {
                return Err(DomainError::field("holder", "every route must be for the one being changed").into());
            }
            checked.push(r.check()?);
        }
        if checked.len() > 10 {
            return Err(DomainError::field("routes", "give at most ten ways to reach someone").into());
        }
        self.store.set_contact_routes(&holder, &checked).await?;
        self.directory_changed().await;
        Ok(checked)
    }
}
