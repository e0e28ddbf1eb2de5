//! Templates and the words on the pages. Templates escape by default (minijinja);
//! every string a person reads comes from the translation files `i18n/da.json` and
//! `i18n/en.json` (Danish first), dates and numbers are written the way each language
//! writes them, and times are shown in Danish time.

use minijinja::{Environment, Value};
use serde_json::Value as Json;
use std::sync::OnceLock;
use time::format_description::well_known::Rfc3339;
use time::{Date, OffsetDateTime};

use sammen_app::AppError;
use sammen_domain::clock::danish_offset;

use crate::Problem;

/// The templates, in one list so a missing one fails at start-up, not on a page.
const TEMPLATES: &[(&str, &str)] = &[
    ("base.html", include_str!("../../templates/base.html")),
    ("macros.html", include_str!("../../templates/macros.html")),
    ("login.html", include_str!("../../templates/login.html")),
    ("error.html", include_str!("../../templates/error.html")),
    ("operator.html", include_str!("../../templates/operator.html")),
    ("pro/worklist.html", include_str!("../../templates/pro/worklist.html")),
    ("pro/search.html", include_str!("../../templates/pro/search.html")),
    ("pro/patient.html", include_str!("../../templates/pro/patient.html")),
    ("pro/briefing.html", include_str!("../../templates/pro/briefing.html")),
    ("pro/timeline.html", include_str!("../../templates/pro/timeline.html")),
    ("timeline_body.html", include_str!("../../templates/timeline_body.html")),
    ("pro/thread.html", include_str!("../../templates/pro/thread.html")),
    ("pro/form.html", include_str!("../../templates/pro/form.html")),
    ("patient/course.html", include_str!("../../templates/patient/course.html")),
    ("patient/story.html", include_str!("../../templates/patient/story.html")),
    ("patient/progress.html", include_str!("../../templates/patient/progress.html")),
    ("patient/sharing.html", include_str!("../../templates/patient/sharing.html")),
    ("patient/access_log.html", include_str!("../../templates/patient/access_log.html")),
    ("cards/index.html", include_str!("../../templates/cards/index.html")),
    ("cards/card.html", include_str!("../../templates/cards/card.html")),
    ("svg/timeline.svg", include_str!("../../templates/svg/timeline.svg")),
    ("svg/chart.svg", include_str!("../../templates/svg/chart.svg")),
];

/// The translation table for a language: Danish unless English was chosen.
pub fn strings(lang: &str) -> &'static Json {
    static DA: OnceLock<Json> = OnceLock::new();
    static EN: OnceLock<Json> = OnceLock::new();
    if lang == "en" {
        EN.get_or_init(|| serde_json::from_str(include_str!("../../i18n/en.json")).expect("en.json parses"))
    } else {
        DA.get_or_init(|| serde_json::from_str(include_str!("../../i18n/da.json")).expect("da.json parses"))
    }
}

/// One string by its path, e.g. `common.sign_in`. A missing key shows the key, which a
/// test catches before a person would.
pub fn text(lang: &str, path: &str) -> String {
    let mut v = strings(lang);
    for part in path.split('.') {
        v = &v[part];
    }
    v.as_str().map(str::to_string).unwrap_or_else(|| path.to_string())
}

fn month(lang: &str, m: u8) -> String {
    strings(lang)["common"]["months"][usize::from(m) - 1].as_str().unwrap_or("").to_string()
}

/// An instant as RFC 3339, for the `instant` filter.
pub fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_default()
}

/// The last second of a day in Danish time, as RFC 3339: what "until and including 1 May"
/// means (23:59:59Z would be 00:59 or 01:59 on 2 May in Denmark, and be shown as 2 May).
/// Anything that is not a date is passed on as written, for the domain to refuse.
pub fn end_of_danish_day(day: &str) -> String {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    let Ok(d) = Date::parse(day, &format) else { return format!("{day}T23:59:59Z") };
    let last = time::PrimitiveDateTime::new(d, time::macros::time!(23:59:59));
    // The offset in force at the end of that day (the clocks change at night, never then).
    let offset = danish_offset(last.assume_utc());
    last.assume_offset(offset).format(&Rfc3339).unwrap_or_else(|_| format!("{day}T23:59:59Z"))
}

/// "23. november 2026" / "23 November 2026".
pub fn format_date(d: Date, lang: &str) -> String {
    let m = month(lang, u8::from(d.month()));
    if lang == "en" {
        format!("{} {m} {}", d.day(), d.year())
    } else {
        format!("{}. {m} {}", d.day(), d.year())
    }
}

/// In Danish time: "23. november 2026 kl. 09.30" / "23 November 2026, 09:30".
pub fn format_instant(t: OffsetDateTime, lang: &str) -> String {
    let local = t.to_offset(danish_offset(t));
    let day = format_date(local.date(), lang);
    if lang == "en" {
        format!("{day}, {:02}:{:02}", local.hour(), local.minute())
    } else {
        format!("{day} kl. {:02}.{:02}", local.hour(), local.minute())
    }
}

/// A number with one decimal: "3,7" / "3.7".
pub fn format_number(n: f64, lang: &str) -> String {
    let s = format!("{n:.1}");
    if lang == "en" {
        s
    } else {
        s.replace('.', ",")
    }
}

/// Nothing (a missing date) shows as nothing.
fn as_text(value: &Value) -> Option<String> {
    if value.is_none() || value.is_undefined() {
        None
    } else {
        Some(value.as_str().map(str::to_string).unwrap_or_else(|| value.to_string()))
    }
}

/// A care-team role in words. Roles are free text; the default role of each profession
/// (`general practice`, `physiotherapy`, ...) has a translation, any other role is
/// shown as it was written.
pub fn role_label(role: &str, lang: &str) -> String {
    strings(lang)["vocab"]["role"][role].as_str().unwrap_or(role).to_string()
}

fn role_filter(value: Value, lang: String) -> String {
    as_text(&value).map(|r| role_label(&r, &lang)).unwrap_or_default()
}

fn date_filter(value: Value, lang: String) -> String {
    let Some(value) = as_text(&value) else { return String::new() };
    let fmt = time::macros::format_description!("[year]-[month]-[day]");
    match Date::parse(&value, &fmt) {
        Ok(d) => format_date(d, &lang),
        Err(_) => match OffsetDateTime::parse(&value, &Rfc3339) {
            Ok(t) => format_date(t.to_offset(danish_offset(t)).date(), &lang),
            Err(_) => value,
        },
    }
}

fn instant_filter(value: Value, lang: String) -> String {
    let Some(value) = as_text(&value) else { return String::new() };
    OffsetDateTime::parse(&value, &Rfc3339).map(|t| format_instant(t, &lang)).unwrap_or(value)
}

fn number_filter(value: Value, lang: String) -> String {
    match f64::try_from(value.clone()) {
        Ok(n) => format_number(n, &lang),
        Err(_) => as_text(&value).unwrap_or_default(),
    }
}

/// `{{ t.some.count_text | count(n) }}`: a text with a `{count}` in it, written as
/// "singular|plural" ("{count} åben overdragelse|{count} åbne overdragelser"), said for n.
fn count_filter(text: String, n: i64) -> String {
    count(&text, n)
}

/// A "one|many" count text said for n (see `count_filter`).
pub fn count(text: &str, n: i64) -> String {
    let form = match text.split_once('|') {
        Some((one, _)) if n == 1 => one,
        Some((_, many)) => many,
        None => text,
    };
    form.replace("{count}", &n.to_string())
}

pub fn templates() -> &'static Environment<'static> {
    static ENV: OnceLock<Environment<'static>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Environment::new();
        // minijinja escapes .html and .xml by their names, but not .svg: the pictures
        // are drawn inline in the pages and carry titles people typed, so they are
        // escaped as HTML too.
        env.set_auto_escape_callback(|name| match name.rsplit('.').next() {
            Some("svg") => minijinja::AutoEscape::Html,
            _ => minijinja::default_auto_escape_callback(name),
        });
        for (name, source) in TEMPLATES {
            env.add_template(name, source).expect("templates parse");
        }
        env.add_filter("date", date_filter);
        env.add_filter("instant", instant_filter);
        env.add_filter("number", number_filter);
        env.add_filter("role", role_filter);
        env.add_filter("count", count_filter);
        env
    })
}

/// Renders a template to HTML.
pub fn render(name: &str, ctx: Value) -> Result<String, Problem> {
    templates()
        .get_template(name)
        .and_then(|t| t.render(ctx))
        .map_err(|e| AppError::Internal(format!("rendering {name}: {e:#}")).into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::{date, datetime};

    #[test]
    fn a_count_is_said_in_the_singular_for_one() {
        let text = || "{count} åben overdragelse|{count} åbne overdragelser".to_string();
        assert_eq!(count_filter(text(), 1), "1 åben overdragelse");
        assert_eq!(count_filter(text(), 2), "2 åbne overdragelser");
        assert_eq!(count_filter(text(), 0), "0 åbne overdragelser");
        assert_eq!(count_filter("{count} ting".into(), 1), "1 ting");
        // Every count text in the translations is used through the filter.
        for lang in ["da", "en"] {
            let mut texts = Vec::new();
            fn walk(v: &Json, out: &mut Vec<String>) {
                match v {
                    Json::Object(m) => m.values().for_each(|x| walk(x, out)),
                    Json::String(s) if s.contains("{count}") => out.push(s.clone()),
                    _ => {}
                }
            }
            walk(strings(lang), &mut texts);
            for t in texts {
                assert!(t.contains('|'), "{lang}: a count text without its singular (\"one|many\"): {t}");
            }
        }
        for (name, source) in TEMPLATES {
            assert!(!source.contains("replace(\"{count}\""), "{name}: a count said without `count`");
        }
    }

    #[test]
    fn a_consent_until_a_day_ends_that_day_in_denmark() {
        // Summer (CEST) and winter (CET): the day shown back is the day given.
        for (day, end) in [("2027-05-01", "2027-05-01T23:59:59+02:00"), ("2027-01-15", "2027-01-15T23:59:59+01:00")] {
            let at = end_of_danish_day(day);
            assert_eq!(at, end);
            let at = OffsetDateTime::parse(&at, &Rfc3339).unwrap();
            assert_eq!(format_date(at.to_offset(danish_offset(at)).date(), "da"), format_date(at.date(), "da"));
        }
        assert_eq!(end_of_danish_day("1. maj"), "1. majT23:59:59Z", "not a date: left for the domain to refuse");
    }

    #[test]
    fn the_pictures_escape_what_people_typed() {
        let typed = "<script>alert(1)</script><a href=x>";
        let ctx = minijinja::context! {
            t => minijinja::context! { timeline => minijinja::context! { picture_title => "T", today => "I dag" } },
            picture => minijinja::context! {
                width => 100, height => 50, today_x => 10, axis_y => 40, description => typed,
                lanes => vec![minijinja::context! { y => 20, label => typed }],
                ticks => Vec::<Value>::new(),
                marks => vec![minijinja::context! { x => 10, y => 20, kind => "step", phase => "next", anchor => "item-1", label => typed }],
            },
        };
        let svg = render("svg/timeline.svg", ctx).unwrap();
        assert!(!svg.contains("<script>") && !svg.contains("<a href=x>"), "{svg}");
        assert!(svg.contains("&lt;script&gt;"), "{svg}");
    }

    #[test]
    fn dates_and_numbers_as_each_language_writes_them() {
        assert_eq!(format_date(date!(2026 - 11 - 23), "da"), "23. november 2026");
        assert_eq!(format_date(date!(2026 - 11 - 23), "en"), "23 November 2026");
        assert_eq!(format_instant(datetime!(2026-07-01 07:30 UTC), "da"), "1. juli 2026 kl. 09.30");
        assert_eq!(format_instant(datetime!(2026-01-01 07:30 UTC), "en"), "1 January 2026, 08:30");
        assert_eq!(format_number(3.66, "da"), "3,7");
        assert_eq!(format_number(3.66, "en"), "3.7");
    }

    #[test]
    fn both_languages_have_the_same_keys() {
        fn paths(v: &Json, prefix: &str, out: &mut Vec<String>) {
            match v {
                Json::Object(m) => {
                    for (k, v) in m {
                        paths(v, &format!("{prefix}{k}."), out);
                    }
                }
                Json::Array(a) => out.push(format!("{prefix}[{}]", a.len())),
                _ => out.push(prefix.to_string()),
            }
        }
        let (mut da, mut en) = (Vec::new(), Vec::new());
        paths(strings("da"), "", &mut da);
        paths(strings("en"), "", &mut en);
        // The domain's reasons are English already: only other languages translate them
        // (`web::refusal` checks those).
        da.retain(|k| !k.starts_with("reasons."));
        da.sort();
        en.sort();
        let only_da: Vec<_> = da.iter().filter(|k| !en.contains(k)).collect();
        let only_en: Vec<_> = en.iter().filter(|k| !da.contains(k)).collect();
        assert!(only_da.is_empty() && only_en.is_empty(), "only in da: {only_da:?}; only in en: {only_en:?}");
    }

    /// Resolves a dotted path in a translation table.
    fn lookup<'a>(table: &'a Json, path: &str) -> &'a Json {
        path.split('.').fold(table, |v, part| &v[part])
    }

    /// Every `t.some.key` a template names exists in both languages (a key followed by
    /// `[` is a group looked up by a value, and must be a group).
    #[test]
    fn every_key_a_template_names_is_translated() {
        let mut missing = Vec::new();
        for (name, source) in TEMPLATES {
            let bytes = source.as_bytes();
            for (at, _) in source.match_indices("t.") {
                if at > 0 && (bytes[at - 1].is_ascii_alphanumeric() || bytes[at - 1] == b'_' || bytes[at - 1] == b'.') {
                    continue;
                }
                let rest = &source[at + 2..];
                let len = rest
                    .find(|c: char| !(c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '.'))
                    .unwrap_or(rest.len());
                let path = rest[..len].trim_end_matches('.');
                if path.is_empty() {
                    continue;
                }
                let group = rest[len..].starts_with('[');
                for lang in ["da", "en"] {
                    let v = lookup(strings(lang), path);
                    let ok = if group { v.is_object() || v.is_array() } else { v.is_string() || v.is_object() };
                    if !ok {
                        missing.push(format!("{name}: {lang} {path}"));
                    }
                }
            }
        }
        missing.dedup();
        assert!(missing.is_empty(), "untranslated: {missing:#?}");
    }

    /// Every word of the vocabularies the pages show has a translation.
    #[test]
    fn every_vocabulary_word_is_translated() {
        use sammen_domain::vocab::{DataCategory, Profession, Purpose, Sector};
        let mut words: Vec<String> = Vec::new();
        words.extend(DataCategory::ALL.iter().map(|c| format!("vocab.category.{}", c.as_str())));
        words.extend(DataCategory::ALL.iter().map(|c| format!("vocab.category_plain.{}", c.as_str())));
        words.extend(Sector::ALL.iter().map(|s| format!("vocab.sector.{}", s.as_str())));
        words.extend(Sector::ALL.iter().map(|s| format!("vocab.sector_all.{}", s.as_str())));
        words.extend(Profession::ALL.iter().map(|p| format!("vocab.profession.{}", p.as_str())));
        words.extend(Profession::ALL.iter().map(|p| format!("vocab.role.{}", sammen_app::role_name(*p))));
        words.extend(Purpose::ALL.iter().map(|p| format!("patient.access_log.purpose.{}", p.as_str())));
        for kind in sammen_domain::worklist::WorkKind::ALL {
            let w = serde_json::to_value(kind).unwrap();
            words.push(format!("pro.worklist.kind.{}", w.as_str().unwrap()));
            words.push(format!("pro.worklist.why.{}", w.as_str().unwrap()));
        }
        for lang in ["da", "en"] {
            for w in &words {
                assert!(lookup(strings(lang), w).is_string(), "{lang}: {w}");
            }
        }
    }

    #[test]
    fn every_template_parses() {
        for (name, _) in TEMPLATES {
            assert!(templates().get_template(name).is_ok(), "{name}");
        }
    }
}
