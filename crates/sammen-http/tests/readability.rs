//! Patient texts must be easy to read. The information cards in `content/cards/` and the
//! patient part of the Danish user interface (`i18n/da.json`, key `"patient"`) are held to
//! LIX ≤ 40 ("easy": everyday texts, simple news). Every card exists in Danish and English,
//! and every card uses only the small text format the card renderer understands.
//!
//! LIX = words / sentences + 100 × long words / words, where
//! - a word is a maximal run of letters (any Unicode letter; digits are not words),
//! - a long word has more than 6 letters,
//! - a sentence ends at `.`, `!`, `?` or `:` and at the end of every paragraph, heading and
//!   list item; a stretch with no word in it is not a sentence.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

use serde_json::Value;

/// The highest LIX a patient text may have.
const MAX_LIX: f64 = 40.0;

/// The cards that must exist (more are welcome).
const REQUIRED_CARDS: [&str; 11] = [
    "low-back-pain",
    "gp",
    "physiotherapist",
    "chiropractor",
    "spine-centre",
    "municipal-rehabilitation",
    "jobcentre",
    "psychiatry",
    "social-psychiatry",
    "sick-leave-rights",
    "consent",
];

/// Word, long-word and sentence counts of a text; add them up to score several texts as one.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Counts {
    words: usize,
    long_words: usize,
    sentences: usize,
}

impl Counts {
    fn add(&mut self, other: Counts) {
        self.words += other.words;
        self.long_words += other.long_words;
        self.sentences += other.sentences;
    }

    /// LIX, or `None` for a text without words.
    fn lix(&self) -> Option<f64> {
        if self.words == 0 || self.sentences == 0 {
            return None;
        }
        let words = self.words as f64;
        Some(words / self.sentences as f64 + 100.0 * self.long_words as f64 / words)
    }
}

fn is_sentence_end(c: char) -> bool {
    matches!(c, '.' | '!' | '?' | ':')
}

/// Counts one block of text (a paragraph, heading, list item or UI string). The end of the
/// block ends a sentence.
fn count_block(text: &str) -> Counts {
    let mut counts = Counts::default();
    let mut letters = 0usize; // letters in the word being read
    let mut words_in_sentence = 0usize;
    // A non-letter (or the end of the block) ends the word being read, if any.
    for c in text.chars().map(Some).chain([None]) {
        if c.is_some_and(char::is_alphabetic) {
            letters += 1;
            continue;
        }
        if letters > 0 {
            counts.words += 1;
            counts.long_words += usize::from(letters > 6);
            words_in_sentence += 1;
            letters = 0;
        }
        let ends_sentence = c.is_none_or(is_sentence_end);
        if ends_sentence && words_in_sentence > 0 {
            counts.sentences += 1;
            words_in_sentence = 0;
        }
    }
    counts
}

/// Splits a card into blocks: each heading and list item is a block, and so is each
/// paragraph (consecutive plain lines up to a blank line, heading or list item). The
/// markers `#`, `##` and `- ` are not letters, so they are left in.
fn card_blocks(text: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut paragraph: Vec<&str> = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        let single = line.starts_with('#') || line.starts_with("- ");
        if line.is_empty() || single {
            if !paragraph.is_empty() {
                blocks.push(paragraph.join(" "));
                paragraph.clear();
            }
            if single {
                blocks.push(line.to_string());
            }
        } else {
            paragraph.push(line);
        }
    }
    if !paragraph.is_empty() {
        blocks.push(paragraph.join(" "));
    }
    blocks
}

fn count_card(text: &str) -> Counts {
    let mut counts = Counts::default();
    for block in card_blocks(text) {
        counts.add(count_block(&block));
    }
    counts
}

/// LIX of a card in the card format, or `None` if it has no words.
fn lix(text: &str) -> Option<f64> {
    count_card(text).lix()
}

/// Removes `{name}`-style placeholders, braces and all.
fn drop_placeholders(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut depth = 0usize;
    for c in text.chars() {
        match c {
            '{' => depth += 1,
            '}' if depth > 0 => depth -= 1,
            _ if depth == 0 => out.push(c),
            _ => {}
        }
    }
    out
}

/// Every string under `value`, however deeply nested in objects and arrays.
fn collect_strings<'a>(value: &'a Value, out: &mut Vec<&'a str>) {
    match value {
        Value::String(s) => out.push(s),
        Value::Array(items) => items.iter().for_each(|v| collect_strings(v, out)),
        Value::Object(map) => map.values().for_each(|v| collect_strings(v, out)),
        _ => {}
    }
}

fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn cards_dir() -> PathBuf {
    crate_dir().join("content").join("cards")
}

/// The card files of one language as (id, path), sorted by id.
fn card_files(lang: &str) -> Vec<(String, PathBuf)> {
    let dir = cards_dir();
    let suffix = format!(".{lang}.md");
    let mut files: Vec<(String, PathBuf)> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .map(|entry| entry.expect("directory entry").path())
        .filter_map(|path| {
            let name = path.file_name()?.to_str()?.to_string();
            let id = name.strip_suffix(&suffix)?.to_string();
            Some((id, path))
        })
        .collect();
    files.sort();
    files
}

fn read(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

fn ids(files: &[(String, PathBuf)]) -> BTreeSet<String> {
    files.iter().map(|(id, _)| id.clone()).collect()
}

#[test]
fn every_danish_card_is_easy_to_read() {
    let cards = card_files("da");
    assert!(!cards.is_empty(), "no Danish cards in {}", cards_dir().display());
    let mut too_hard = Vec::new();
    for (id, path) in &cards {
        let counts = count_card(&read(path));
        let score = counts.lix().unwrap_or_else(|| panic!("card {id} (Danish) has no words"));
        println!(
            "LIX {score:5.1}  {id}.da.md  ({} words, {} sentences, {} long words)",
            counts.words, counts.sentences, counts.long_words
        );
        if score > MAX_LIX {
            too_hard.push(format!("{id}.da.md has LIX {score:.1}"));
        }
    }
    assert!(too_hard.is_empty(), "cards above LIX {MAX_LIX}: {}", too_hard.join("; "));
}

#[test]
fn patient_ui_strings_are_easy_to_read() {
    let path = crate_dir().join("i18n").join("da.json");
    let json: Value =
        serde_json::from_str(&read(&path)).unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()));
    let Some(patient) = json.get("patient") else {
        println!("no \"patient\" key in {} yet: nothing to score", path.display());
        return;
    };
    let mut strings = Vec::new();
    collect_strings(patient, &mut strings);
    let mut counts = Counts::default();
    for s in strings {
        counts.add(count_block(&drop_placeholders(s)));
    }
    let Some(score) = counts.lix() else {
        println!("the \"patient\" strings have no words yet: nothing to score");
        return;
    };
    println!(
        "LIX {score:5.1}  i18n/da.json \"patient\" ({} words, {} sentences, {} long words)",
        counts.words, counts.sentences, counts.long_words
    );
    assert!(score <= MAX_LIX, "the patient UI strings in i18n/da.json have LIX {score:.1}, above {MAX_LIX}");
}

#[test]
fn every_card_exists_in_danish_and_english() {
    let da = ids(&card_files("da"));
    let en = ids(&card_files("en"));
    let only_da: Vec<_> = da.difference(&en).collect();
    let only_en: Vec<_> = en.difference(&da).collect();
    assert!(only_da.is_empty(), "cards without an English version: {only_da:?}");
    assert!(only_en.is_empty(), "cards without a Danish version: {only_en:?}");

    let required: BTreeSet<&str> = REQUIRED_CARDS.iter().copied().collect();
    let missing: Vec<_> = required.iter().filter(|id| !da.contains(**id)).collect();
    assert!(missing.is_empty(), "required cards missing: {missing:?}");
}

#[test]
fn every_card_starts_with_a_title() {
    for lang in ["da", "en"] {
        for (id, path) in card_files(lang) {
            let text = read(&path);
            let first = text.lines().next().unwrap_or("");
            assert!(first.starts_with("# "), "{id}.{lang}.md must start with a `# Title` line, found {first:?}");
        }
    }
}

/// The renderer knows only: `# Title` on the first line, `## Subheading`, `- ` list items and
/// plain paragraphs. Anything that looks like other Markdown or HTML would show up raw.
#[test]
fn every_card_uses_only_the_simple_format() {
    for lang in ["da", "en"] {
        for (id, path) in card_files(lang) {
            let text = read(&path);
            for (n, line) in text.lines().enumerate() {
                let at = format!("{id}.{lang}.md line {}", n + 1);
                if n > 0 {
                    assert!(!line.starts_with("# "), "{at}: only the first line may be a `# Title`");
                }
                if line.starts_with('#') {
                    assert!(
                        line.starts_with("# ") || line.starts_with("## "),
                        "{at}: headings are `# Title` or `## Subheading`"
                    );
                }
                // Invisible characters would split words for the counter and for search.
                for invisible in ['\u{00AD}', '\u{200B}', '\u{200C}', '\u{200D}', '\u{2060}', '\u{FEFF}'] {
                    assert!(!line.contains(invisible), "{at}: invisible character {invisible:?}");
                }
                for bad in ["<", ">", "[", "]", "`", "*", "|", "__", "!["] {
                    assert!(!line.contains(bad), "{at}: {bad:?} is not part of the card format: {line:?}");
                }
                let starts_numbered = line
                    .split_once(". ")
                    .is_some_and(|(head, _)| !head.is_empty() && head.chars().all(|c| c.is_ascii_digit()));
                assert!(!starts_numbered, "{at}: numbered lists are not part of the card format");
            }
        }
    }
}

/// Cards are short: 120 to 300 words, title included.
#[test]
fn every_card_has_a_readable_length() {
    for lang in ["da", "en"] {
        for (id, path) in card_files(lang) {
            let words = count_card(&read(&path)).words;
            println!("{words:4} words  {id}.{lang}.md");
            assert!((120..=300).contains(&words), "{id}.{lang}.md has {words} words, expected 120 to 300");
        }
    }
}

// ---- the counter itself, on examples counted by hand ----

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9
}

#[test]
fn lix_of_one_short_sentence() {
    // Jeg(3) har(3) ondt(4) i(1) ryggen(6): 5 words, none longer than 6 letters,
    // 1 sentence. LIX = 5/1 + 100*0/5 = 5.
    let c = count_card("Jeg har ondt i ryggen.");
    assert_eq!(c, Counts { words: 5, long_words: 0, sentences: 1 });
    assert!(close(lix("Jeg har ondt i ryggen.").unwrap(), 5.0));
}

#[test]
fn lix_with_long_words_and_two_sentences() {
    // Bevægelse(9) hjælper(7) | Hvil(4) ikke(4) for(3) meget(5): 6 words, 2 long,
    // 2 sentences. LIX = 6/2 + 100*2/6 = 3 + 33.333… = 36.333…
    let text = "Bevægelse hjælper. Hvil ikke for meget!";
    assert_eq!(count_card(text), Counts { words: 6, long_words: 2, sentences: 2 });
    assert!(close(lix(text).unwrap(), 3.0 + 100.0 / 3.0));
}

#[test]
fn letters_are_counted_not_bytes() {
    // Ærligt has 6 letters (7 bytes in UTF-8): not long. Ærligere has 8 letters: long.
    // "Ærligt sagt." = 2 words, 0 long, 1 sentence: LIX = 2.
    // "Ærligere." = 1 word, 1 long, 1 sentence: LIX = 1 + 100 = 101.
    assert!(close(lix("Ærligt sagt.").unwrap(), 2.0));
    assert!(close(lix("Ærligere.").unwrap(), 101.0));
}

#[test]
fn digits_are_not_words() {
    // Uge(3) og(2) uge(3): "8" and "22" are not words. 3 words, 1 sentence. LIX = 3.
    assert_eq!(count_card("Uge 8 og uge 22."), Counts { words: 3, long_words: 0, sentences: 1 });
}

#[test]
fn a_colon_ends_a_sentence() {
    // Husk(4) | tag(3) en(2) ven(3) med(3): 5 words, 2 sentences. LIX = 5/2 = 2.5.
    assert!(close(lix("Husk: tag en ven med.").unwrap(), 2.5));
}

#[test]
fn headings_and_list_items_end_sentences() {
    // Heading "Ondt i ryggen" (3 words, 1 sentence, no full stop), paragraph
    // "Det går over." (3 words, 1 sentence), items "Feber" (1) and "Vægttab uden grund"
    // (3; Vægttab has 7 letters, long): 10 words, 1 long, 4 sentences.
    // LIX = 10/4 + 100*1/10 = 2.5 + 10 = 12.5.
    let text = "# Ondt i ryggen\n\nDet går over.\n\n- Feber\n- Vægttab uden grund\n";
    assert_eq!(count_card(text), Counts { words: 10, long_words: 1, sentences: 4 });
    assert!(close(lix(text).unwrap(), 12.5));
}

#[test]
fn a_paragraph_may_span_lines() {
    // "Det her er" + "en sætning." is one paragraph: Det her er en sætning(7, long):
    // 5 words, 1 long, 1 sentence. LIX = 5 + 100*1/5 = 25.
    assert_eq!(count_card("Det her er\nen sætning.\n"), Counts { words: 5, long_words: 1, sentences: 1 });
}

#[test]
fn a_paragraph_without_a_full_stop_is_one_sentence_and_stray_stops_are_not() {
    // "Ring til lægen" ends at the blank line: 1 sentence. "..." has no words: no sentence.
    // Ring til lægen | Ja: 4 words, 2 sentences. LIX = 2.
    assert_eq!(count_card("Ring til lægen\n\n...\n\nJa!!"), Counts { words: 4, long_words: 0, sentences: 2 });
}

#[test]
fn a_text_without_words_has_no_lix() {
    assert_eq!(lix(""), None);
    assert_eq!(lix("# 112\n\n- 8.\n"), None);
}

#[test]
fn placeholders_are_dropped_before_counting() {
    // "Hej {name}, velkommen." becomes "Hej , velkommen.": Hej(3) velkommen(9):
    // 2 words, 1 long, 1 sentence. LIX = 2 + 50 = 52.
    let text = drop_placeholders("Hej {name}, velkommen.");
    assert_eq!(text, "Hej , velkommen.");
    assert!(close(count_block(&text).lix().unwrap(), 52.0));
    assert_eq!(drop_placeholders("{a}{b} og {c}"), " og ");
}

#[test]
fn nested_patient_strings_are_all_found() {
    let v: Value = serde_json::json!({
        "title": "Dit forløb",
        "timeline": { "next": "Næste skridt", "steps": ["Træning", { "why": "Fordi {reason}" }] },
        "count": 3
    });
    let mut out = Vec::new();
    collect_strings(&v, &mut out);
    out.sort();
    assert_eq!(out, vec!["Dit forløb", "Fordi {reason}", "Næste skridt", "Træning"]);
}
