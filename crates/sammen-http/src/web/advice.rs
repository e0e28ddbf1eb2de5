//! The words for advice topics and stances. The record keeps stable ids (`exercise`,
//! `gentle`); the pages show the reader's language, from the domain's topic list.

use sammen_app::briefing::TimelineView;
use sammen_domain::care::advice_topics;

/// A topic's words, or the id itself for a topic no longer in the list.
pub fn topic(id: &str, lang: &str) -> String {
    advice_topics()
        .iter()
        .find(|t| t.id == id)
        .map(|t| if lang == "en" { t.en.clone() } else { t.da.clone() })
        .unwrap_or_else(|| id.to_string())
}

/// A topic's and a stance's words, when the topic is known.
pub fn label(topic: &str, stance: &str, lang: &str) -> Option<(String, String)> {
    let t = advice_topics().iter().find(|t| t.id == topic)?;
    let s = t.stances.iter().find(|s| s.id == stance);
    Some(if lang == "en" {
        (t.en.clone(), s.map(|s| s.en.clone()).unwrap_or_else(|| stance.to_string()))
    } else {
        (t.da.clone(), s.map(|s| s.da.clone()).unwrap_or_else(|| stance.to_string()))
    })
}

/// Puts advice items on a timeline into words. The domain titles them `topic: stance`
/// from ids, which never contain `": "`, so the split is exact.
pub fn localise_timeline(view: &mut TimelineView, lang: &str) {
    for item in view.items.iter_mut().filter(|i| i.kind == "advice") {
        if let Some((t, s)) = item.title.split_once(": ").and_then(|(t, s)| label(t, s, lang)) {
            item.title = format!("{t}: {s}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_become_words_in_each_language() {
        let t = &advice_topics()[0];
        let s = &t.stances[0];
        assert_eq!(label(&t.id, &s.id, "da"), Some((t.da.clone(), s.da.clone())));
        assert_eq!(label(&t.id, &s.id, "en"), Some((t.en.clone(), s.en.clone())));
        assert_eq!(topic("no-such-topic", "da"), "no-such-topic");
    }
}
