//! Information cards written for patients: what low back pain is, what each profession
//! does, rights on sick leave, what consent means. The texts are content files
//! (`content/cards/<id>.<lang>.md`, a small subset of Markdown: a `# title`, `##`
//! headings, paragraphs and `- ` lists), embedded at build time.

use axum::extract::Path;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use minijinja::context;
use serde::Serialize;

use sammen_app::AppError;

use super::{Web, WebError};
use crate::AppState;

include!(concat!(env!("OUT_DIR"), "/cards.rs"));

/// The order the cards are listed in.
const ORDER: &[&str] = &[
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

#[derive(Debug, Serialize, PartialEq)]
#[serde(tag = "type", content = "text", rename_all = "snake_case")]
pub enum Block {
    Heading(String),
    Paragraph(String),
    List(Vec<String>),
}

#[derive(Debug, Serialize)]
pub struct Card {
    pub id: String,
    pub title: String,
    pub blocks: Vec<Block>,
}

/// Parses a card. Everything is text; the template escapes it.
pub fn parse(id: &str, source: &str) -> Card {
    let mut lines = source.lines();
    let title = lines.next().unwrap_or("").trim_start_matches('#').trim().to_string();
    let mut blocks = Vec::new();
    let mut para: Vec<&str> = Vec::new();
    let mut list: Vec<String> = Vec::new();
    let flush = |para: &mut Vec<&str>, list: &mut Vec<String>, blocks: &mut Vec<Block>| {
        if !para.is_empty() {
            blocks.push(Block::Paragraph(para.join(" ")));
            para.clear();
        }
        if !list.is_empty() {
            blocks.push(Block::List(std::mem::take(list)));
        }
    };
    for line in lines {
        let line = line.trim();
        if line.is_empty() {
            flush(&mut para, &mut list, &mut blocks);
        } else if let Some(h) = line.strip_prefix("## ") {
            flush(&mut para, &mut list, &mut blocks);
            blocks.push(Block::Heading(h.trim().to_string()));
        } else if let Some(item) = line.strip_prefix("- ") {
            if !para.is_empty() {
                blocks.push(Block::Paragraph(para.join(" ")));
                para.clear();
            }
            list.push(item.trim().to_string());
        } else if !list.is_empty() && para.is_empty() {
            // A wrapped list item continues the last one.
            if let Some(last) = list.last_mut() {
                last.push(' ');
                last.push_str(line);
            }
        } else {
            para.push(line);
        }
    }
    flush(&mut para, &mut list, &mut blocks);
    Card { id: id.to_string(), title, blocks }
}

/// A card in a language, falling back to Danish.
pub fn card(id: &str, lang: &str) -> Option<Card> {
    let find = |l: &str| CARD_FILES.iter().find(|(f, _)| *f == format!("{id}.{l}.md")).map(|(_, s)| *s);
    find(lang).or_else(|| find("da")).map(|s| parse(id, s))
}

pub fn routes() -> axum::Router<AppState> {
    Router::new().route("/cards", get(index)).route("/cards/{id}", get(show))
}

async fn index(web: Web) -> Result<Response, WebError> {
    let cards: Vec<Card> = ORDER.iter().filter_map(|id| card(id, web.lang)).collect();
    web.page("cards/index.html", context! { page => "cards", cards => cards })
}

async fn show(web: Web, Path(id): Path<String>) -> Result<Response, WebError> {
    let card = card(&id, web.lang).ok_or_else(|| web.err(AppError::NotFound("card")))?;
    web.page("cards/card.html", context! { page => "cards", card => card })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_markdown_subset() {
        let c = parse("x", "# Titel\n\nEn linje\nmere.\n\n## Under\n- et\n- to\n  fortsat\n\nSlut.");
        assert_eq!(c.title, "Titel");
        assert_eq!(
            c.blocks,
            vec![
                Block::Paragraph("En linje mere.".into()),
                Block::Heading("Under".into()),
                Block::List(vec!["et".into(), "to fortsat".into()]),
                Block::Paragraph("Slut.".into()),
            ]
        );
    }

    #[test]
    fn every_listed_card_exists_in_both_languages() {
        for id in ORDER {
            for lang in ["da", "en"] {
                assert!(CARD_FILES.iter().any(|(f, _)| *f == format!("{id}.{lang}.md")), "{id}.{lang}.md");
            }
        }
    }
}
