//! Errors the domain raises. Each has a stable code (for API clients) and a message
//! a person can act on. No message ever contains a CPR number, a name or health data.

use thiserror::Error;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DomainError {
    #[error("The {what} is not valid.")]
    InvalidId { what: &'static str },
    #[error("The CPR number is not valid: {reason}.")]
    InvalidCpr { reason: &'static str },
    #[error("The SOR code is not valid: it must be 6 to 18 digits.")]
    InvalidSor,
    #[error("The field '{field}' is not valid: {reason}.")]
    InvalidField { field: &'static str, reason: String },
    #[error("This is not a known {what}; use one of: {expected}.")]
    UnknownValue { what: &'static str, expected: String },
    #[error("The {what} does not exist.")]
    NotFound { what: &'static str },
    #[error("The record changed since version {expected} was read (it is now at version {actual}). Read it again and retry.")]
    Conflict { expected: u64, actual: u64 },
    #[error("This change is not allowed: {reason}.")]
    Rejected { reason: String },
}

impl DomainError {
    /// A short, stable code for clients and tests.
    pub fn code(&self) -> &'static str {
        match self {
            DomainError::InvalidId { .. } => "invalid_id",
            DomainError::InvalidCpr { .. } => "invalid_cpr",
            DomainError::InvalidSor => "invalid_sor",
            DomainError::InvalidField { .. } => "invalid_field",
            DomainError::UnknownValue { .. } => "unknown_value",
            DomainError::NotFound { .. } => "not_found",
            DomainError::Conflict { .. } => "conflict",
            DomainError::Rejected { .. } => "rejected",
        }
    }

    pub fn field(field: &'static str, reason: impl Into<String>) -> Self {
        DomainError::InvalidField { field, reason: reason.into() }
    }
}
