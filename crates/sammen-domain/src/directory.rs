//! Organisations and users: the directory of who works where. This is reference data,
//! not patient data, so it is kept as plain rows rather than in a patient's log.

use serde::{Deserialize, Serialize};

use crate::error::DomainError;
use crate::ids::{OrgId, PatientId, UserId};
use crate::vocab::{LegalDomain, Profession, Sector};

/// A SOR code (Sundhedsvæsenets Organisationsregister), urn:oid:1.2.208.176.1.1.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct SorCode(String);

impl SorCode {
    pub fn parse(text: &str) -> Result<Self, DomainError> {
        let text = text.trim();
        if (6..=18).contains(&text.len()) && text.bytes().all(|b| b.is_ascii_digit()) {
            Ok(SorCode(text.to_string()))
        } else {
            Err(DomainError::InvalidSor)
        }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for SorCode {
    type Error = DomainError;
    fn try_from(s: String) -> Result<Self, DomainError> {
        SorCode::parse(&s)
    }
}

impl From<SorCode> for String {
    fn from(s: SorCode) -> String {
        s.0
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Organisation {
    pub id: OrgId,
    pub name: String,
    pub sector: Sector,
    pub sor: Option<SorCode>,
}

impl Organisation {
    pub fn legal_domain(&self) -> LegalDomain {
        self.sector.legal_domain()
    }
}

/// What kind of user someone is decides which rules apply to them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum UserKind {
    /// A health, social or employment professional employed by one organisation.
    Professional { profession: Profession, org: OrgId },
    /// A patient, who reaches their own record.
    Patient { patient: PatientId },
    /// A relative or a social worker the patient named to read on their behalf.
    Proxy { patient: PatientId },
    /// Runs the installation (users, organisations); sees no patient data.
    Operator,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    pub id: UserId,
    /// What the user signs in with. Never a CPR number.
    pub login: String,
    pub name: String,
    pub kind: UserKind,
    pub disabled: bool,
    /// A professional who manages their own organisation's users.
    #[serde(default)]
    pub org_admin: bool,
    /// Where notifications go (they carry no health data). Optional.
    #[serde(default)]
    pub email: Option<String>,
    /// The language they chose for the pages (`da` or `en`); Danish when unset.
    #[serde(default)]
    pub language: Option<String>,
}

impl User {
    pub fn org(&self) -> Option<OrgId> {
        match self.kind {
            UserKind::Professional { org, .. } => Some(org),
            _ => None,
        }
    }
    pub fn profession(&self) -> Option<Profession> {
        match self.kind {
            UserKind::Professional { profession, .. } => Some(profession),
            _ => None,
        }
    }
}

/// A login is lower-case letters, digits, dots, dashes and underscores, 2 to 64 long.
pub fn validate_login(login: &str) -> Result<(), DomainError> {
    let ok = (2..=64).contains(&login.len())
        && login.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(DomainError::field("login", "use 2 to 64 lower-case letters, digits, dots, dashes or underscores"))
    }
}

/// Free text that is required: trimmed, not empty, and at most `max` characters.
pub fn required_text(field: &'static str, text: &str, max: usize) -> Result<String, DomainError> {
    let text = text.trim();
    if text.is_empty() {
        return Err(DomainError::field(field, "it must not be empty"));
    }
    if text.chars().count() > max {
        return Err(DomainError::field(
            field,
            crate::Reason::new("it must be at most {max} characters").with("max", max),
        ));
    }
    printable(field, text)?;
    Ok(text.to_string())
}

/// Text a person wrote holds no control characters but line breaks and tabs: the others
/// (a NUL, an escape sequence) are never typed, PostgreSQL cannot store a NUL, and an
/// escape could repaint a terminal that shows the text.
pub fn printable(field: &'static str, text: &str) -> Result<(), DomainError> {
    if text.chars().any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t')) {
        return Err(DomainError::field(field, "it holds a control character"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sor_codes() {
        assert!(SorCode::parse("123456789012345").is_ok());
        assert!(SorCode::parse("12345").is_err());
        assert!(SorCode::parse("12345678901x").is_err());
        assert!(serde_json::from_str::<SorCode>("\"abc\"").is_err());
    }

    #[test]
    fn logins() {
        assert!(validate_login("gp.hansen").is_ok());
        assert!(validate_login("GP").is_err());
        assert!(validate_login("a").is_err());
        assert!(validate_login("with space").is_err());
    }

    #[test]
    fn required_text_trims_and_limits() {
        assert_eq!(required_text("title", "  Low back pain ", 80).unwrap(), "Low back pain");
        assert!(required_text("title", "   ", 80).is_err());
        assert!(required_text("title", &"x".repeat(81), 80).is_err());
        for bad in ["a\u{0}b", "red\u{1b}[31m", "bell\u{7}", "del\u{7f}", "c1\u{85}x"] {
            assert!(required_text("title", bad, 80).is_err(), "{bad:?}");
        }
        assert!(required_text("text", "two\nlines\tand a tab\r\n", 80).is_ok());
    }
}

/// A bearer token for systems and scripts. Only a hash of the secret is stored; the
/// secret is shown once, when the token is issued.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiToken {
    /// A short public id for listing and revoking; not the secret.
    pub id: String,
    pub user: UserId,
    /// SHA-256 of the secret, hex.
    pub hash: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: time::OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub expires_at: Option<time::OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub revoked_at: Option<time::OffsetDateTime>,
}

impl ApiToken {
    pub fn is_valid_at(&self, now: time::OffsetDateTime) -> bool {
        self.revoked_at.is_none() && self.expires_at.is_none_or(|exp| now < exp)
    }
}
