//! Pictures the server draws: the timeline across sectors and the progress chart. Here
//! only the geometry is computed (numbers); the SVG itself comes from templates that
//! escape every word, with a title and a description for screen readers and the same
//! facts as a table or a list beside it.

use serde::Serialize;
use std::collections::BTreeMap;
use time::{Date, Duration, Month};

use sammen_app::briefing::TimelineView;
use sammen_domain::briefing::{Phase, Trend};

use super::render::{count, format_date, format_number, strings, text};

const WIDTH: f64 = 720.0;
const LEFT: f64 = 160.0;
const RIGHT: f64 = 20.0;
const LANE: f64 = 34.0;
const TOP: f64 = 28.0;

#[derive(Debug, Serialize)]
pub struct Lane {
    pub y: f64,
    pub label: String,
}

#[derive(Debug, Serialize)]
pub struct Tick {
    pub x: f64,
    pub label: String,
}

#[derive(Debug, Serialize)]
pub struct Mark {
    pub x: f64,
    pub y: f64,
    pub kind: &'static str,
    pub phase: Phase,
    /// The anchor of the item in the list below the picture.
    pub anchor: String,
    pub label: String,
}

#[derive(Debug, Serialize)]
pub struct TimelinePicture {
    pub width: f64,
    pub height: f64,
    pub lanes: Vec<Lane>,
    pub ticks: Vec<Tick>,
    pub marks: Vec<Mark>,
    pub today_x: f64,
    pub axis_y: f64,
    pub description: String,
}

/// Lays the timeline out: one lane per organisation, time from the first item to a
/// little after today, a tick per month.
pub fn timeline(view: &TimelineView, today: Date, lang: &str) -> TimelinePicture {
    let mut lanes: BTreeMap<String, usize> = BTreeMap::new();
    let lane_of = |org: Option<String>| org.unwrap_or_default();
    for i in &view.items {
        let key = lane_of(i.org.map(|o| o.to_string()));
        let n = lanes.len();
        lanes.entry(key).or_insert(n);
    }
    let first = view.items.iter().map(|i| i.on).min().unwrap_or(today).min(today);
    let last = view.items.iter().map(|i| i.on).max().unwrap_or(today).max(today);
    // Dates are checked where they are written; a picture must never fail on one anyway.
    let last = last.checked_add(Duration::days(7)).unwrap_or(last);
    let span = ((last - first).whole_days().max(1)) as f64;
    let x_of = |d: Date| LEFT + (WIDTH - LEFT - RIGHT) * ((d - first).whole_days() as f64 / span);
    let axis_y = TOP + LANE * lanes.len() as f64 + 4.0;
    let lane_rows: Vec<Lane> = {
        let mut v: Vec<(usize, String)> = lanes.iter().map(|(k, n)| (*n, k.clone())).collect();
        v.sort();
        v.into_iter()
            .map(|(n, key)| Lane {
                y: TOP + LANE * n as f64 + LANE / 2.0,
                label: short(&view.names.get(&key).cloned().unwrap_or_else(|| text(lang, "timeline.no_place")), 22),
            })
            .collect()
    };
    let mut ticks = Vec::new();
    let months = (span / 30.0).ceil() as usize;
    let every = (months / 8).max(1);
    let (mut year, mut month) = (first.year(), u8::from(first.month()));
    for k in 0.. {
        let Ok(d) = Month::try_from(month).and_then(|m| Date::from_calendar_date(year, m, 1)) else { break };
        if d > last {
            break;
        }
        if d >= first && k % every == 0 {
            let short = strings(lang)["common"]["months_short"][usize::from(month) - 1].as_str().unwrap_or("");
            let label = if month == 1 { format!("{short} {year}") } else { short.to_string() };
            ticks.push(Tick { x: x_of(d), label });
        }
        (year, month) = if month == 12 { (year + 1, 1) } else { (year, month + 1) };
    }
    let marks = view
        .items
        .iter()
        .map(|i| {
            let lane = lanes[&lane_of(i.org.map(|o| o.to_string()))];
            let kind_label = text(lang, &format!("timeline.kind.{}", i.kind));
            // An episode's title is its kind's code, said in words as the list below says it.
            let title = match i.kind {
                "episode" => text(lang, &format!("vocab.episode_kind.{}", i.title)),
                _ => i.title.clone(),
            };
            Mark {
                x: x_of(i.on),
                y: TOP + LANE * lane as f64 + LANE / 2.0,
                kind: i.kind,
                phase: i.phase,
                anchor: format!("item-{}", i.id),
                label: format!("{} {}: {}", format_date(i.on, lang), kind_label, title),
            }
        })
        .collect();
    let description = text(lang, "timeline.description")
        .replace("{items}", &count(&text(lang, "timeline.items"), view.items.len() as i64))
        .replace("{places}", &count(&text(lang, "timeline.places"), lane_rows.len() as i64))
        .replace("{from}", &format_date(first, lang))
        .replace("{to}", &format_date(today, lang));
    TimelinePicture {
        width: WIDTH,
        height: axis_y + 30.0,
        lanes: lane_rows,
        ticks,
        marks,
        today_x: x_of(today),
        axis_y,
        description,
    }
}

/// A label cut to fit the picture's margin; the full name is in the list below it.
fn short(label: &str, max: usize) -> String {
    if label.chars().count() <= max {
        label.to_string()
    } else {
        let cut: String = label.chars().take(max - 1).collect();
        format!("{}…", cut.trim_end())
    }
}

#[derive(Debug, Serialize)]
pub struct Point {
    pub x: f64,
    pub y: f64,
    pub label: String,
}

#[derive(Debug, Serialize)]
pub struct ChartPicture {
    pub width: f64,
    pub height: f64,
    pub pain: Vec<Point>,
    pub psfs: Vec<Point>,
    pub pain_line: String,
    pub psfs_line: String,
    pub grid: Vec<Tick>,
    pub description: String,
    pub rows: Vec<ChartRow>,
}

#[derive(Debug, Serialize)]
pub struct ChartRow {
    pub on: String,
    pub pain: Option<u8>,
    pub psfs: Option<String>,
}

/// Pain and the functional scale (both 0-10) over time, for the chart and its table.
pub fn progress_chart(trend: &[Trend], lang: &str) -> Option<ChartPicture> {
    if trend.is_empty() {
        return None;
    }
    let (w, h, left, top, bottom) = (480.0, 220.0, 36.0, 12.0, 28.0);
    let first = trend.first().map(|t| t.on)?;
    let last = trend.last().map(|t| t.on)?;
    let span = ((last - first).whole_days().max(1)) as f64;
    let x = |d: Date| {
        if trend.len() == 1 {
            (w + left) / 2.0
        } else {
            left + (w - left - 12.0) * ((d - first).whole_days() as f64 / span)
        }
    };
    let y = |v: f64| top + (h - top - bottom) * (1.0 - v / 10.0);
    let pain: Vec<Point> = trend
        .iter()
        .filter_map(|t| {
            t.pain.map(|p| Point { x: x(t.on), y: y(f64::from(p)), label: format!("{}: {p}", format_date(t.on, lang)) })
        })
        .collect();
    let psfs: Vec<Point> = trend
        .iter()
        .filter_map(|t| {
            t.psfs.map(|p| Point {
                x: x(t.on),
                y: y(p),
                label: format!("{}: {}", format_date(t.on, lang), format_number(p, lang)),
            })
        })
        .collect();
    let line = |pts: &[Point]| pts.iter().map(|p| format!("{:.1},{:.1}", p.x, p.y)).collect::<Vec<_>>().join(" ");
    let grid = [0.0, 5.0, 10.0].iter().map(|v| Tick { x: y(*v), label: format!("{v}") }).collect();
    let description = text(lang, "chart.description")
        .replace("{from}", &format_date(first, lang))
        .replace("{to}", &format_date(last, lang))
        .replace(
            "{pain_first}",
            &trend.iter().find_map(|t| t.pain).map(|p| p.to_string()).unwrap_or_else(|| "-".into()),
        )
        .replace(
            "{pain_last}",
            &trend.iter().rev().find_map(|t| t.pain).map(|p| p.to_string()).unwrap_or_else(|| "-".into()),
        );
    let rows = trend
        .iter()
        .map(|t| ChartRow { on: format_date(t.on, lang), pain: t.pain, psfs: t.psfs.map(|p| format_number(p, lang)) })
        .collect();
    Some(ChartPicture {
        width: w,
        height: h,
        pain_line: line(&pain),
        psfs_line: line(&psfs),
        pain,
        psfs,
        grid,
        description,
        rows,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use sammen_app::records::AccessNote;
    use sammen_domain::briefing::TimelineItem;
    use sammen_domain::ids::ItemId;
    use sammen_domain::policy::Relation;
    use sammen_domain::vocab::Purpose;

    #[test]
    fn a_date_at_the_end_of_the_calendar_does_not_break_the_picture() {
        let item = |on: Date| TimelineItem {
            id: ItemId::from_random_bytes([1; 16]),
            kind: "step",
            on,
            until: None,
            late: false,
            title: "Trin".into(),
            org: None,
            who: None,
            why_plain: String::new(),
            status: String::new(),
            phase: Phase::Next,
        };
        let view = TimelineView {
            patient_name: String::new(),
            course_title: "Forløb".into(),
            items: vec![item(Date::MIN), item(Date::MAX)],
            withheld: Vec::new(),
            names: Default::default(),
            access: AccessNote { relation: Relation::CareTeam, purpose: Purpose::Treatment },
        };
        let today = time::macros::date!(2026 - 11 - 25);
        let picture = timeline(&view, today, "da");
        assert_eq!(picture.marks.len(), 2);
        assert!(picture.marks.iter().all(|m| m.x.is_finite()));
    }

    #[test]
    fn an_episode_is_named_in_words_not_by_its_code() {
        let view = TimelineView {
            patient_name: String::new(),
            course_title: "Forløb".into(),
            items: vec![TimelineItem {
                id: ItemId::from_random_bytes([2; 16]),
                kind: "episode",
                on: time::macros::date!(2026 - 11 - 02),
                until: None,
                late: false,
                title: "sick_leave_start".into(),
                org: None,
                who: None,
                why_plain: String::new(),
                status: String::new(),
                phase: Phase::Next,
            }],
            withheld: Vec::new(),
            names: Default::default(),
            access: AccessNote { relation: Relation::CareTeam, purpose: Purpose::Treatment },
        };
        let picture = timeline(&view, time::macros::date!(2026 - 11 - 25), "da");
        assert!(picture.marks[0].label.ends_with(": Sygemeldt"), "{}", picture.marks[0].label);
        assert!(picture.description.starts_with("1 punkt hos 1 sted fra "), "{}", picture.description);
    }
}
