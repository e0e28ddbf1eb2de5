//! A deterministic synthetic population: the same `--seed` gives the same patients,
//! courses and events. Courses follow the pathways in the studies (low back pain
//! across primary care, hospital and municipality; severe mental illness across
//! general practice, psychiatry and social psychiatry; a shorter knee course), so
//! benchmarks read records shaped like real ones.
//!
//! Events are decided by the domain exactly as live writes are, then written a batch
//! of patients per transaction, with one audit entry per imported patient.

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use time::macros::datetime;
use time::{Duration, Month, OffsetDateTime};

use sammen_app::ids::SeededIds;
use sammen_app::{AppError, Sammen};
use sammen_domain::care::{EpisodeKind, HandoverSubject, Owner, StepKind};
use sammen_domain::clock::{danish_day, IdSource, ManualClock};
use sammen_domain::cpr::Cpr;
use sammen_domain::decide::{self, ChangeFacts, Context, CourseChange, OpenCourse};
use sammen_domain::directory::{Organisation, User, UserKind};
use sammen_domain::event::{EntryType, NewEvent, TeamMember};
use sammen_domain::ids::{CourseId, OrgId};
use sammen_domain::messaging::{
    self, Addressee, MessageFacts, NewThread, Reply, ThreadCategory, ThreadKind, ThreadState,
};
use sammen_domain::projection::{CourseState, Projections};
use sammen_domain::vocab::{DataCategory, Profession, Sector};
use sammen_store::{PatientLog, Store};

/// Organisations per sector in the synthetic directory: at least this many, and one
/// general practice per [`PATIENTS_PER_PRACTICE`] patients, about the list of a
/// Danish practice.
const MIN_ORGS_PER_SECTOR: usize = 12;
pub const PATIENTS_PER_PRACTICE: u64 = 2_000;
/// Patients written per transaction.
const BATCH: usize = 250;
/// Every generated history ends before this instant.
pub const ANCHOR: OffsetDateTime = datetime!(2026-06-01 08:00 UTC);

const GIVEN: &[&str] = &[
    "Anne", "Bo", "Camilla", "Dennis", "Emma", "Frederik", "Gitte", "Henrik", "Ida", "Jakob", "Karen", "Lars", "Mette",
    "Niels", "Pia", "Rasmus", "Sofie", "Thomas", "Ulla", "Viktor",
];
const FAMILY: &[&str] = &[
    "Hansen",
    "Jensen",
    "Nielsen",
    "Pedersen",
    "Andersen",
    "Christensen",
    "Larsen",
    "Sørensen",
    "Rasmussen",
    "Jørgensen",
    "Petersen",
    "Madsen",
    "Kristensen",
    "Olsen",
    "Thomsen",
];

fn professions(sector: Sector) -> &'static [Profession] {
    match sector {
        Sector::GeneralPractice => &[Profession::GeneralPractitioner, Profession::PracticeNurse],
        Sector::PrivatePractice => &[Profession::Physiotherapist, Profession::Chiropractor],
        Sector::Hospital => &[Profession::HospitalDoctor, Profession::HospitalNurse],
        Sector::HospitalPsychiatry => &[Profession::Psychiatrist, Profession::PsychiatricNurse],
        Sector::MunicipalHealth => &[Profession::MunicipalPhysiotherapist, Profession::OccupationalTherapist],
        Sector::MunicipalEmployment => &[Profession::JobcentreSocialWorker, Profession::JobcentreSocialWorker],
        Sector::MunicipalSocial => &[Profession::SocialPsychiatryWorker, Profession::SocialPsychiatryWorker],
    }
}

/// One step of a pathway: days after the previous step, where, what.
struct Step {
    gap_days: (i64, i64),
    sector: Sector,
    entry_type: EntryType,
    category: DataCategory,
    title: &'static str,
    text: &'static str,
}

struct Pathway {
    title: &'static str,
    reason: &'static str,
    steps: &'static [Step],
    /// How many times the middle steps repeat (a treatment series).
    repeat: (usize, usize),
}

macro_rules! step {
    ($gap:expr, $sector:ident, $t:ident, $c:ident, $title:literal, $text:literal) => {
        Step {
            gap_days: $gap,
            sector: Sector::$sector,
            entry_type: EntryType::$t,
            category: DataCategory::$c,
            title: $title,
            text: $text,
        }
    };
}

const PATHWAYS: &[Pathway] = &[
    Pathway {
        title: "Lændesmerter",
        reason: "Lændesmerter uden røde flag.",
        repeat: (3, 10),
        steps: &[
            step!(
                (0, 0),
                GeneralPractice,
                Assessment,
                ClinicalFindings,
                "Første konsultation",
                "Uspecifikke lændesmerter. Røde flag gennemgået, ingen fundet."
            ),
            step!((0, 0), GeneralPractice, SickLeave, SocialEmployment, "Sygemeldt", "Forventet varighed to uger."),
            step!(
                (5, 20),
                PrivatePractice,
                Assessment,
                ClinicalFindings,
                "Undersøgelse hos fysioterapeut",
                "STarT Back mellem risiko. Plan: holdtræning."
            ),
            step!(
                (7, 14),
                PrivatePractice,
                Note,
                ClinicalFindings,
                "Træningsstatus",
                "Deltager stabilt. Smerte uændret."
            ),
            step!(
                (10, 30),
                Hospital,
                Assessment,
                ClinicalFindings,
                "Vurdering på rygcenter",
                "Ingen grund til operation. Anbefaler kommunal genoptræning."
            ),
            step!(
                (7, 20),
                MunicipalHealth,
                Assessment,
                ClinicalFindings,
                "Genoptræningsplan",
                "Tolv ugers genoptræning aftalt."
            ),
            step!(
                (14, 40),
                MunicipalEmployment,
                Meeting,
                SocialEmployment,
                "Opfølgningssamtale",
                "Plan for delvis raskmelding."
            ),
        ],
    },
    Pathway {
        title: "Psykisk sygdom",
        reason: "Psykotiske symptomer.",
        repeat: (2, 8),
        steps: &[
            step!(
                (0, 0),
                GeneralPractice,
                Assessment,
                MentalHealth,
                "Konsultation",
                "Søvnløshed og hørelseshallucinationer. Henvist akut."
            ),
            step!((0, 2), HospitalPsychiatry, Admission, MentalHealth, "Indlagt", "Frivillig indlæggelse."),
            step!(
                (1, 3),
                HospitalPsychiatry,
                Prescription,
                Medication,
                "Antipsykotisk behandling startet",
                "Kræver kontrol af vægt, blodtryk og blodsukker."
            ),
            step!((7, 30), HospitalPsychiatry, Note, MentalHealth, "Ambulant samtale", "Stabil."),
            step!((14, 28), HospitalPsychiatry, Discharge, MentalHealth, "Udskrevet", "Fortsætter i ambulatoriet."),
            step!((3, 14), MunicipalSocial, Meeting, SocialEmployment, "Hjemmebesøg", "Ugentlige besøg aftalt."),
            step!(
                (7, 30),
                GeneralPractice,
                Finding,
                ClinicalFindings,
                "Kontrolmålinger",
                "Vægt, blodtryk og blodsukker målt."
            ),
        ],
    },
    Pathway {
        title: "Knæsmerter",
        reason: "Smerter i knæet ved gang og trapper.",
        repeat: (1, 6),
        steps: &[
            step!(
                (0, 0),
                GeneralPractice,
                Assessment,
                ClinicalFindings,
                "Konsultation",
                "Belastningsrelaterede knæsmerter. Ingen hævelse."
            ),
            step!(
                (3, 14),
                PrivatePractice,
                Assessment,
                ClinicalFindings,
                "Undersøgelse hos fysioterapeut",
                "Plan: otte ugers træning."
            ),
            step!((7, 14), PrivatePractice, Treatment, ClinicalFindings, "Træning", "Progression i øvelserne."),
            step!((14, 30), GeneralPractice, Note, Plan, "Afslutning", "Bedre. Fortsætter selv med øvelserne."),
        ],
    },
];

/// The synthetic directory: organisations by sector, professionals by organisation.
struct Directory {
    orgs: HashMap<Sector, Vec<Organisation>>,
    staff: HashMap<OrgId, Vec<User>>,
    sector_of: HashMap<OrgId, Sector>,
}

async fn directory(app: &Sammen, store: &dyn Store, per_sector: usize) -> Result<Directory, AppError> {
    let mut orgs: HashMap<Sector, Vec<Organisation>> = HashMap::new();
    let mut staff: HashMap<OrgId, Vec<User>> = HashMap::new();
    let existing = store.users().await?;
    let existing_orgs = store.organisations().await?;
    for sector in Sector::ALL {
        for k in 0..per_sector {
            let name = format!("Syntetisk {sector} {k}");
            let org = match existing_orgs.iter().find(|o| o.name == name) {
                Some(o) => o.clone(),
                None => app.add_organisation(&name, *sector, None).await?,
            };
            for (j, profession) in professions(*sector).iter().enumerate() {
                let login = format!("syn.{sector}.{k}.{j}").replace('_', "-");
                let user = match existing.iter().find(|u| u.login == login) {
                    Some(u) => u.clone(),
                    None => {
                        let kind = UserKind::Professional { profession: *profession, org: org.id };
                        app.add_user(&login, &format!("Syntetisk {profession} {k}.{j}"), kind).await?
                    }
                };
                staff.entry(org.id).or_default().push(user);
            }
            orgs.entry(*sector).or_default().push(org);
        }
    }
    let sector_of = orgs.values().flatten().map(|o| (o.id, o.sector)).collect();
    Ok(Directory { orgs, staff, sector_of })
}

/// What `generate` did.
pub struct Report {
    pub patients: u64,
    pub events: u64,
}

/// Generates `n` patients from `seed` into the store behind `app`.
pub async fn generate(app: &Sammen, n: u64, seed: u64, mut progress: impl FnMut(u64)) -> Result<Report, AppError> {
    let store = app.store().clone();
    let per_sector = MIN_ORGS_PER_SECTOR.max(n.div_ceil(PATIENTS_PER_PRACTICE) as usize);
    let dir = directory(app, &*store, per_sector).await?;
    let ids = SeededIds::new(seed);
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x005a_11e0);
    let mut used_cpr: HashSet<String> = HashSet::new();
    let mut batch = Vec::with_capacity(BATCH);
    let mut report = Report { patients: 0, events: 0 };
    for _ in 0..n {
        let log = patient(&dir, &ids, &mut rng, &mut used_cpr)?;
        report.events += log.events.len() as u64;
        batch.push(log);
        if batch.len() == BATCH {
            app.import(&batch).await.map_err(explain_duplicate)?;
            report.patients += batch.len() as u64;
            progress(report.patients);
            batch.clear();
        }
    }
    if !batch.is_empty() {
        app.import(&batch).await.map_err(explain_duplicate)?;
        report.patients += batch.len() as u64;
        progress(report.patients);
    }
    Ok(report)
}

fn explain_duplicate(e: AppError) -> AppError {
    match e {
        AppError::Duplicate(_) => AppError::Duplicate(
            "A generated CPR number (this seed was probably generated into this database before; use another --seed)"
                .into(),
        ),
        other => other,
    }
}

/// A CPR number that is valid, fictitious in the sense of generated, and unused.
fn cpr(rng: &mut ChaCha8Rng, used: &mut HashSet<String>) -> Cpr {
    loop {
        let year = rng.gen_range(1940..=2005);
        let month = Month::try_from(rng.gen_range(1..=12u8)).expect("a month");
        let day = rng.gen_range(1..=28u8);
        // The serial's first digit tells the century (see `Cpr::birth_date`).
        let first = if year >= 2000 { 4 } else { rng.gen_range(0..=3) };
        let serial = first * 1000 + rng.gen_range(0..1000);
        let text = format!("{day:02}{:02}{:02}{serial:04}", month as u8, year % 100);
        if used.insert(text.clone()) {
            return Cpr::parse(&text).expect("a generated CPR number is valid");
        }
    }
}

fn patient(
    dir: &Directory,
    ids: &SeededIds,
    rng: &mut ChaCha8Rng,
    used: &mut HashSet<String>,
) -> Result<PatientLog, AppError> {
    let gp_org = dir.orgs[&Sector::GeneralPractice].choose(rng).expect("orgs").clone();
    let gp = dir.staff[&gp_org.id][0].clone();
    let mut now = ANCHOR - Duration::days(rng.gen_range(120..720));
    let name = format!("{} {}", GIVEN.choose(rng).expect("names"), FAMILY.choose(rng).expect("names"));
    let ctx = |actor: &User, now: OffsetDateTime| context(dir, ids, actor, now);

    let (patient, reg) = decide::register_patient(&ctx(&gp, now), cpr(rng, used), &name)?;
    let mut events: Vec<NewEvent> = vec![reg];
    let mut projections = Projections::default();
    projections.apply(patient, &events[0]);

    let courses = rng.gen_range(1..=3usize);
    let mut pathways: Vec<&Pathway> = PATHWAYS.iter().collect();
    pathways.shuffle(rng);
    for pathway in pathways.into_iter().take(courses) {
        now += Duration::days(rng.gen_range(0..30));
        let open =
            OpenCourse { title: pathway.title.into(), reason: pathway.reason.into(), started_on: danish_day(now) };
        let (course_id, opened) = decide::open_course(&ctx(&gp, now), &open, gp_org.id, "general practice")?;
        for e in &opened {
            projections.apply(patient, e);
        }
        events.extend(opened);
        let mut team: HashMap<Sector, OrgId> = HashMap::from([(Sector::GeneralPractice, gp_org.id)]);
        let repeats = rng.gen_range(pathway.repeat.0..=pathway.repeat.1);
        let middle = pathway.steps.len() / 2;
        let steps = pathway.steps[..=middle]
            .iter()
            .chain(std::iter::repeat_n(&pathway.steps[middle], repeats))
            .chain(pathway.steps[middle + 1..].iter());
        for step in steps {
            now += Duration::days(rng.gen_range(step.gap_days.0..=step.gap_days.1));
            let org = match team.get(&step.sector) {
                Some(o) => *o,
                None => {
                    let org = dir.orgs[&step.sector].choose(rng).expect("orgs").id;
                    let course = &projections.courses[&course_id];
                    let join = CourseChange::JoinCareTeam {
                        member: TeamMember::Organisation { org },
                        role: step.sector.as_str().into(),
                    };
                    for e in decide::change_course(&ctx(&gp, now), course, &join, &ChangeFacts::default())? {
                        projections.apply(patient, &e);
                        events.push(e);
                    }
                    team.insert(step.sector, org);
                    org
                }
            };
            let author = dir.staff[&org].choose(rng).expect("staff");
            let course = &projections.courses[&course_id];
            let change = CourseChange::RecordEntry {
                entry_type: step.entry_type,
                category: step.category,
                title: step.title.into(),
                text: step.text.into(),
                occurred_on: danish_day(now),
            };
            for e in decide::change_course(&ctx(author, now), course, &change, &ChangeFacts::default())? {
                projections.apply(patient, &e);
                events.push(e);
            }
        }
        let last = pathway.steps.last().map(|s| s.sector).unwrap_or(Sector::GeneralPractice);
        let work = OpenWork { course: course_id, owner_org: team[&last], gp_org: gp_org.id, sector: last };
        for e in open_work(&work, &projections, dir, ids, rng, now)? {
            projections.apply(patient, &e);
            events.push(e);
        }
    }
    let mut work: Vec<_> = projections
        .courses
        .values()
        .flat_map(|c| sammen_domain::worklist::of_course(c, |org| dir.sector_of.get(&org).copied()))
        .collect();
    work.extend(projections.threads.values().flat_map(sammen_domain::worklist::of_thread));
    Ok(PatientLog { patient, events, projections, work })
}

/// Who acts, for a synthetic event: their organisation's legal domain.
fn context<'a>(dir: &Directory, ids: &'a SeededIds, actor: &User, now: OffsetDateTime) -> Context<'a> {
    Context {
        actor: actor.id,
        org: actor.org(),
        domain: actor.org().and_then(|o| dir.sector_of.get(&o)).map(|s| s.legal_domain()).unwrap_or_default(),
        now,
        ids: ids as &dyn IdSource,
    }
}

/// Where a course stands when its history ends: whose step is open, and its GP.
struct OpenWork {
    course: CourseId,
    owner_org: OrgId,
    gp_org: OrgId,
    sector: Sector,
}

/// The open work a course holds when its history ends, so worklists have something to
/// show: for 30 % of courses a next step with its owner, due around [`ANCHOR`] (some
/// overdue); for 3 % a handover of it back to the GP, for 5 % contradicting advice, for
/// 5 % a question to the GP with an answer date (half of them answered), and for half of
/// the psychiatric courses a discharge letter still awaited.
fn open_work(
    w: &OpenWork,
    projections: &Projections,
    dir: &Directory,
    ids: &SeededIds,
    rng: &mut ChaCha8Rng,
    now: OffsetDateTime,
) -> Result<Vec<NewEvent>, AppError> {
    let ctx = |actor: &User, now: OffsetDateTime| context(dir, ids, actor, now);
    let mut course = projections.courses[&w.course].clone();
    let mut events = Vec::new();
    let owner_staff = &dir.staff[&w.owner_org][0];
    let gp = &dir.staff[&w.gp_org][0];
    let around_anchor = |rng: &mut ChaCha8Rng, from: i64, to: i64| {
        (ANCHOR + Duration::days(rng.gen_range(from..=to))).date().max(danish_day(now))
    };
    let mut decide_on = |course: &mut CourseState, who: &User, change: CourseChange, sector: Option<Sector>| {
        let facts = ChangeFacts { org_sector: sector };
        let decided = decide::change_course(&ctx(who, now), course, &change, &facts)?;
        for e in &decided {
            course.apply(e);
        }
        events.extend(decided);
        Ok::<_, AppError>(())
    };
    // Most courses in the studies are finished; about one in three still has a next
    // step, due around the anchor.
    let roll = rng.gen_range(0..100);
    if roll < 30 {
        let step = CourseChange::PlanStep {
            step_kind: StepKind::FollowUp,
            title: "Opfølgning".into(),
            owner: Owner::Role { org: w.owner_org, role: "team".into() },
            due_from: None,
            due_by: around_anchor(rng, -14, 45).max(course.started_on),
            reason: "Planlagt opfølgning.".into(),
            reason_plain: "Vi ser, hvordan det går.".into(),
            what_to_expect: String::new(),
            if_it_does_not_help: String::new(),
        };
        decide_on(&mut course, owner_staff, step, None)?;
    }
    if roll < 3 && w.owner_org != w.gp_org {
        let step_id = course.care.steps.last().map(|s| s.id).expect("the step just planned");
        let handover = CourseChange::ProposeHandover {
            subject: HandoverSubject::Step { step: step_id },
            to: Owner::Role { org: w.gp_org, role: "egen læge".into() },
            reason: "Opfølgningen hører til hos egen læge.".into(),
            respond_by: Some(around_anchor(rng, -7, 14)),
            referral: None,
        };
        decide_on(&mut course, owner_staff, handover, Some(Sector::GeneralPractice))?;
    } else if (90..95).contains(&roll) {
        decide_on(&mut course, gp, advice("keep_active"), None)?;
        decide_on(&mut course, owner_staff, advice("rest"), None)?;
    }
    if w.sector == Sector::HospitalPsychiatry && rng.gen_bool(0.5) {
        let discharge = CourseChange::RecordEpisode {
            episode_kind: EpisodeKind::Discharge,
            org: w.owner_org,
            on: danish_day(now),
            note: String::new(),
        };
        decide_on(&mut course, owner_staff, discharge, Some(Sector::HospitalPsychiatry))?;
    }
    if rng.gen_range(0..100) < 5 && w.owner_org != w.gp_org {
        let question = NewThread {
            kind: ThreadKind::Message,
            category: ThreadCategory::CareCoordination,
            topic: None,
            subject: "Status".into(),
            to: vec![Addressee::Role { org: w.gp_org, role: "egen læge".into() }],
            copy: vec![],
            text: "Hvordan går det hos jer?".into(),
            data_category: DataCategory::Plan,
            references: vec![],
            answer_by: Some(around_anchor(rng, -7, 14)),
            client_id: None,
        };
        let recipients = vec![(Owner::Role { org: w.gp_org, role: "egen læge".into() }, false)];
        let facts = MessageFacts::default();
        let (_, started) =
            messaging::start_thread(&ctx(owner_staff, now), &course, &question, recipients, None, &facts)?;
        let thread = ThreadState::from_start(course.patient, &started).expect("a thread start");
        events.push(started);
        if rng.gen_bool(0.5) {
            let reply = Reply {
                text: "Det går fint.".into(),
                data_category: DataCategory::Plan,
                references: vec![],
                corrects: None,
                answer_by: None,
                client_id: None,
            };
            events.push(messaging::reply(&ctx(gp, now), &course, &thread, &reply, &facts)?);
        }
    }
    Ok(events)
}

fn advice(stance: &str) -> CourseChange {
    CourseChange::GiveAdvice { topic: "activity".into(), stance: stance.into(), text: String::new() }
}

/// A clock and id source for generation: deterministic, anchored before today.
pub fn seeded(store: Arc<dyn Store>, seed: u64) -> Sammen {
    Sammen::new(store, Arc::new(ManualClock::new(ANCHOR)), Arc::new(SeededIds::new(seed.wrapping_add(1))))
}
