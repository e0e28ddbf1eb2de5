//! Who may see what, as the patient decides: consents, objections and proxies;
//! break-glass in an emergency; and the patient's access log, which shows every look.

use serde::Serialize;
use std::collections::HashMap;
use time::OffsetDateTime;

use sammen_domain::audit::{AuditAction, AuditOutcome};
use sammen_domain::decide::{self, SharingChange, SharingFacts};
use sammen_domain::directory::UserKind;
use sammen_domain::event::Stream;
use sammen_domain::ids::{PatientId, UserId};
use sammen_domain::policy::{Access, Relation};
use sammen_domain::projection::PatientState;
use sammen_domain::sharing::{BreakGlass, Consent, Objection, ObjectionTarget, ProxyGrant, Recipient};
use sammen_domain::vocab::{Profession, Purpose, Sector};
use sammen_store::Notice;

use crate::{Actor, AppError, AppResult, Sammen};

/// The state of a consent as the patient sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ConsentState {
    Active,
    Expired,
    Withdrawn,
    /// Given before blanket consents outside health care were refused: it lets no one in.
    NotValid,
}

#[derive(Debug, Clone, Serialize)]
pub struct ConsentView {
    #[serde(flatten)]
    pub consent: Consent,
    pub state: ConsentState,
}

/// Everything about who may see the patient's data.
#[derive(Debug, Clone, Serialize)]
pub struct SharingView {
    pub version: u64,
    pub consents: Vec<ConsentView>,
    pub objections: Vec<Objection>,
    pub proxies: Vec<ProxyGrant>,
    pub break_glass: Vec<BreakGlass>,
}

fn sharing_view(p: &PatientState, now: OffsetDateTime) -> SharingView {
    let consents = p
        .consents
        .iter()
        .map(|c| ConsentView {
            consent: c.clone(),
            state: if c.withdrawn_at.is_some() {
                ConsentState::Withdrawn
            } else if c.recipient.is_blanket_outside_health() {
                ConsentState::NotValid
            } else if c.is_active_at(now) {
                ConsentState::Active
            } else {
                ConsentState::Expired
            },
        })
        .collect();
    SharingView {
        version: p.version,
        consents,
        objections: p.objections.clone(),
        proxies: p.proxies.clone(),
        break_glass: p.break_glass.clone(),
    }
}

/// One line of the patient's access log: who looked, when, from where, why.
#[derive(Debug, Clone, Serialize)]
pub struct AccessLogEntry {
    /// The entry's place on the audit trail.
    pub seq: u64,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    pub who: String,
    pub profession: Option<Profession>,
    pub organisation: Option<String>,
    pub sector: Option<Sector>,
    pub action: AuditAction,
    pub purpose: Purpose,
    pub outcome: AuditOutcome,
    /// What was looked at: `patient`, `course`, `course history`, ...
    pub what: String,
    pub break_glass: bool,
    /// The reader's own look (by who they are, not by name: names are not unique).
    pub by_reader: bool,
    /// Who, as the trail names them (`user/<id>`), to tell apart two people of one name;
    /// not sent: the name is.
    #[serde(skip)]
    pub actor: String,
    /// The course it was about, if one (its id is not sent: `what` says the kind).
    #[serde(skip)]
    pub course: Option<String>,
}

/// One visit on the access log page: the looks one person made in a short while, for the
/// same reason and with the same outcome. One page a professional opens reads the course,
/// its team and its timeline; the patient wants to see one visit, not three rows.
#[derive(Debug, Clone, Serialize)]
pub struct Visit {
    /// The newest look of the visit.
    #[serde(flatten)]
    pub last: AccessLogEntry,
    /// What was looked at or changed, each once, in the order looked at.
    pub whats: Vec<String>,
    /// How many looks the visit holds.
    pub looks: usize,
}

/// How long after its newest look (going back) a look still belongs to the same visit.
const VISIT: time::Duration = time::Duration::minutes(10);

/// Gathers a log, newest first, into visits: a run of entries with the same person,
/// organisation, action, purpose, outcome and course (two courses opened are two
/// visits), within [`VISIT`] of the run's newest. The access log API and its CSV keep
/// every entry; this is for reading.
pub fn visits(entries: Vec<AccessLogEntry>) -> Vec<Visit> {
    let mut out: Vec<Visit> = Vec::new();
    for e in entries {
        if let Some(v) = out.last_mut() {
            let l = &v.last;
            let same = l.actor == e.actor
                && l.organisation == e.organisation
                && l.action == e.action
                && l.purpose == e.purpose
                && l.outcome == e.outcome
                && l.course == e.course
                && l.at - e.at <= VISIT;
            if same {
                // The log runs newest first; the visit's parts read in the order looked.
                if !v.whats.contains(&e.what) {
                    v.whats.insert(0, e.what);
                }
                v.looks += 1;
                continue;
            }
        }
        out.push(Visit { whats: vec![e.what.clone()], looks: 1, last: e });
    }
    out
}

/// The access log as CSV, for export. Commas and quotes in names are quoted.
pub fn access_log_csv(entries: &[AccessLogEntry]) -> String {
    fn field(s: &str) -> String {
        // A cell a spreadsheet would run as a formula (a name like =HYPERLINK(...) typed
        // by whoever named a user) is kept as text by a leading apostrophe (OWASP).
        let s = if s.starts_with(['=', '+', '-', '@', '\t', '\r']) { format!("'{s}") } else { s.to_string() };
        if s.contains([',', '"', '\n', '\r']) {
            format!("\"{}\"", s.replace('"', "\"\""))
        } else {
            s
        }
    }
    let mut out = String::from("time,who,profession,organisation,sector,action,purpose,outcome,what,break_glass\n");
    for e in entries {
        let row = [
            e.at.format(&time::format_description::well_known::Rfc3339).unwrap_or_default(),
            e.who.clone(),
            e.profession.map(|p| p.to_string()).unwrap_or_default(),
            e.organisation.clone().unwrap_or_default(),
            e.sector.map(|s| s.to_string()).unwrap_or_default(),
            e.action.as_str().to_string(),
            e.purpose.to_string(),
            e.outcome.as_str().to_string(),
            e.what.clone(),
            e.break_glass.to_string(),
        ];
        out.push_str(&row.iter().map(|f| field(f)).collect::<Vec<_>>().join(","));
        out.push('\n');
    }
    out
}

/// `course/<id>/history` -> `course history`: the kind of thing, never the id.
fn what(object: &str) -> String {
    let kinds = object.split('/').enumerate().filter(|(i, _)| i % 2 == 0).map(|(_, s)| s).collect::<Vec<_>>().join(" ");
    // A search by any of its parameters (`patient?cpr`, `patient?name`) is a search.
    match kinds.split_once('?') {
        Some((kind, _)) => format!("{kind} search"),
        None => kinds,
    }
}

impl Sammen {
    pub async fn sharing(&self, actor: &Actor, patient: PatientId) -> AppResult<SharingView> {
        let object = format!("patient/{patient}/sharing");
        let (p, granted) =
            self.authorized_patient(actor, patient, Access::ReadPatient, AuditAction::Read, &object).await?;
        self.audit(actor, AuditAction::Read, granted.purpose, Some(patient), object, AuditOutcome::Permitted).await?;
        Ok(sharing_view(&p, self.now()))
    }

    /// Gives or withdraws a consent or an objection, or names or removes a proxy. The
    /// patient does it themself, or a care team member records it for them.
    pub async fn change_sharing(
        &self,
        actor: &Actor,
        patient: PatientId,
        expected_version: u64,
        change: &SharingChange,
    ) -> AppResult<SharingView> {
        let object = format!("patient/{patient}/sharing");
        let (p, granted) =
            self.authorized_patient(actor, patient, Access::ManageSharing, AuditAction::Update, &object).await?;
        let result = async {
            self.check_version(patient, Stream::Patient, expected_version, p.version)?;
            let facts = SharingFacts {
                by_the_patient: granted.relation == Relation::OwnRecord,
                ..self.sharing_facts(patient, change).await?
            };
            let event = decide::change_sharing(&self.context(actor), &p, change, &facts)?;
            // Who may see the patient's data is the patient's to decide: when someone on the
            // team records a change to it for them (a consent, its withdrawal, an objection),
            // the patient and their proxies, as they are after the change, are told.
            let notices = match facts.by_the_patient {
                true => Vec::new(),
                false => {
                    let mut after = p.clone();
                    after.apply(&event);
                    let people = self.patient_and_proxies(&after).await?;
                    self.notices_to(&after, people, event.recorded_at, "sharing_recorded", "sharing")
                }
            };
            let next = self.commit_patient_event(&p, event, notices).await?;
            Ok(next)
        }
        .await;
        let next = self.audited(actor, AuditAction::Update, granted.purpose, patient, object, result).await?;
        Ok(sharing_view(&next, self.now()))
    }

    async fn sharing_facts(&self, patient: PatientId, change: &SharingChange) -> AppResult<SharingFacts> {
        let courses = self.store.course_summaries(patient).await?.into_iter().map(|c| c.id).collect();
        let org_domain =
            |org| async move { Ok::<_, AppError>(self.store.organisation(org).await?.map(|o| o.legal_domain())) };
        let user_exists = |user: UserId| async move {
            let user = self.store.user(user).await?;
            // A patient cannot be their own proxy; operators are never proxies.
            Ok::<_, AppError>(user.is_some_and(|u| {
                !matches!(u.kind, UserKind::Operator)
                    && !matches!(u.kind, UserKind::Patient { patient: p } if p == patient)
            }))
        };
        Ok(match change {
            SharingChange::GiveConsent { recipient, .. } => SharingFacts {
                recipient_domain: match recipient {
                    Recipient::Organisation { org } => org_domain(*org).await?,
                    Recipient::Sector { sector } => Some(sector.legal_domain()),
                },
                courses,
                ..SharingFacts::default()
            },
            SharingChange::RecordObjection { target: ObjectionTarget::Organisation { org } } => {
                SharingFacts { recipient_domain: org_domain(*org).await?, courses, ..SharingFacts::default() }
            }
            SharingChange::RecordObjection { target: ObjectionTarget::Professional { user } }
            | SharingChange::NameProxy { user, .. } => {
                SharingFacts { courses, user_exists: user_exists(*user).await?, ..SharingFacts::default() }
            }
            _ => SharingFacts { courses, ..SharingFacts::default() },
        })
    }

    /// Opens the record in an emergency: a health professional not on the care team,
    /// with a stated reason, for a limited time. Flagged on the audit trail; the patient,
    /// their proxies and the key workers get a notice.
    pub async fn open_break_glass(&self, actor: &Actor, patient: PatientId, reason: &str) -> AppResult<BreakGlass> {
        decide::break_glass_reason(reason)?;
        let object = format!("patient/{patient}/break-glass");
        let (p, _) =
            self.authorized_patient(actor, patient, Access::OpenBreakGlass, AuditAction::Create, &object).await?;
        let result = async {
            let event = decide::open_break_glass(&self.context(actor), &p, reason)?;
            let notices = self.break_glass_notices(&p, event.recorded_at).await?;
            let next = self.commit_patient_event(&p, event, notices).await?;
            Ok(next.break_glass.last().cloned().expect("the opening just applied"))
        }
        .await;
        self.audited(actor, AuditAction::Create, Purpose::BreakGlass, patient, object, result).await
    }

    /// Break-glass by CPR number, for a professional who cannot find the patient among
    /// their own: the same opening, with the same checks.
    pub async fn open_break_glass_by_cpr(
        &self,
        actor: &Actor,
        cpr: &sammen_domain::cpr::Cpr,
        reason: &str,
    ) -> AppResult<(PatientId, BreakGlass)> {
        decide::break_glass_reason(reason)?;
        let Some(id) = self.store.patient_by_cpr(cpr).await? else {
            let object = "patient?cpr/break-glass".to_string();
            self.audit(actor, AuditAction::Query, Purpose::BreakGlass, None, object, AuditOutcome::Refused).await?;
            return Err(AppError::NotFound("patient"));
        };
        Ok((id, self.open_break_glass(actor, id, reason).await?))
    }

    async fn break_glass_notices(&self, p: &PatientState, at: OffsetDateTime) -> AppResult<Vec<Notice>> {
        let mut recipients = self.patient_and_proxies(p).await?;
        for summary in self.store.course_summaries(p.id).await? {
            if let Some(kw) = self.store.course(p.id, summary.id).await?.and_then(|c| c.key_worker) {
                recipients.push(kw);
            }
        }
        Ok(self.notices_to(p, recipients, at, "break_glass", "access-log"))
    }

    /// The patient's own logins and the proxies they named.
    async fn patient_and_proxies(&self, p: &PatientState) -> AppResult<Vec<UserId>> {
        let mut people: Vec<UserId> = self
            .store
            .users()
            .await?
            .into_iter()
            .filter(|u| matches!(u.kind, UserKind::Patient { patient } if patient == p.id))
            .map(|u| u.id)
            .collect();
        people.extend(p.proxies.iter().map(|g| g.user));
        Ok(people)
    }

    /// One notice each, once each, about `patient/<id>/<part>`.
    fn notices_to(
        &self,
        p: &PatientState,
        mut recipients: Vec<UserId>,
        at: OffsetDateTime,
        kind: &str,
        part: &str,
    ) -> Vec<Notice> {
        recipients.sort();
        recipients.dedup();
        recipients
            .into_iter()
            .map(|recipient| Notice {
                id: uuid::Uuid::from_bytes(self.ids.random_bytes()),
                recipient,
                patient: p.id,
                at,
                kind: kind.into(),
                object: format!("patient/{}/{part}", p.id),
            })
            .collect()
    }

    /// Who looked at the patient's record, newest first. The patient and their proxies
    /// may read it; reading it is itself audited.
    pub async fn access_log(&self, actor: &Actor, patient: PatientId, limit: u32) -> AppResult<Vec<AccessLogEntry>> {
        let object = format!("patient/{patient}/access-log");
        let (_, granted) =
            self.authorized_patient(actor, patient, Access::ReadAccessLog, AuditAction::Read, &object).await?;
        let entries = self.store.audit_for_patient(patient, limit).await?;
        let reader = format!("user/{}", actor.user.id);
        let users: HashMap<String, _> =
            self.store.users().await?.into_iter().map(|u| (format!("user/{}", u.id), u)).collect();
        let orgs: HashMap<String, _> =
            self.store.organisations().await?.into_iter().map(|o| (format!("org/{}", o.id), o)).collect();
        let log = entries
            .into_iter()
            .map(|e| {
                let (seq, d) = (e.seq, e.draft);
                let user = users.get(&d.actor);
                let org = d.org.as_ref().and_then(|o| orgs.get(o));
                AccessLogEntry {
                    seq,
                    at: d.at,
                    who: match user {
                        Some(u) => u.name.clone(),
                        None if d.actor.starts_with("system/") => "Sammen (system)".into(),
                        None => "unknown".into(),
                    },
                    profession: user.and_then(|u| u.profession()),
                    organisation: org.map(|o| o.name.clone()),
                    sector: org.map(|o| o.sector),
                    action: d.action,
                    purpose: d.purpose,
                    outcome: d.outcome,
                    what: what(&d.object),
                    break_glass: d.purpose == Purpose::BreakGlass,
                    by_reader: d.actor == reader,
                    course: d.object.strip_prefix("course/").and_then(|r| r.split('/').next()).map(String::from),
                    actor: d.actor,
                }
            })
            .collect();
        self.audit(actor, AuditAction::Read, granted.purpose, Some(patient), object, AuditOutcome::Permitted).await?;
        Ok(log)
    }

    /// The caller's own notices, newest first.
    pub async fn notices(&self, actor: &Actor) -> AppResult<Vec<Notice>> {
        Ok(self.store.notices_for(actor.user.id, 200).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objects_become_kinds_without_ids() {
        assert_eq!(what("course/0b1c/history"), "course history");
        assert_eq!(what("course/0b1c/item/9f/history"), "course item history");
        assert_eq!(what("patient/abc"), "patient");
        assert_eq!(what("patient?cpr"), "patient search");
        assert_eq!(what("patient?name"), "patient search");
    }

    /// A look by `actor` (named "Anna" whoever it is) `minutes` after 10:00.
    fn look(minutes: i64, actor: &str, action: AuditAction, what: &str) -> AccessLogEntry {
        AccessLogEntry {
            seq: 1,
            at: time::macros::datetime!(2026-11-25 10:00 UTC) + time::Duration::minutes(minutes),
            who: "Anna".into(),
            profession: None,
            organisation: Some("Klinik".into()),
            sector: None,
            action,
            purpose: Purpose::Treatment,
            outcome: AuditOutcome::Permitted,
            what: what.into(),
            break_glass: false,
            by_reader: false,
            actor: actor.into(),
            course: Some("c1".into()),
        }
    }

    #[test]
    fn one_persons_looks_in_a_short_while_are_one_visit() {
        use AuditAction::{Read, Update};
        let log = vec![
            look(30, "user/1", Read, "course timeline"),
            look(29, "user/1", Read, "course team"),
            look(29, "user/1", Read, "course"),
            look(21, "user/1", Read, "course"),
            // Another course: another visit.
            AccessLogEntry { course: Some("c2".into()), ..look(21, "user/1", Read, "course") },
            // Another person of the same name, at the same place.
            look(20, "user/2", Read, "course"),
            // A change is not a look.
            look(19, "user/1", Update, "course"),
            look(18, "user/1", Read, "course"),
            // More than ten minutes before the visit's newest look.
            look(5, "user/1", Read, "course"),
        ];
        let seen: Vec<(i64, Vec<String>, usize)> = visits(log)
            .into_iter()
            .map(|v| ((v.last.at - time::macros::datetime!(2026-11-25 10:00 UTC)).whole_minutes(), v.whats, v.looks))
            .collect();
        let w = |s: &[&str]| s.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            seen,
            vec![
                (30, w(&["course", "course team", "course timeline"]), 4),
                (21, w(&["course"]), 1),
                (20, w(&["course"]), 1),
                (19, w(&["course"]), 1),
                (18, w(&["course"]), 1),
                (5, w(&["course"]), 1),
            ]
        );
    }

    #[test]
    fn the_csv_keeps_formulas_as_text() {
        let mut entry = look(0, "user/1", AuditAction::Read, "course");
        entry.who = "=HYPERLINK(\"http://evil.example\",\"Klik\")".into();
        entry.organisation = Some("+45 Klinik, Aarhus".into());
        let csv = access_log_csv(&[entry]);
        let row = csv.lines().nth(1).unwrap();
        assert!(row.contains(",\"'=HYPERLINK(\"\"http://evil.example\"\",\"\"Klik\"\")\","), "{row}");
        assert!(row.contains(",\"'+45 Klinik, Aarhus\","), "{row}");
    }
}
