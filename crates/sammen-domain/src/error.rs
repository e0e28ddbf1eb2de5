//! Errors the domain raises. Each has a stable code (for API clients) and a message
//! a person can act on. No message ever contains a CPR number, a name or health data.
//!
//! Why a change was refused is a [`Reason`]: an English template with named slots and
//! what fills them. The API says it in English; the pages look the template up in their
//! translation files (as gettext looks up its msgid) and say it in Danish.

use std::fmt;

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
    InvalidField { field: &'static str, reason: Reason },
    #[error("This is not a known {what}; use one of: {expected}.")]
    UnknownValue { what: &'static str, expected: String },
    #[error("The {what} does not exist.")]
    NotFound { what: &'static str },
    #[error("The record changed since version {expected} was read (it is now at version {actual}). Read it again and retry.")]
    Conflict { expected: u64, actual: u64 },
    #[error("This change is not allowed: {reason}.")]
    Rejected { reason: Reason },
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

    pub fn field(field: &'static str, reason: impl Into<Reason>) -> Self {
        DomainError::InvalidField { field, reason: reason.into() }
    }

    pub fn rejected(reason: impl Into<Reason>) -> Self {
        DomainError::Rejected { reason: reason.into() }
    }
}

/// Why something was refused, in words the reader can act on: a template such as
/// "it must be at most {max} characters" and the values of its slots. The template is
/// a literal in the code, so it is also the key its translations are found by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reason {
    pub template: &'static str,
    pub slots: Vec<(&'static str, Slot)>,
}

/// What fills a slot of a [`Reason`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Slot {
    /// Said as it is, in every language: a number, a code, an organisation's name.
    Text(String),
    /// A word of Sammen's own ("a handover"), translated like a template.
    Term(&'static str),
    /// A reason within a reason ("{why}. Nothing was sent").
    Reason(Box<Reason>),
}

impl Reason {
    pub fn new(template: &'static str) -> Self {
        Reason { template, slots: Vec::new() }
    }

    /// Fills slot `name` with `value`, said as it is.
    pub fn with(mut self, name: &'static str, value: impl fmt::Display) -> Self {
        self.slots.push((name, Slot::Text(value.to_string())));
        self
    }

    /// Fills slot `name` with one of Sammen's own words, which is translated.
    pub fn with_term(mut self, name: &'static str, term: &'static str) -> Self {
        self.slots.push((name, Slot::Term(term)));
        self
    }

    /// Fills slot `name` with another reason.
    pub fn with_reason(mut self, name: &'static str, reason: Reason) -> Self {
        self.slots.push((name, Slot::Reason(Box::new(reason))));
        self
    }

    /// The reason in any language: `say` turns a template or a term into that language
    /// (English is the template itself), and the slots are filled in its result.
    pub fn render(&self, say: &dyn Fn(&'static str) -> String) -> String {
        let template = say(self.template);
        fill(&template, |name| {
            self.slots.iter().find(|(n, _)| *n == name).map(|(_, slot)| match slot {
                Slot::Text(t) => t.clone(),
                Slot::Term(t) => say(t),
                Slot::Reason(r) => r.render(say),
            })
        })
    }
}

/// Fills the `{name}` slots of `template` with what `value` gives for each name, in one
/// pass, so a value holding braces is never read as a slot; a slot without a value stays.
pub fn fill(template: &str, value: impl Fn(&str) -> Option<String>) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        match after.find('}').and_then(|close| value(&after[..close]).map(|v| (v, close))) {
            Some((v, close)) => {
                out.push_str(&v);
                rest = &after[close + 1..];
            }
            None => {
                out.push('{');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

impl From<&'static str> for Reason {
    fn from(template: &'static str) -> Self {
        Reason::new(template)
    }
}

/// In JSON a reason is its English sentence, as in the API's error messages.
impl serde::Serialize for Reason {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render(&|t| t.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reason_fills_its_slots_in_any_language() {
        let r = Reason::new("{why}. Nothing was sent").with_reason(
            "why",
            Reason::new("{who} may not receive {what}").with("who", "Rygcenter").with_term("what", "a message"),
        );
        assert_eq!(r.to_string(), "Rygcenter may not receive a message. Nothing was sent");
        let danish = |t: &'static str| match t {
            "{why}. Nothing was sent" => "{why}. Intet blev sendt".to_string(),
            "{who} may not receive {what}" => "{who} må ikke modtage {what}".to_string(),
            "a message" => "en besked".to_string(),
            other => other.to_string(),
        };
        assert_eq!(r.render(&danish), "Rygcenter må ikke modtage en besked. Intet blev sendt");
        // A value with braces stays as it is; an unfilled slot is left in sight.
        let r = Reason::new("{who} and {nobody}").with("who", "{who}");
        assert_eq!(r.to_string(), "{who} and {nobody}");
    }
}
