//! Organisations and users. Operators manage them from the CLI; an organisation's
//! admins manage their own organisation's professionals.

use std::sync::Arc;

use sammen_domain::contact::ContactRoute;
use sammen_domain::directory::{required_text, validate_login, Organisation, SorCode, User, UserKind};
use sammen_domain::ids::{OrgId, UserId};
use sammen_domain::vocab::{Profession, Sector};

use crate::{Actor, AppError, AppResult, Sammen};

/// How long the cached directory is trusted.
pub const DIRECTORY_TTL: std::time::Duration = std::time::Duration::from_secs(30);

/// The directory and when it was loaded.
pub(crate) type Cached = (std::time::Instant, Arc<Directory>);

/// The whole directory, cached in memory: it changes rarely and is read on every
/// briefing. Every change through `Sammen` drops the cache.
#[derive(Debug)]
pub struct Directory {
    pub orgs: Vec<Organisation>,
    pub users: Vec<User>,
    pub routes: Vec<ContactRoute>,
}

impl Directory {
    pub fn org(&self, id: OrgId) -> Option<&Organisation> {
        self.orgs.iter().find(|o| o.id == id)
    }

    pub fn user(&self, id: UserId) -> Option<&User> {
        self.users.iter().find(|u| u.id == id)
    }

    pub fn sector_of(&self, id: OrgId) -> Option<Sector> {
        self.org(id).map(|o| o.sector)
    }

    /// The active professionals working at an organisation.
    pub fn staff(&self, org: OrgId) -> impl Iterator<Item = &User> {
        self.users.iter().filter(move |u| u.org() == Some(org) && !u.disabled)
    }
}

impl Sammen {
    /// The cached directory. Changes made through this `Sammen` drop the cache at once;
    /// changes by another process (`sammen user add` while the server runs) show within
    /// [`DIRECTORY_TTL`].
    pub(crate) async fn directory(&self) -> AppResult<Arc<Directory>> {
        if let Some((loaded, dir)) = self.directory.read().await.as_ref() {
            if loaded.elapsed() < DIRECTORY_TTL {
                return Ok(dir.clone());
            }
        }
        let dir = Arc::new(Directory {
            orgs: self.store.organisations().await?,
            users: self.store.users().await?,
            routes: self.store.contact_routes().await?,
        });
        *self.directory.write().await = Some((std::time::Instant::now(), dir.clone()));
        Ok(dir)
    }

    /// The cached directory itself, shared rather than copied: for naming, on every
    /// resource of a search, who wrote something.
    pub async fn shared_directory(&self) -> AppResult<Arc<Directory>> {
        self.directory().await
    }

    pub(crate) async fn directory_changed(&self) {
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
            email: None,
            language: None,
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

    /// Sets (or removes) where a user's notification e-mails go.
    pub async fn set_user_email(&self, login: &str, email: Option<&str>) -> AppResult<User> {
        let user = self.store.user_by_login(login).await?.ok_or(AppError::NotFound("user"))?;
        let email = match email.map(str::trim).filter(|e| !e.is_empty()) {
            Some(e) => {
                let ok = e.len() <= 200
                    && !e.contains(char::is_whitespace)
                    && e.split_once('@').is_some_and(|(a, d)| !a.is_empty() && d.contains('.'));
                if !ok {
                    return Err(sammen_domain::DomainError::field("email", "give an e-mail address").into());
                }
                Some(e.to_string())
            }
            None => None,
        };
        self.store.set_user_email(user.id, email.as_deref()).await?;
        self.directory_changed().await;
        Ok(User { email, ..user })
    }

    /// Remembers the language a person chose for the pages.
    pub async fn set_language(&self, actor: &Actor, language: &str) -> AppResult<()> {
        if !matches!(language, "da" | "en") {
            return Err(sammen_domain::DomainError::UnknownValue { what: "language", expected: "da, en".into() }.into());
        }
        self.store.set_user_language(actor.user.id, language).await?;
        self.directory_changed().await;
        Ok(())
    }

    /// Makes a professional an admin of their own organisation (or stops it).
    pub async fn set_org_admin(&self, login: &str, admin: bool) -> AppResult<User> {
        let user = self.store.user_by_login(login).await?.ok_or(AppError::NotFound("user"))?;
        if user.org().is_none() {
            return Err(
                sammen_domain::DomainError::rejected("only a professional can administer an organisation").into()
            );
        }
        self.store.set_org_admin(user.id, admin).await?;
        self.directory_changed().await;
        Ok(User { org_admin: admin, ..user })
    }

    /// The organisations and their active professionals, for choosing an owner, a
    /// receiver or a recipient. Reference data: no patient in it.
    pub async fn listing(&self) -> AppResult<(Vec<Organisation>, Vec<User>)> {
        let dir = self.directory().await?;
        let staff = dir.users.iter().filter(|u| u.org().is_some() && !u.disabled).cloned().collect();
        Ok((dir.orgs.clone(), staff))
    }

    /// Every contact route the actor may be shown: how each professional and each
    /// organisation role can be reached. Reference data, like [`Sammen::listing`]; a line
    /// for professionals is left out for a patient or a proxy.
    pub async fn contact_directory(&self, actor: &Actor) -> AppResult<Vec<ContactRoute>> {
        let routes = &self.directory().await?.routes;
        Ok(routes.iter().filter(|r| crate::contact::route_shown_to(actor, r)).cloned().collect())
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
    pub(crate) async fn administered_org(&self, actor: &Actor) -> AppResult<OrgId> {
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
            return Err(sammen_domain::DomainError::rejected("you cannot disable yourself").into());
        }
        self.store.set_user_disabled(user.id, disabled).await?;
        self.directory_changed().await;
        Ok(User { disabled, ..user })
    }
}
