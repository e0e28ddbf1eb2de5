//! Who is calling: bearer tokens for systems and scripts, passwords and browser
//! sessions for people. Secrets are stored only as hashes: tokens and session cookies
//! (256 random bits) as SHA-256, passwords as Argon2id.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use std::collections::HashMap;
use std::sync::Mutex;
use subtle::ConstantTimeEq;
use time::{Duration, OffsetDateTime};

use sammen_domain::audit::{AuditAction, AuditDraft, AuditOutcome};
use sammen_domain::directory::{ApiToken, User, UserKind};
use sammen_domain::vocab::Purpose;
use sammen_domain::DomainError;
use sammen_store::Session;

use crate::{ids, token_hash, Actor, AppError, AppResult, Sammen};

/// How long a browser session lasts from sign-in.
pub const SESSION_LIFETIME: Duration = Duration::hours(8);
/// Failed sign-ins allowed in [`LOCK_WINDOW`] before the login (or the client) is locked.
pub const MAX_FAILURES: u32 = 5;
pub const LOCK_WINDOW: Duration = Duration::minutes(15);
pub const MIN_PASSWORD: usize = 10;

/// Counts failed sign-ins per login and per client address. Kept in memory: a
/// restart forgives, which is acceptable for a lock of minutes.
#[derive(Debug, Default)]
pub struct LoginThrottle(Mutex<HashMap<String, (u32, OffsetDateTime)>>);

impl LoginThrottle {
    /// When the key is locked, until when.
    fn locked_until(&self, key: &str, now: OffsetDateTime) -> Option<OffsetDateTime> {
        let map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        match map.get(key) {
            Some((failures, first)) if *failures >= MAX_FAILURES && now < *first + LOCK_WINDOW => {
                Some(*first + LOCK_WINDOW)
            }
            _ => None,
        }
    }

    fn fail(&self, key: &str, now: OffsetDateTime) {
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        // A flood of made-up logins must not grow the map for ever: forget windows
        // that have passed.
        if map.len() > 10_000 {
            map.retain(|_, (_, first)| now < *first + LOCK_WINDOW);
        }
        let entry = map.entry(key.to_string()).or_insert((0, now));
        if now >= entry.1 + LOCK_WINDOW {
            *entry = (0, now);
        }
        entry.0 += 1;
    }

    fn forget(&self, key: &str) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).remove(key);
    }
}

/// Hashes a password with Argon2id and a random salt.
pub fn hash_password(password: &str) -> AppResult<String> {
    if password.chars().count() < MIN_PASSWORD {
        return Err(DomainError::field(
            "password",
            sammen_domain::Reason::new("use at least {min} characters").with("min", MIN_PASSWORD),
        )
        .into());
    }
    let salt = SaltString::encode_b64(&ids::random_16()).map_err(|e| AppError::Internal(e.to_string()))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| AppError::Internal(format!("hashing a password: {e}")))
}

fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|h| Argon2::default().verify_password(password.as_bytes(), &h).is_ok())
}

/// A hash to verify against when the login does not exist, so a wrong login takes
/// as long as a wrong password and the two cannot be told apart.
fn decoy_hash() -> &'static str {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DECOY.get_or_init(|| hash_password("decoy-password-never-valid").unwrap_or_default())
}

impl Sammen {
    fn sign_in_draft(&self, actor: String, org: Option<String>, object: &str, outcome: AuditOutcome) -> AuditDraft {
        AuditDraft {
            at: self.now(),
            actor,
            org,
            action: AuditAction::SignIn,
            purpose: Purpose::Operations,
            patient: None,
            object: object.to_string(),
            outcome,
        }
    }

    /// Resolves a bearer token to an actor. Expired, revoked, unknown and disabled all
    /// look the same to the caller, and each refusal is audited.
    pub async fn authenticate_token(&self, secret: &str) -> AppResult<Actor> {
        let held = self.store.token_holder(&token_hash(secret)).await?;
        match held {
            Some((t, user)) if t.is_valid_at(self.now()) && !user.disabled => {
                self.actor_for(user, Purpose::Treatment).await
            }
            _ => {
                let who = held.map(|(t, _)| format!("user/{}", t.user)).unwrap_or_else(|| "anonymous".into());
                self.audit.record(self.sign_in_draft(who, None, "token", AuditOutcome::Denied)).await?;
                Err(AppError::Unauthenticated)
            }
        }
    }

    /// The actor for a known user.
    pub async fn actor_for(&self, user: User, purpose: Purpose) -> AppResult<Actor> {
        // An organisation never changes once added, so the cached directory's copy is
        // the stored one; one added by another process since is read from the store.
        let org = match user.org() {
            Some(id) => match self.directory().await?.org(id) {
                Some(o) => Some(o.clone()),
                None => self.store.organisation(id).await?,
            },
            None => None,
        };
        let purpose = match user.kind {
            UserKind::Patient { .. } => Purpose::OwnRecord,
            UserKind::Proxy { .. } => Purpose::OnBehalf,
            _ => purpose,
        };
        Ok(Actor { user, org, purpose })
    }

    /// Issues a bearer token for a user. Returns the stored token and the secret, which
    /// is shown once and never stored.
    pub async fn issue_token(&self, login: &str, ttl: Option<Duration>) -> AppResult<(ApiToken, String)> {
        let user = self.store.user_by_login(login).await?.ok_or(AppError::NotFound("user"))?;
        if user.disabled {
            return Err(DomainError::rejected("the user is disabled").into());
        }
        let secret = format!("smn_{}", ids::secret_hex());
        let now = self.now();
        let token = ApiToken {
            id: hex::encode(&self.ids.random_bytes()[..6]),
            user: user.id,
            hash: token_hash(&secret),
            created_at: now,
            expires_at: ttl.map(|t| now + t),
            revoked_at: None,
        };
        self.store.add_token(&token).await?;
        Ok((token, secret))
    }

    pub async fn tokens(&self) -> AppResult<Vec<(ApiToken, Option<User>)>> {
        let users = self.store.users().await?;
        Ok(self
            .store
            .tokens()
            .await?
            .into_iter()
            .map(|t| {
                let u = users.iter().find(|u| u.id == t.user).cloned();
                (t, u)
            })
            .collect())
    }

    pub async fn revoke_token(&self, id: &str) -> AppResult<()> {
        if self.store.revoke_token(id, self.now()).await? {
            Ok(())
        } else {
            Err(AppError::NotFound("active token"))
        }
    }

    /// Sets a user's password (Argon2id).
    pub async fn set_password(&self, login: &str, password: &str) -> AppResult<()> {
        let user = self.store.user_by_login(login).await?.ok_or(AppError::NotFound("user"))?;
        let hash = hash_password(password)?;
        self.store.set_password(user.id, &hash).await?;
        Ok(())
    }

    /// Signs a person in. Returns the session and the cookie secret. A wrong login,
    /// a wrong password and a disabled account get the same answer; after
    /// [`MAX_FAILURES`] failures the login and the client are locked for a while, and
    /// the lock-out message is the same whether or not the account exists.
    pub async fn sign_in(&self, login: &str, password: &str, client: &str) -> AppResult<(Session, String)> {
        let now = self.now();
        let login = login.trim().to_lowercase();
        let keys = [format!("login:{login}"), format!("client:{client}")];
        if let Some(until) = keys.iter().filter_map(|k| self.logins.locked_until(k, now)).max() {
            self.audit.record(self.sign_in_draft("anonymous".into(), None, "session", AuditOutcome::Refused)).await?;
            let minutes = ((until - now).whole_seconds() + 59) / 60;
            return Err(AppError::LockedOut { minutes: minutes.max(1) });
        }
        let user = self.store.user_by_login(&login).await?;
        let hash = match &user {
            Some(u) => self.store.password_hash(u.id).await?,
            None => None,
        };
        let verified = verify_password(password, hash.as_deref().unwrap_or_else(|| decoy_hash()));
        let user = match user {
            Some(u) if verified && hash.is_some() && !u.disabled => u,
            other => {
                for k in &keys {
                    self.logins.fail(k, now);
                }
                let who = other.map(|u| format!("user/{}", u.id)).unwrap_or_else(|| "anonymous".into());
                self.audit.record(self.sign_in_draft(who, None, "session", AuditOutcome::Denied)).await?;
                return Err(AppError::WrongCredentials);
            }
        };
        self.logins.forget(&keys[0]);
        let secret = ids::secret_hex();
        let session = Session {
            hash: token_hash(&secret),
            user: user.id,
            csrf_token: ids::secret_hex(),
            created_at: now,
            expires_at: now + SESSION_LIFETIME,
            ended_at: None,
        };
        self.store.add_session(&session).await?;
        let org = user.org().map(|o| format!("org/{o}"));
        self.audit
            .record(self.sign_in_draft(format!("user/{}", user.id), org, "session", AuditOutcome::Permitted))
            .await?;
        Ok((session, secret))
    }

    /// Resolves a session cookie. Expired, ended, forged and disabled all look the same.
    pub async fn authenticate_session(&self, secret: &str) -> AppResult<(Actor, Session)> {
        let session = self.store.session(&token_hash(secret)).await?.filter(|s| s.is_valid_at(self.now()));
        let Some(session) = session else {
            self.audit.record(self.sign_in_draft("anonymous".into(), None, "session", AuditOutcome::Denied)).await?;
            return Err(AppError::Unauthenticated);
        };
        let user = self.store.user(session.user).await?.filter(|u| !u.disabled).ok_or(AppError::Unauthenticated)?;
        Ok((self.actor_for(user, Purpose::Treatment).await?, session))
    }

    /// Records a request refused before it reached a use case (a missing or wrong
    /// CSRF token, an admin action by someone who is not an admin).
    pub async fn record_refusal(&self, actor: &Actor, object: &str) -> AppResult<()> {
        let draft =
            self.sign_in_draft(format!("user/{}", actor.user.id), actor.audit_org(), object, AuditOutcome::Refused);
        self.audit.record(draft).await.map(|_| ())
    }

    /// Ends a session (sign-out).
    pub async fn sign_out(&self, secret: &str) -> AppResult<()> {
        self.store.end_session(&token_hash(secret), self.now()).await?;
        Ok(())
    }
}

/// Compares a submitted CSRF token with the session's in constant time.
pub fn csrf_matches(session: &Session, submitted: &str) -> bool {
    secrets_match(&session.csrf_token, submitted)
}

/// Compares two secrets in constant time; an empty one never matches.
pub fn secrets_match(expected: &str, submitted: &str) -> bool {
    !expected.is_empty() && !submitted.is_empty() && bool::from(expected.as_bytes().ct_eq(submitted.as_bytes()))
}
