//! The domain's refusals in the reader's language. The domain says why in English
//! ([`Reason`]: a template and its slots); a page looks the template up under `reasons`
//! in the translation file, as gettext looks up its msgid, and names the field by its
//! label under `fields`. English needs no `reasons`: the template is the English.
//! Whatever has no translation yet is said in English rather than not at all; a test
//! finds every template and field name in the code and fails on a missing translation.

use sammen_domain::error::fill;
use sammen_domain::{DomainError, Reason};

use super::render::strings;

/// A domain refusal as a sentence in `lang`; `None` for errors whose translation does
/// not depend on their details (those are translated by their code alone). On a form
/// that names some fields its own way ("Målet" for a goal's text), `own_label` gives
/// the form's label for a field, where it has one.
pub fn say_on(lang: &str, e: &DomainError, own_label: &dyn Fn(&str) -> Option<String>) -> Option<String> {
    let (key, slots) = match e {
        DomainError::InvalidField { field, reason } => {
            let field = own_label(field).unwrap_or_else(|| label(lang, field));
            ("invalid_field", vec![("field", field), ("reason", reason_in(lang, reason))])
        }
        DomainError::Rejected { reason } => ("rejected", vec![("reason", reason_in(lang, reason))]),
        DomainError::UnknownValue { what, expected } => {
            ("unknown_value", vec![("what", phrase(lang, what)), ("expected", expected.clone())])
        }
        _ => return None,
    };
    let template = strings(lang)["errors"][key].as_str()?;
    Some(fill(template, |name| slots.iter().find(|(n, _)| *n == name).map(|(_, v)| v.clone())))
}

/// A reason in `lang`.
pub fn reason_in(lang: &str, reason: &Reason) -> String {
    reason.render(&|template| phrase(lang, template))
}

/// One of the domain's templates or terms in `lang`: its translation, or itself.
fn phrase(lang: &str, english: &str) -> String {
    strings(lang)["reasons"][english].as_str().unwrap_or(english).to_string()
}

/// The label a professional's form (`forms.<form>` in the translations) gives a field
/// the domain names, if it has one. The forms ask for a day where the domain keeps an
/// instant (`expires_on` for `expires_at`).
pub fn form_label(lang: &str, form: &str, field: &str) -> Option<String> {
    let asked = match field {
        "expires_at" => "expires_on",
        other => other,
    };
    strings(lang)["forms"][form][asked].as_str().map(String::from)
}

/// A field's label in `lang`; a field without one is named in plain words.
fn label(lang: &str, field: &str) -> String {
    match strings(lang)["fields"][field].as_str() {
        Some(l) => l.to_string(),
        None => field.replace(['_', '.'], " "),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::path::Path;

    use sammen_domain::vocab::DataCategory;

    use super::*;

    fn say(lang: &str, e: &DomainError) -> Option<String> {
        say_on(lang, e, &|_| None)
    }

    /// Every Rust source file of the crates whose refusals reach a page.
    fn sources() -> Vec<(String, String)> {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let mut out = Vec::new();
        let mut dirs: Vec<_> =
            ["sammen-domain/src", "sammen-app/src", "sammen-http/src"].iter().map(|d| root.join(d)).collect();
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(&dir).expect("a source directory") {
                let path = entry.expect("a directory entry").path();
                if path.is_dir() {
                    dirs.push(path);
                } else if path.extension().is_some_and(|e| e == "rs") && !path.ends_with("web/refusal.rs") {
                    let text = std::fs::read_to_string(&path).expect("a source file");
                    out.push((path.display().to_string(), without_tests(&text)));
                }
            }
        }
        assert!(out.len() > 30, "the sources were not found");
        out
    }

    /// The source without its `#[cfg(test)]` modules: what tests say is said to no one.
    fn without_tests(source: &str) -> String {
        let mut out = String::new();
        let mut rest = source;
        while let Some(at) = rest.find("#[cfg(test)]") {
            out.push_str(&rest[..at]);
            let Some(open) = rest[at..].find('{') else { return out };
            let body = &rest[at + open..];
            let (mut depth, mut in_str, mut end) = (0i32, false, body.len());
            let bytes = body.as_bytes();
            let mut i = 0;
            while i < bytes.len() {
                match bytes[i] {
                    b'\\' if in_str => i += 1,
                    b'"' => in_str = !in_str,
                    // A character literal such as '{' is not a brace of the code.
                    b'\'' if !in_str && bytes.get(i + 2) == Some(&b'\'') => i += 2,
                    b'{' if !in_str => depth += 1,
                    b'}' if !in_str => {
                        depth -= 1;
                        if depth == 0 {
                            end = i + 1;
                            break;
                        }
                    }
                    _ => {}
                }
                i += 1;
            }
            rest = &body[end..];
        }
        out.push_str(rest);
        out
    }

    /// The string literal that starts `text` (after white space), if one does.
    fn literal(text: &str) -> Option<String> {
        let text = text.trim_start().strip_prefix('"')?;
        let mut out = String::new();
        let mut chars = text.chars();
        while let Some(c) = chars.next() {
            match c {
                '"' => return Some(out),
                '\\' => out.push(chars.next()?),
                c => out.push(c),
            }
        }
        None
    }

    /// The literal at argument `index` (0-based) of every call that starts with `call`,
    /// where that argument is a literal. Arguments are split at top-level commas.
    fn arguments(source: &str, call: &str, index: usize) -> Vec<String> {
        let mut found = Vec::new();
        for (at, _) in source.match_indices(call) {
            let mut rest = &source[at + call.len()..];
            for _ in 0..index {
                let (mut depth, mut in_str, mut end) = (0i32, false, None);
                let mut prev = ' ';
                for (i, c) in rest.char_indices() {
                    match c {
                        '"' if prev != '\\' => in_str = !in_str,
                        '(' | '[' | '{' if !in_str => depth += 1,
                        ')' | ']' | '}' if !in_str => depth -= 1,
                        ',' if !in_str && depth == 0 => {
                            end = Some(i);
                            break;
                        }
                        _ => {}
                    }
                    if depth < 0 {
                        break;
                    }
                    prev = c;
                }
                let Some(end) = end else { break };
                rest = &rest[end + 1..];
            }
            if let Some(l) = literal(rest) {
                found.push(l);
            }
        }
        found
    }

    /// The templates and terms the code can put in a refusal, as xgettext would find them.
    fn phrases() -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        for (_, s) in sources() {
            for (call, index) in [
                ("DomainError::field(", 1),
                ("Reason::new(", 0),
                ("rejected(", 0),
                ("with_term(", 1),
                ("recipient_previews(", 4),
            ] {
                out.extend(arguments(&s, call, index));
            }
            for (at, _) in s.match_indices("UnknownValue {") {
                let rest = &s[at..];
                if let Some(what) = rest.find("what:").and_then(|i| literal(&rest[i + 5..])) {
                    out.insert(what);
                }
            }
            // The vocabularies name what they are: `Sector, "sector" {`.
            for (at, _) in s.match_indices("vocabulary!(") {
                let body = &s[at..];
                let body = &body[..body.find("\n);").unwrap_or(body.len())];
                if let Some(what) = body.find(", \"").and_then(|i| literal(&body[i + 1..])) {
                    out.insert(what);
                }
            }
        }
        out.extend(DataCategory::ALL.iter().map(|c| c.as_words().to_string()));
        out
    }

    /// The field names the code refuses by: the literal first argument of every function
    /// that takes `field: &'static str` first (`DomainError::field`, `required_text`, ...).
    fn fields() -> BTreeSet<String> {
        let sources = sources();
        let mut takers = BTreeSet::new();
        for (_, s) in &sources {
            for (at, _) in s.match_indices("(field: &'static str") {
                let name = s[..at].rsplit(|c: char| !(c.is_alphanumeric() || c == '_')).next().unwrap_or("");
                if !name.is_empty() && s[..at].ends_with(&format!("fn {name}")) {
                    takers.insert(format!("{name}("));
                }
            }
        }
        assert!(takers.len() >= 5, "the functions that take a field were not found: {takers:?}");
        let mut out = BTreeSet::new();
        for (_, s) in &sources {
            for call in &takers {
                out.extend(arguments(s, call, 0));
            }
            // The days a course change names, checked together: `("due_by", *due_by)`.
            if let Some(at) = s.find("fn days(&self)") {
                let body = &s[at..];
                let body = &body[..body.find("\n    }\n").unwrap_or(body.len())];
                out.extend(body.match_indices("(\"").filter_map(|(i, _)| literal(&body[i + 1..])));
            }
        }
        out.remove("field");
        out
    }

    fn placeholders(s: &str) -> BTreeSet<String> {
        s.split('{').skip(1).filter_map(|p| p.split_once('}').map(|(n, _)| n.to_string())).collect()
    }

    #[test]
    fn the_extraction_finds_what_it_should() {
        let phrases = phrases();
        for known in [
            "the step is finished",
            "it must be at most {max} characters",
            "{why}. Nothing was sent",
            "a handover",
            "sector",
            "mental health",
            "write the time as HH:MM, e.g. 08:30",
        ] {
            assert!(phrases.contains(known), "the extraction missed {known:?}");
        }
        let fields = fields();
        for known in ["due_by", "story.history", "title", "to", "expires_at", "respond_by", "hours.from"] {
            assert!(fields.contains(known), "the extraction missed the field {known:?}");
        }
    }

    #[test]
    fn every_refusal_is_translated_to_danish() {
        let da = &strings("da")["reasons"];
        let mut missing = Vec::new();
        let mut wrong_slots = Vec::new();
        for p in phrases() {
            match da[&p].as_str() {
                None => missing.push(p),
                Some(t) if placeholders(t) != placeholders(&p) => wrong_slots.push(p),
                Some(_) => {}
            }
        }
        assert!(missing.is_empty(), "no Danish under \"reasons\" for: {missing:#?}");
        assert!(wrong_slots.is_empty(), "the Danish names other slots than: {wrong_slots:#?}");
        // And nothing translated that the code no longer says.
        let phrases = phrases();
        let stale: Vec<&String> = da.as_object().expect("reasons").keys().filter(|k| !phrases.contains(*k)).collect();
        assert!(stale.is_empty(), "translated but no longer in the code: {stale:#?}");
    }

    #[test]
    fn every_field_has_a_label_in_both_languages() {
        for lang in ["da", "en"] {
            let labels = &strings(lang)["fields"];
            let missing: Vec<String> = fields().into_iter().filter(|f| labels[f].as_str().is_none()).collect();
            assert!(missing.is_empty(), "no {lang} label under \"fields\" for: {missing:#?}");
        }
    }

    #[test]
    fn a_refusal_reads_in_danish_with_the_fields_label() {
        let e = DomainError::field("due_by", "a step cannot be due before the course started");
        let da = say("da", &e).expect("a sentence");
        assert!(da.contains(strings("da")["fields"]["due_by"].as_str().unwrap()), "{da}");
        assert!(!da.contains("due_by") && !da.contains("course started"), "{da}");
        let en = say("en", &e).expect("a sentence");
        assert!(en.contains("a step cannot be due before the course started") && !en.contains("due_by"), "{en}");
        let nested = DomainError::rejected(
            Reason::new("{why}. Nothing was sent").with_reason(
                "why",
                Reason::new("{who} may not receive {what} about {category}: the patient has not consented to that")
                    .with("who", "Jobcenter {x}")
                    .with_term("what", "a message")
                    .with_term("category", DataCategory::MentalHealth.as_words()),
            ),
        );
        let da = say("da", &nested).expect("a sentence");
        assert!(da.contains("Jobcenter {x}") && !da.contains("message") && !da.contains("mental"), "{da}");
    }
}
