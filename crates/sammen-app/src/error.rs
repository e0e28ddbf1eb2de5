//! The application's one error type. The HTTP crate renders it once (a JSON problem
//! now; an OperationOutcome and a friendly page later); the CLI prints its message.

use sammen_domain::DomainError;
use sammen_store::StoreError;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum AppError {
    #[error(transparent)]
    Domain(#[from] DomainError),
    /// No valid credentials.
    #[error("Sign in first: the token is missing, unknown, expired or revoked.")]
    Unauthenticated,
    /// Wrong login or password; says nothing of which.
    #[error("The login or the password is wrong.")]
    WrongCredentials,
    /// Too many failed sign-ins; the same for existing and unknown logins.
    #[error("Too many failed attempts. Wait {minutes} minutes and try again.")]
    LockedOut { minutes: i64 },
    /// The patient objects to this professional or their organisation.
    #[error("The patient has objected to your access to their record.")]
    Objected,
    /// Known caller, not allowed. Used only where the caller may know the thing exists.
    #[error("You do not have access to this.")]
    Forbidden,
    #[error("The {0} does not exist, or you do not have access to it.")]
    NotFound(&'static str),
    #[error("{0} is already registered.")]
    Duplicate(String),
    /// A write that names no course goes to the patient's one open course; the patient
    /// has `open` (other than one) that the caller may see.
    #[error("{}", course_not_named(*open))]
    CourseNotNamed { open: usize },
    /// Something failed inside Sammen. The detail goes to the log, never to the caller.
    #[error("Something went wrong inside Sammen. Nothing was changed. Try again; if it keeps happening, give the request id to support.")]
    Internal(String),
}

impl AppError {
    pub fn code(&self) -> &'static str {
        match self {
            AppError::Domain(d) => d.code(),
            AppError::Unauthenticated => "unauthenticated",
            AppError::WrongCredentials => "wrong_credentials",
            AppError::LockedOut { .. } => "locked_out",
            AppError::Objected => "objected",
            AppError::Forbidden => "forbidden",
            AppError::NotFound(_) => "not_found",
            AppError::Duplicate(_) => "duplicate",
            AppError::CourseNotNamed { .. } => "course_not_named",
            AppError::Internal(_) => "internal",
        }
    }
}

fn course_not_named(open: usize) -> String {
    match open {
        0 => "The patient has no open course to add this to.".into(),
        n => format!("The patient has {n} open courses: name the one to add this to."),
    }
}

impl From<StoreError> for AppError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict { expected, actual } => DomainError::Conflict { expected, actual }.into(),
            StoreError::NotFound(what) => AppError::NotFound(what),
            StoreError::Duplicate(what) => {
                let mut s = what.to_string();
                if let Some(first) = s.get_mut(0..1) {
                    first.make_ascii_uppercase();
                }
                AppError::Duplicate(s)
            }
            StoreError::Corrupt(detail) | StoreError::Backend(detail) => AppError::Internal(detail),
        }
    }
}
