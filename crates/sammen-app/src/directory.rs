//! Organisations and users. Operators manage them from the CLI; an organisation's
//! admins manage their own organisation's professionals.

use std::sync::Arc;

use sammen_domain::directory::{required_text, validate_login, Organisation, SorCode, User, UserKind};
use sammen_domain::ids::{OrgId, UserId};
use sammen_domain::vocab::{Profession, Sector};

use crate::{Actor, AppError, AppResult, Sammen};

/// The whole directory, cached in memory: it changes rarely and is read on every
/// briefing. Every change through `Sammen` drops the cache.
#[derive(Debug)]
pub struct Directory {
    pub orgs: Vec<Organisation>,
    pub users: Vec<User>,
}

impl Sammen {
    pub(crate) async fn directory(&self) -> AppResult<Arc<Directory>> {
        if let Some(dir) = self.directory.read().await.as_ref() {
            return Ok(dir.clone());
        }
        let dir = Arc::new(Directory { orgs: self.store.organisations().await?, users: self.store.users().await? });
        *self.directory.write().await = Some(dir.clone());
        Ok(dir)
    }

    async fn directory_changed(&self) {
        *self.directory.write().await = None;
    }

    pub async fn add_organisation(&self, name: &str, sector: Sector, sor: Option<&str>) -> AppResult<Organisation> {
        let org = Organisation {
            id: OrgId::from_random_bytes(self.ids.random_bytes()),
            name: required_text("name", name, 200)?,
            sector,
            sor: sor.map(SorCode::parse).transpose()?,
        };
        self.store.add_organisation(&org).await?;
        self.directory_changed().await;
        Ok(org)
    }

    pub async fn organisation_by_name_or_id(&self, key: &str) -> AppResult<Organisation> {
        let orgs = self.store.organisations().await?;
        orgs.into_iter()
            .find(|o| o.id.to_string() == key || o.name == key || o.sor.as_ref().is_some_and(|s| s.as_str() == key))
            .ok_or(AppError::NotFound("organisation"))
    }

    pub async fn add_user(&self, login: &str, name: &str, kind: UserKind) -> AppResult<User> {
        validate_login(login)?;
        if let UserKind::Professional { org, .. } = kind {
            self.store.organisation(org).await?.ok_or(AppError::NotFound("organisation"))?;
        }
        let user = User {
            id: UserId::from_random_bytes(self.ids.random_bytes()),
            login: login.to_string(),
            name: required_text("name", name, 200)?,
            kind,
            disabled: false,
            org_admin: false,
        };
        self.store.add_user(&user).await?;
        self.directory_changed().await;
        Ok(user)
    }

    pub async fn set_user_disabled(&self, login: &str, disabled: bool) -> AppResult<User> {
        let user = self.store.user_by_login(login).await?.ok_or(AppError::NotFound("user"))?;
        self.store.set_user_disabled(user.id, disabled).await?;
        self.directory_changed().await;
        Ok(User { disabled, ..user })
    }

    /// Makes a professional an admin of their own organisation (or stops it).
    pub async fn set_org_admin(&self, login: &str, admin: bool) -> AppResult<User> {
        let user = self.store.user_by_login(login).await?.ok_or(AppError::NotFound("user"))?;
        if user.org().is_none() {
            return Err(sammen_domain::DomainError::Rejected {
                reason: "only a professional can administer an organisation".into(),
            }
            .into());
        }
        self.store.set_org_admin(user.id, admin).await?;
        self.directory_changed().await;
        Ok(User { org_admin: admin, ..user })
    }

    /// Every user with their organisation, for `sammen user list`.
    pub async fn users(&self) -> AppResult<Vec<(User, Option<Organisation>)>> {
        let orgs = self.store.organisations().await?;
        Ok(self
            .store
            .users()
            .await?
            .into_iter()
            .map(|u| {
                let org = u.org().and_then(|id| orgs.iter().find(|o| o.id == id).cloned());
                (u, org)
            })
            .collect())
    }

    /// The organisation an admin may manage; anyone else is refused, and the attempt
    /// is on the audit trail.
    async fn administered_org(&self, actor: &Actor) -> AppResult<OrgId> {
        match (actor.user.org(), actor.user.org_admin) {
            (Some(org), true) => Ok(org),
            _ => {
                self.record_refusal(actor, "organisation/users").await?;
                Err(AppError::Forbidden)
            }
        }
    }

    /// The users of the admin's own organisation.
    pub async fn org_users(&self, actor: &Actor) -> AppResult<Vec<User>> {
        let org = self.administered_org(actor).await?;
        Ok(self.store.users().await?.into_iter().filter(|u| u.org() == Some(org)).collect())
    }

    /// An organisation admin adds a professional to their own organisation.
    pub async fn org_add_user(
        &self,
        actor: &Actor,
        login: &str,
        name: &str,
        profession: Profession,
    ) -> AppResult<User> {
        let org = self.administered_org(actor).await?;
        self.add_user(login, name, UserKind::Professional { profession, org }).await
    }

    /// An organisation admin disables or enables one of their own organisation's users.
    /// Someone else's user answers as not found.
    pub async fn org_set_disabled(&self, actor: &Actor, login: &str, disabled: bool) -> AppResult<User> {
        let org = self.administered_org(actor).await?;
        let user = self
            .store
            .user_by_login(login)
            .await?
            .filter(|u| u.org() == Some(org))
            .ok_or(AppError::NotFound("user"))?;
        if user.id == actor.user.id {
            return Err(sammen_domain::DomainError::Rejected { reason: "you cannot disable yourself".into() }.into());
        }
        self.store.set_user_disabled(user.id, disabled).await?;
        self.directory_changed().await;
        Ok(User { disabled, ..user })
    }
}
