//! The demo: nine organisations, a login for every profession, and two courses told
//! as they happen in Denmark. Everything is written through the same use cases as
//! real work (policy, versions, audit), with a manual clock moved through the story so
//! each entry lands on its day. The stories end before today.
//!
//! The record's content is in Danish, as Danish professionals write it.

use std::collections::HashMap;
use std::sync::Arc;
use time::{Date, Duration, OffsetDateTime, Time};

use sammen_app::ids::RandomIds;
use sammen_app::{Actor, AppError, Sammen};
use sammen_domain::care::{
    ActivityScore, EpisodeKind, GoalKind, HandoverSubject, MinutesDecision, Owner, Referral, StepKind, StepStatus,
    StoryText,
};
use sammen_domain::clock::{danish_day, ManualClock};
use sammen_domain::contact::{Audience, ContactRoute, Hours, RouteHolder, RouteKind};
use sammen_domain::cpr::Cpr;
use sammen_domain::decide::{CourseChange, OpenCourse, SharingChange};
use sammen_domain::directory::UserKind;
use sammen_domain::event::{EntryType, TeamMember};
use sammen_domain::ids::ItemId;
use sammen_domain::ids::{CourseId, OrgId, PatientId, ThreadId};
use sammen_domain::messaging::{Addressee, NewThread, Reply, ThreadCategory, ThreadKind};
use sammen_domain::sharing::{ConsentMethod, GivenBy, Recipient};
use sammen_domain::vocab::{DataCategory, Profession, Purpose, Sector};
use sammen_store::Store;

use DataCategory as C;
use EntryType as T;

/// The organisations: key, name, sector, SOR code.
const ORGS: &[(&str, &str, Sector, Option<&str>)] = &[
    ("gp", "Lægerne i Kildegade", Sector::GeneralPractice, Some("425031000016001")),
    ("physio", "Fysioterapeuterne Åboulevarden", Sector::PrivatePractice, Some("425031000016002")),
    ("chiro", "Kiropraktisk Klinik Vesterbro", Sector::PrivatePractice, Some("425031000016003")),
    ("psychologist", "Psykologhuset Nørre", Sector::PrivatePractice, Some("425031000016004")),
    ("spine", "Rygcenter Syddanmark", Sector::Hospital, Some("425031000016005")),
    ("psychiatry", "Psykiatrisk Center Nord", Sector::HospitalPsychiatry, Some("425031000016006")),
    ("rehab", "Sundhed og Genoptræning, Aabæk Kommune", Sector::MunicipalHealth, None),
    ("jobcentre", "Jobcenter Aabæk", Sector::MunicipalEmployment, None),
    ("socialpsych", "Socialpsykiatrien Aabæk", Sector::MunicipalSocial, None),
];

/// The professionals: login, name, profession, organisation key.
const PROFESSIONALS: &[(&str, &str, Profession, &str)] = &[
    ("gp", "Mette Holm", Profession::GeneralPractitioner, "gp"),
    ("nurse", "Louise Berg", Profession::PracticeNurse, "gp"),
    ("physio", "Jonas Friis", Profession::Physiotherapist, "physio"),
    ("chiro", "Sara Lund", Profession::Chiropractor, "chiro"),
    ("psychologist", "Ida Kjær", Profession::Psychologist, "psychologist"),
    ("spine.doctor", "Peter Krogh", Profession::HospitalDoctor, "spine"),
    ("spine.nurse", "Anne Mølgaard", Profession::HospitalNurse, "spine"),
    ("psychiatrist", "Anders Vang", Profession::Psychiatrist, "psychiatry"),
    ("psych.nurse", "Hanne Dahl", Profession::PsychiatricNurse, "psychiatry"),
    ("rehab.physio", "Mads Winther", Profession::MunicipalPhysiotherapist, "rehab"),
    ("rehab.ot", "Camilla Juhl", Profession::OccupationalTherapist, "rehab"),
    ("rehab.psychologist", "Rasmus Bech", Profession::MunicipalPsychologist, "rehab"),
    ("jobcentre", "Birgitte Nørgaard", Profession::JobcentreSocialWorker, "jobcentre"),
    ("socialpsych", "Kim Andersen", Profession::SocialPsychiatryWorker, "socialpsych"),
    ("coordinator", "Lene Poulsen", Profession::Coordinator, "rehab"),
];

/// One line per demo login, for printing: login, name, what they are.
pub fn logins() -> Vec<(String, String, String)> {
    let org_name = |key: &str| ORGS.iter().find(|o| o.0 == key).map(|o| o.1).unwrap_or("");
    let mut out: Vec<(String, String, String)> = PROFESSIONALS
        .iter()
        .map(|(login, name, profession, org)| {
            (login.to_string(), name.to_string(), format!("{profession}, {}", org_name(org)))
        })
        .collect();
    // No health detail, not even the demo's: the banner goes to the server's log.
    out.push(("jens".into(), "Jens Madsen".into(), "patient".into()));
    out.push(("maria".into(), "Maria Sørensen".into(), "patient".into()));
    out.push(("lise".into(), "Lise Sørensen".into(), "Maria's mother, her proxy (reads only)".into()));
    out.push(("admin".into(), "Sammen drift".into(), "operator (no patient data)".into()));
    out
}

/// Every demo login's password. Demo data only: never use it for real accounts.
pub const PASSWORD: &str = "sammen-demo";

/// Loads the demo. Refuses if it was loaded before.
pub async fn load(store: Arc<dyn Store>, today: Date) -> Result<(), AppError> {
    if store.user_by_login("gp").await?.is_some() {
        return Err(sammen_domain::DomainError::rejected("the demo is already loaded in this database").into());
    }
    let clock = Arc::new(ManualClock::new(at(today - Duration::days(400), 8)));
    let app = Sammen::new(store, clock.clone(), Arc::new(RandomIds));
    let mut orgs = HashMap::new();
    for (key, name, sector, sor) in ORGS {
        orgs.insert(*key, app.add_organisation(name, *sector, *sor).await?.id);
    }
    let mut actors = HashMap::new();
    for (login, name, profession, org) in PROFESSIONALS {
        let kind = UserKind::Professional { profession: *profession, org: orgs[org] };
        let user = app.add_user(login, name, kind).await?;
        actors.insert(*login, app.actor_for(user, Purpose::Treatment).await?);
    }
    app.add_user("admin", "Sammen drift", UserKind::Operator).await?;
    for (login, ..) in PROFESSIONALS {
        // A reserved domain: demo mail lands in the outbox and can never be delivered.
        app.set_user_email(login, Some(&format!("{login}@demo.sammen.invalid"))).await?;
    }
    for (holder, kind, address, hours, answer_within_hours, note, audience) in contact_routes(&orgs, &actors) {
        let route = ContactRoute { holder: holder.clone(), kind, address, hours, answer_within_hours, note, audience };
        let mut routes = app.contact_routes(&holder).await?;
        routes.push(route);
        app.replace_routes(holder, routes).await?;
    }
    // Each practice or unit has someone who manages its own users.
    app.set_org_admin("gp", true).await?;
    app.set_org_admin("coordinator", true).await?;
    let mut story = Story { app: &app, clock: &clock, actors, orgs, start: today };

    story.start = today - Duration::days(240);
    back_pain(&mut story).await?;

    story.start = today - Duration::days(200);
    mental_health(&mut story).await?;

    for (login, _, _) in logins() {
        app.set_password(&login, PASSWORD).await?;
    }
    Ok(())
}

type RouteRow = (RouteHolder, RouteKind, String, Vec<Hours>, u32, String, Audience);

/// How to reach the demo's organisations and a few of their people, as the studies
/// describe it: a short telephone hour at the GP and the outpatient clinic, messages
/// answered within days.
fn contact_routes(orgs: &HashMap<&str, OrgId>, actors: &HashMap<&str, Actor>) -> Vec<RouteRow> {
    let weekdays = |from: &str, to: &str| vec![Hours { days: vec![1, 2, 3, 4, 5], from: from.into(), to: to.into() }];
    let role = |org: &str, role: &str| RouteHolder::Role { org: orgs[org], role: role.into() };
    let person = |login: &str| RouteHolder::Professional { user: actors[login].user.id };
    const ALL: Audience = Audience::Everyone;
    let message = |holder: RouteHolder, hours: u32| {
        (holder, RouteKind::Message, String::new(), vec![], hours, String::new(), ALL)
    };
    vec![
        (
            role("gp", "telefon"),
            RouteKind::Phone,
            "+45 86 12 34 56".into(),
            weekdays("08:00", "09:00"),
            0,
            "Telefontid for patienter og samarbejdspartnere".into(),
            ALL,
        ),
        message(role("gp", "egen læge"), 48),
        (
            role("gp", "egen læge"),
            RouteKind::SecureEmail,
            "kildegade@demo.sammen.invalid".into(),
            vec![],
            72,
            String::new(),
            ALL,
        ),
        (
            role("psychiatry", "ambulatoriet"),
            RouteKind::Phone,
            "+45 78 47 00 00".into(),
            weekdays("09:00", "09:15"),
            0,
            "Lægetelefon for praktiserende læger".into(),
            Audience::Professionals,
        ),
        message(role("psychiatry", "ambulatoriet"), 24),
        (
            role("physio", "fysioterapeut"),
            RouteKind::Phone,
            "+45 86 20 30 40".into(),
            weekdays("08:00", "15:00"),
            0,
            String::new(),
            ALL,
        ),
        message(role("spine", "rygkirurgisk vurdering"), 72),
        message(role("rehab", "genoptræningsteam"), 48),
        (
            role("jobcentre", "sagsbehandler"),
            RouteKind::Phone,
            "+45 87 12 00 00".into(),
            vec![Hours { days: vec![1, 2, 3, 4], from: "09:00".into(), to: "12:00".into() }],
            0,
            String::new(),
            ALL,
        ),
        message(role("jobcentre", "sagsbehandler"), 72),
        (
            person("socialpsych"),
            RouteKind::Phone,
            "+45 20 30 40 50".into(),
            weekdays("08:30", "15:30"),
            0,
            "Mobil".into(),
            ALL,
        ),
        message(person("socialpsych"), 24),
        message(person("coordinator"), 24),
    ]
}

fn at(day: Date, hour: u8) -> OffsetDateTime {
    day.with_time(Time::from_hms(hour, 0, 0).expect("an hour of the day")).assume_utc()
}

/// A course being written, with the version the writer last saw.
struct Course {
    patient: PatientId,
    id: CourseId,
    version: u64,
}

struct Story<'a> {
    app: &'a Sammen,
    clock: &'a ManualClock,
    actors: HashMap<&'static str, Actor>,
    orgs: HashMap<&'static str, OrgId>,
    start: Date,
}

impl Story<'_> {
    /// Moves the clock to a day of the story (days after its start) at an hour.
    fn day(&self, day: i64, hour: u8) {
        self.clock.set(at(self.start + Duration::days(day), hour));
    }

    async fn open(&self, who: &str, patient: PatientId, title: &str, reason: &str) -> Result<Course, AppError> {
        let cmd = OpenCourse { title: title.into(), reason: reason.into(), started_on: danish_day(self.app.now()) };
        let c = self.app.open_course(&self.actors[who], patient, &cmd).await?;
        Ok(Course { patient, id: c.course.id, version: c.course.version })
    }

    async fn change(
        &self,
        who: &str,
        course: &mut Course,
        change: CourseChange,
    ) -> Result<Option<sammen_domain::ids::ItemId>, AppError> {
        let (state, events) =
            self.app.change_course(&self.actors[who], course.patient, course.id, course.version, &change).await?;
        course.version = state.course.version;
        Ok(events.last().and_then(|e| e.item))
    }

    async fn entry(
        &self,
        who: &str,
        course: &mut Course,
        entry_type: EntryType,
        category: DataCategory,
        title: &str,
        text: &str,
    ) -> Result<sammen_domain::ids::ItemId, AppError> {
        let change = CourseChange::RecordEntry {
            entry_type,
            category,
            title: title.into(),
            text: text.into(),
            occurred_on: danish_day(self.app.now()),
        };
        Ok(self.change(who, course, change).await?.expect("an entry has an item id"))
    }

    async fn sharing(&self, who: &str, patient: PatientId, change: SharingChange) -> Result<(), AppError> {
        let version = self.app.store().patient(patient).await?.map(|p| p.version).unwrap_or_default();
        self.app.change_sharing(&self.actors[who], patient, version, &change).await.map(|_| ())
    }

    /// A written consent, valid for a year from today in the story.
    async fn consent(
        &self,
        who: &str,
        course: &Course,
        recipient: &str,
        categories: &[DataCategory],
        purpose: &str,
    ) -> Result<(), AppError> {
        let change = SharingChange::GiveConsent {
            recipient: Recipient::Organisation { org: self.orgs[recipient] },
            categories: categories.iter().copied().collect(),
            purpose: purpose.into(),
            course: course.id,
            given_by: GivenBy::Patient,
            method: ConsentMethod::Written,
            expires_at: self.app.now() + Duration::days(364),
        };
        self.sharing(who, course.patient, change).await
    }

    /// The patient's own login, so they can write in their course.
    async fn patient_login(&mut self, login: &'static str, name: &str, patient: PatientId) -> Result<(), AppError> {
        let user = self.app.add_user(login, name, UserKind::Patient { patient }).await?;
        self.actors.insert(login, self.app.actor_for(user, Purpose::OwnRecord).await?);
        Ok(())
    }

    fn date(&self, day: i64) -> Date {
        self.start + Duration::days(day)
    }

    fn role(&self, org: &str, role: &str) -> Owner {
        Owner::Role { org: self.orgs[org], role: role.into() }
    }

    fn person(&self, login: &str) -> Owner {
        let user = &self.actors[login].user;
        Owner::Professional { user: user.id, org: user.org().expect("a professional") }
    }

    async fn care(&self, who: &str, course: &mut Course, change: CourseChange) -> Result<ItemId, AppError> {
        Ok(self.change(who, course, change).await?.expect("a care item has an id"))
    }

    #[allow(clippy::too_many_arguments)]
    async fn step(
        &self,
        who: &str,
        course: &mut Course,
        kind: StepKind,
        title: &str,
        owner: Owner,
        days: (Option<i64>, i64),
        why: (&str, &str),
        expect: &str,
        if_not: &str,
    ) -> Result<ItemId, AppError> {
        let change = CourseChange::PlanStep {
            step_kind: kind,
            title: title.into(),
            owner,
            due_from: days.0.map(|d| self.date(d)),
            due_by: self.date(days.1),
            reason: why.0.into(),
            reason_plain: why.1.into(),
            what_to_expect: expect.into(),
            if_it_does_not_help: if_not.into(),
        };
        self.care(who, course, change).await
    }

    async fn status(&self, who: &str, course: &mut Course, step: ItemId, status: StepStatus) -> Result<(), AppError> {
        self.care(who, course, CourseChange::ChangeStepStatus { step, status, note: String::new() }).await.map(|_| ())
    }

    async fn hand_over(
        &self,
        who: &str,
        course: &mut Course,
        subject: HandoverSubject,
        to: Owner,
        reason: &str,
        referral: Option<Referral>,
    ) -> Result<ItemId, AppError> {
        let change = CourseChange::ProposeHandover { subject, to, reason: reason.into(), respond_by: None, referral };
        self.care(who, course, change).await
    }

    async fn accept(&self, who: &str, course: &mut Course, handover: ItemId) -> Result<(), AppError> {
        self.care(who, course, CourseChange::AcknowledgeHandover { handover }).await?;
        self.care(who, course, CourseChange::AcceptHandover { handover }).await.map(|_| ())
    }

    async fn advice(
        &self,
        who: &str,
        course: &mut Course,
        topic: &str,
        stance: &str,
        text: &str,
    ) -> Result<(), AppError> {
        let change = CourseChange::GiveAdvice { topic: topic.into(), stance: stance.into(), text: text.into() };
        self.care(who, course, change).await.map(|_| ())
    }

    async fn goal(&self, who: &str, course: &mut Course, kind: GoalKind, text: &str) -> Result<ItemId, AppError> {
        self.care(who, course, CourseChange::SetGoal { goal_kind: kind, text: text.into() }).await
    }

    async fn episode(
        &self,
        who: &str,
        course: &mut Course,
        kind: EpisodeKind,
        org: &str,
        note: &str,
    ) -> Result<ItemId, AppError> {
        let on = danish_day(self.app.now());
        let change = CourseChange::RecordEpisode { episode_kind: kind, org: self.orgs[org], on, note: note.into() };
        self.care(who, course, change).await
    }

    async fn progress(&self, who: &str, course: &mut Course, pain: u8, scores: [u8; 3]) -> Result<(), AppError> {
        let names = ["Løfte en kasse", "Gå en tur på 30 minutter", "Sove en hel nat"];
        let activities =
            names.iter().zip(scores).map(|(a, score)| ActivityScore { activity: a.to_string(), score }).collect();
        let change = CourseChange::RecordProgress { on: danish_day(self.app.now()), pain: Some(pain), activities };
        self.care(who, course, change).await.map(|_| ())
    }

    async fn key_worker(&self, who: &str, course: &mut Course, login: &str) -> Result<(), AppError> {
        let user = self.actors[login].user.id;
        self.change(who, course, CourseChange::NameKeyWorker { user }).await.map(|_| ())
    }

    async fn join(&self, who: &str, course: &mut Course, org: &str, role: &str) -> Result<(), AppError> {
        let member = TeamMember::Organisation { org: self.orgs[org] };
        self.change(who, course, CourseChange::JoinCareTeam { member, role: role.into() }).await.map(|_| ())
    }

    /// Sends a message about the course; returns the thread.
    #[allow(clippy::too_many_arguments)]
    async fn message(
        &self,
        who: &str,
        course: &mut Course,
        kind: ThreadKind,
        to: Addressee,
        category: ThreadCategory,
        data_category: DataCategory,
        (subject, text): (&str, &str),
        answer_by: Option<i64>,
    ) -> Result<ThreadId, AppError> {
        let cmd = NewThread {
            kind,
            category,
            topic: None,
            subject: subject.into(),
            to: vec![to],
            copy: vec![],
            text: text.into(),
            data_category,
            references: vec![],
            answer_by: answer_by.map(|d| self.date(d)),
            client_id: None,
        };
        let (thread, _) = self.app.start_thread(&self.actors[who], course.patient, course.id, &cmd, &[]).await?;
        // A recipient new to the care team joined it in the same write.
        course.version = self.app.store().course(course.patient, course.id).await?.map(|c| c.version).unwrap_or(0);
        Ok(thread.id)
    }

    /// Opens a thread and answers it.
    async fn answer(
        &self,
        who: &str,
        course: &mut Course,
        thread: ThreadId,
        data_category: DataCategory,
        text: &str,
    ) -> Result<(), AppError> {
        self.app.read_thread(&self.actors[who], course.patient, thread).await?;
        let reply = Reply {
            text: text.into(),
            data_category,
            references: vec![],
            corrects: None,
            answer_by: None,
            client_id: None,
        };
        self.app.reply(&self.actors[who], course.patient, thread, &reply, &[]).await?;
        // A specialist's answer was filed on the course.
        course.version = self.app.store().course(course.patient, course.id).await?.map(|c| c.version).unwrap_or(0);
        Ok(())
    }

    async fn leave(&self, who: &str, course: &mut Course, org: &str, reason: &str) -> Result<(), AppError> {
        let member = TeamMember::Organisation { org: self.orgs[org] };
        self.change(who, course, CourseChange::LeaveCareTeam { member, reason: reason.into() }).await.map(|_| ())
    }
}

/// Jens, 46, warehouse worker: low back pain through general practice, chiropractic,
/// ten weeks of physiotherapy without improvement, the Spine Centre, municipal
/// rehabilitation and the jobcentre's sick-leave follow-up.
async fn back_pain(s: &mut Story<'_>) -> Result<(), AppError> {
    s.day(0, 9);
    let cpr = Cpr::parse("120479-1437").expect("a valid demo CPR number");
    let jens = s.app.register_patient(&s.actors["gp"], cpr, "Jens Madsen").await?.id;
    s.patient_login("jens", "Jens Madsen", jens).await?;
    let mut c = s.open("gp", jens, "Lændesmerter", "Akutte lændesmerter efter løft på arbejdet.").await?;
    s.entry(
        "gp",
        &mut c,
        T::Assessment,
        C::ClinicalFindings,
        "Første konsultation: lændesmerter",
        "Smerter i lænden siden i går efter løft af kasser på lageret. Ingen udstråling til benene. \
         Røde flag gennemgået: ingen traume, ingen natlige eller konstante smerter, intet vægttab eller feber, \
         ingen føleforstyrrelser i skridtet, normal vandladning, ingen tidligere kræft. \
         Vurdering: uspecifikke lændesmerter.",
    )
    .await?;
    s.entry(
        "gp",
        &mut c,
        T::Note,
        C::Plan,
        "Råd: hold dig i gang",
        "Informeret om, at lændesmerter oftest aftager i løbet af få uger, og at en scanning ikke hjælper nu. \
         Rådet til at holde sig i bevægelse og tage almindelig smertestillende efter behov.",
    )
    .await?;
    s.key_worker("gp", &mut c, "gp").await?;
    s.care(
        "gp",
        &mut c,
        CourseChange::WriteStory {
            story: StoryText {
                history: "Fik ondt i lænden, da jeg løftede kasser på lageret. Det er aldrig sket før.".into(),
                tried: "Varmepude og panodil. Har hvilet i sofaen i to dage.".into(),
                what_matters: "At komme tilbage på arbejde og kunne spille fodbold med min søn.".into(),
                preferences: "Jeg vil hellere træne end tage piller. Gerne tider om morgenen.".into(),
                practical_needs: "Jeg arbejder på skift og kan ikke altid komme midt på dagen.".into(),
            },
        },
    )
    .await?;
    s.goal("gp", &mut c, GoalKind::Work, "Tilbage i fuldt arbejde som lagerarbejder").await?;
    s.advice("gp", &mut c, "activity", "keep_active", "Gå ture hver dag, også selvom det gør lidt ondt.").await?;
    s.advice("gp", &mut c, "imaging", "no_scan", "En scanning ændrer ikke behandlingen nu.").await?;
    s.episode("gp", &mut c, EpisodeKind::SickLeaveStart, "gp", "Sygemeldt fra lageret").await?;
    s.entry(
        "gp",
        &mut c,
        T::SickLeave,
        C::SocialEmployment,
        "Sygemeldt",
        "Sygemeldt fra job som lagerarbejder. Forventet varighed to uger.",
    )
    .await?;

    s.day(5, 10);
    s.join("gp", &mut c, "chiro", "kiropraktik").await?;
    s.day(6, 14);
    s.advice("chiro", &mut c, "activity", "rest", "Hvil ryggen et par dage, før du går i gang igen.").await?;
    s.day(6, 15);
    s.entry(
        "chiro",
        &mut c,
        T::Assessment,
        C::ClinicalFindings,
        "Kiropraktisk undersøgelse",
        "Nedsat bevægelighed i lændesøjlen, ømhed over L4-L5. Ingen neurologiske udfald. \
         Behandlet med mobilisering. Rådet til at skåne ryggen og hvile et par dage.",
    )
    .await?;
    s.day(13, 15);
    s.entry(
        "chiro",
        &mut c,
        T::Treatment,
        C::ClinicalFindings,
        "Tre behandlinger afsluttet",
        "Let bedring efter tre behandlinger, men smerterne vender tilbage ved løft. Anbefaler fysioterapi med træning.",
    )
    .await?;

    s.day(15, 9);
    s.entry(
        "gp",
        &mut c,
        T::Referral,
        C::Plan,
        "Henvisning til fysioterapi",
        "Spørgsmål: træning af lænd med henblik på tilbagevenden til arbejde. \
         Fund: uspecifikke lændesmerter, ingen røde flag. \
         Forsøgt: smertestillende, tre kiropraktiske behandlinger med let effekt. \
         Til patienten: træningen skal gøre ryggen stærkere, så du kan komme tilbage på arbejde.",
    )
    .await?;
    s.join("gp", &mut c, "physio", "fysioterapi").await?;
    let conflict = open_conflict(s.app, &c).await?;
    let agreed = "Hold dig i gang i hverdagen. Hvis det gør meget ondt, så hvil kort, og kom i gang igen.";
    s.care(
        "gp",
        &mut c,
        CourseChange::ResolveAdviceConflict { conflict, stance: "keep_active".into(), agreed_message: agreed.into() },
    )
    .await?;
    let training = s
        .step(
            "gp",
            &mut c,
            StepKind::TreatmentSeries,
            "Holdtræning hos fysioterapeut",
            s.person("gp"),
            (Some(17), 87),
            (
                "Uspecifikke lændesmerter, mellem risiko på STarT Back.",
                "Træning gør ryggen stærkere, så du kan komme tilbage på arbejde.",
            ),
            "To gange om ugen i ti uger. Det er normalt, at det gør lidt ondt i starten.",
            "Hvis det ikke hjælper efter ti uger, henviser lægen dig til rygcentret.",
        )
        .await?;
    let referral = Referral {
        question: "Træning af lænd med henblik på tilbagevenden til arbejde".into(),
        findings: "Uspecifikke lændesmerter, ingen neurologiske udfald.".into(),
        tried: "Smertestillende med let effekt; tre kiropraktiske behandlinger med let effekt.".into(),
        red_flags_checked: "Alle gennemgået: ingen.".into(),
        reason_plain: "En fysioterapeut hjælper dig med øvelser, der gør ryggen stærkere.".into(),
        told_to_expect: "Holdtræning to gange om ugen i ti uger.".into(),
    };
    let to_physio = s
        .hand_over(
            "gp",
            &mut c,
            HandoverSubject::Step { step: training },
            s.role("physio", "fysioterapeut"),
            "Træningen skal ledes af en fysioterapeut.",
            Some(referral),
        )
        .await?;
    s.day(16, 8);
    s.accept("physio", &mut c, to_physio).await?;
    s.entry(
        "gp",
        &mut c,
        T::SickLeave,
        C::SocialEmployment,
        "Sygemelding forlænget",
        "Forventet varighed nu seks til otte uger. Patienten har selv orienteret arbejdsgiveren.",
    )
    .await?;

    s.day(18, 11);
    s.entry(
        "physio",
        &mut c,
        T::Assessment,
        C::ClinicalFindings,
        "Første undersøgelse hos fysioterapeut",
        "STarT Back: 5 point, psykosocial delscore 2 (mellem risiko). Smerte 7/10. \
         PSFS: løfte en kasse 2/10, gå en tur på 30 minutter 4/10, sove en hel nat 5/10. \
         Plan: holdtræning to gange om ugen i ti uger.",
    )
    .await?;
    s.status("physio", &mut c, training, StepStatus::InProgress).await?;
    s.progress("physio", &mut c, 7, [2, 4, 5]).await?;
    s.advice("physio", &mut c, "exercise", "gentle", "Start roligt, og øg lidt hver uge.").await?;
    s.day(32, 16);
    s.entry(
        "physio",
        &mut c,
        T::Note,
        C::ClinicalFindings,
        "Status efter to ugers træning",
        "Kommer stabilt til holdtræning. Smerte 6/10.",
    )
    .await?;
    s.day(53, 16);
    let status = s
        .entry(
            "physio",
            &mut c,
            T::Note,
            C::ClinicalFindings,
            "Status efter fem ugers træning",
            "Smerte 6/10, nu med udstråling til venstre lår.",
        )
        .await?;
    s.day(53, 17);
    s.change("physio", &mut c, CourseChange::CorrectEntry {
        item: status,
        title: "Status efter fem ugers træning".into(),
        text: "Smerte 6/10, nu med udstråling til venstre lår. Ingen neurologiske udfald: reflekser, kraft og følesans er normale.".into(),
        reason: "Fund fra den neurologiske undersøgelse tilføjet.".into(),
    }).await?;

    s.progress("physio", &mut c, 6, [2, 4, 5]).await?;
    s.day(56, 10);
    s.join("gp", &mut c, "jobcentre", "jobcenter (opfølgning på sygedagpenge)").await?;
    // Jens lets the jobcentre see the plan and what bears on his work, not the
    // clinical notes.
    let purpose = "Opfølgning på sygedagpenge og plan for tilbagevenden til arbejdet";
    s.consent("gp", &c, "jobcentre", &[C::Plan, C::SocialEmployment], purpose).await?;
    s.day(57, 13);
    s.entry(
        "jobcentre",
        &mut c,
        T::Meeting,
        C::SocialEmployment,
        "Første opfølgningssamtale (uge 8)",
        "Samtale om forløbet og arbejdet. Jens er bekymret for, om han kan vende tilbage til lagerarbejdet. \
         Aftalt: status fra egen læge, og vi taler om delvis raskmelding ved næste samtale.",
    )
    .await?;

    s.day(88, 15);
    s.entry(
        "physio",
        &mut c,
        T::Finding,
        C::ClinicalFindings,
        "Ingen bedring efter ti ugers træning",
        "Smerte 6/10. PSFS uændret (gennemsnit 3,7). Anbefaler egen læge at henvise til vurdering på rygcenter.",
    )
    .await?;
    s.progress("physio", &mut c, 6, [3, 4, 4]).await?;
    s.status("physio", &mut c, training, StepStatus::DidNotHelp).await?;
    s.day(90, 9);
    s.entry(
        "gp",
        &mut c,
        T::Referral,
        C::Plan,
        "Henvisning til Rygcenter Syddanmark",
        "Spørgsmål: vurdering af vedvarende lændesmerter med udstråling efter tolv uger i primærsektoren. \
         Forsøgt: tre kiropraktiske behandlinger, ti ugers fysioterapi uden effekt. Røde flag: ingen. \
         Til patienten: på rygcentret ser en specialist på din ryg og lægger en plan sammen med dig.",
    )
    .await?;
    s.join("gp", &mut c, "spine", "rygcenter").await?;
    let assessment = s
        .step(
            "gp",
            &mut c,
            StepKind::Assessment,
            "Vurdering på Rygcenter Syddanmark",
            s.person("gp"),
            (None, 120),
            (
                "Vedvarende lændesmerter med udstråling trods ti ugers træning.",
                "En specialist ser på din ryg og lægger en plan sammen med dig.",
            ),
            "En samtale og en undersøgelse. Måske en scanning.",
            "Specialisten foreslår så en anden plan.",
        )
        .await?;
    let referral = Referral {
        question: "Vurdering af vedvarende lændesmerter med udstråling efter tolv uger i primærsektoren".into(),
        findings: "Smerte 6/10, udstråling til venstre lår, ingen neurologiske udfald. PSFS 3,7.".into(),
        tried: "Tre kiropraktiske behandlinger; ti ugers holdtræning uden effekt.".into(),
        red_flags_checked: "Alle gennemgået: ingen.".into(),
        reason_plain: "Træningen har ikke hjulpet nok, så en specialist skal se på din ryg.".into(),
        told_to_expect: "Indkaldelse inden for fire uger.".into(),
    };
    let to_spine = s
        .hand_over(
            "gp",
            &mut c,
            HandoverSubject::Step { step: assessment },
            s.role("spine", "rygkirurgisk vurdering"),
            "Henvisning til rygcentret.",
            Some(referral),
        )
        .await?;
    s.day(92, 10);
    s.accept("spine.doctor", &mut c, to_spine).await?;
    s.status("spine.nurse", &mut c, assessment, StepStatus::Booked).await?;
    s.leave("gp", &mut c, "physio", "Træningsforløbet hos fysioterapeuten er afsluttet.").await?;

    s.day(118, 10);
    s.entry("spine.doctor", &mut c, T::Assessment, C::ClinicalFindings, "Vurdering på rygcentret",
        "MR-scanning: diskusdegeneration L4-L5 uden påvirkning af nerverødder. Ingen grund til operation. \
         Anbefaling: tolv ugers kommunal genoptræning med gradvis optrapning og fokus på at vende tilbage til arbejdet.").await?;
    s.entry(
        "spine.doctor",
        &mut c,
        T::Note,
        C::Diagnoses,
        "Diagnose",
        "Lændesmerter (DM54.5) med diskusdegeneration L4-L5.",
    )
    .await?;
    s.status("spine.doctor", &mut c, assessment, StepStatus::Done).await?;
    s.advice(
        "spine.doctor",
        &mut c,
        "exercise",
        "gentle",
        "Gradvis optræning; smerter under træningen er ikke farlige.",
    )
    .await?;
    s.day(120, 12);
    s.entry(
        "spine.doctor",
        &mut c,
        T::Letter,
        C::Plan,
        "Notat til egen læge og kommunen",
        "Anbefalinger: kommunal genoptræning i tolv uger, gradvis tilbagevenden til arbejde. \
         Det er normalt at have nogle smerter under og efter genoptræningen; det er ikke et tegn på skade.",
    )
    .await?;
    s.day(121, 9);
    s.join("gp", &mut c, "rehab", "kommunal genoptræning").await?;
    let rehab = s
        .step(
            "gp",
            &mut c,
            StepKind::Rehabilitation,
            "Kommunal genoptræning i tolv uger",
            s.role("rehab", "genoptræningsteam"),
            (Some(125), 210),
            ("Anbefalet af rygcentret.", "Træning og hjælp til at komme tilbage på arbejde, tæt på hvor du bor."),
            "Holdtræning to gange om ugen og én individuel træning. Nogle smerter undervejs er normale.",
            "Teamet taler med dig og jobcentret om en anden plan.",
        )
        .await?;
    // The GP hands the key worker role to the municipal coordinator.
    let to_coordinator = s
        .hand_over(
            "gp",
            &mut c,
            HandoverSubject::KeyWorker,
            s.person("coordinator"),
            "Forløbet foregår nu mest i kommunen.",
            None,
        )
        .await?;
    s.day(122, 9);
    s.accept("coordinator", &mut c, to_coordinator).await?;
    s.leave("spine.doctor", &mut c, "spine", "Forløbet på rygcentret er afsluttet.").await?;

    s.day(125, 10);
    s.entry(
        "rehab.physio",
        &mut c,
        T::Assessment,
        C::ClinicalFindings,
        "Genoptræningsplan modtaget, første samtale",
        "Mål aftalt med Jens: løfte 10 kg fra gulvet, gå 30 minutter, arbejde fire timer om dagen. \
         Tolv uger: holdtræning to gange om ugen og én individuel træning.",
    )
    .await?;
    s.status("rehab.physio", &mut c, rehab, StepStatus::InProgress).await?;
    s.progress("rehab.physio", &mut c, 5, [3, 5, 6]).await?;
    let lift =
        s.goal("rehab.physio", &mut c, GoalKind::Functional, "Løfte 10 kg fra gulvet uden at få ondt bagefter").await?;
    s.care("rehab.ot", &mut c, CourseChange::AgreeGoal { goal: lift }).await?;
    s.care("jobcentre", &mut c, CourseChange::AgreeGoal { goal: lift }).await?;
    s.day(130, 13);
    s.entry(
        "rehab.ot",
        &mut c,
        T::Assessment,
        C::SocialEmployment,
        "Arbejdspladsvurdering",
        "Besøg på lageret sammen med Jens og hans leder. Forslag: lettere opgaver og løftehjælpemidler i optrapningen.",
    )
    .await?;
    s.day(154, 13);
    s.entry("jobcentre", &mut c, T::Meeting, C::SocialEmployment, "Revurdering (uge 22)",
        "Sygedagpengene er forlænget. Plan: delvis raskmelding med 15 timer om ugen fra næste måned, sideløbende med genoptræningen.").await?;
    s.day(170, 15);
    s.entry(
        "rehab.physio",
        &mut c,
        T::Note,
        C::ClinicalFindings,
        "Status efter seks ugers genoptræning",
        "Smerte 4/10. Løfter 6 kg. Går 25 minutter.",
    )
    .await?;
    s.progress("rehab.physio", &mut c, 4, [5, 6, 7]).await?;
    s.day(182, 9);
    s.entry(
        "jobcentre",
        &mut c,
        T::SickLeave,
        C::SocialEmployment,
        "Delvis raskmeldt",
        "Arbejder 15 timer om ugen med lettere opgaver.",
    )
    .await?;
    s.step(
        "rehab.physio",
        &mut c,
        StepKind::FollowUp,
        "Opfølgende samtale om træningen derhjemme",
        s.role("rehab", "genoptræningsteam"),
        (Some(250), 262),
        ("Fastholdelse efter genoptræning.", "Vi taler om, hvordan det går med øvelserne derhjemme og på arbejdet."),
        "En samtale på 30 minutter, gerne over telefonen.",
        "Vi kan aftale et par ekstra træninger.",
    )
    .await?;
    s.step(
        "jobcentre",
        &mut c,
        StepKind::Meeting,
        "Opfølgningssamtale på jobcentret",
        s.role("jobcentre", "sagsbehandler"),
        (None, 252),
        ("Sygedagpengeopfølgning.", "Vi taler om, hvordan det går på arbejdet, og om du kan arbejde flere timer."),
        "En samtale på en halv time.",
        "Vi finder en anden plan sammen med din læge.",
    )
    .await?;
    // Jens lets the jobcentre and the rehabilitation team share what bears on his work.
    s.day(186, 10);
    let purpose = "Samarbejde mellem jobcentret og genoptræningen om tilbagevenden til arbejdet";
    s.consent("rehab.physio", &c, "rehab", &[C::SocialEmployment], purpose).await?;
    s.day(190, 11);
    let question = s
        .message(
            "jobcentre",
            &mut c,
            ThreadKind::Message,
            Addressee::Role { org: s.orgs["rehab"], role: "genoptræningsteam".into() },
            ThreadCategory::CareCoordination,
            C::SocialEmployment,
            (
                "Smerter efter genoptræningen?",
                "Jens fortæller, at han stadig har ondt efter træning, og at han er bange for at arbejde flere timer. \
                 Er det forventeligt? Og er der opgaver på lageret, han ikke bør lave endnu?",
            ),
            Some(197),
        )
        .await?;
    s.day(192, 9);
    s.answer(
        "rehab.physio",
        &mut c,
        question,
        C::Plan,
        "Ja, det er forventeligt, at det gør lidt ondt i en periode efter genoptræningen, og det er ikke et tegn på skade. \
         Jens kan løfte op til 10 kg. Han bør vente med gentagne løft over skulderhøjde et par måneder endnu. \
         Vi anbefaler at øge arbejdstiden lidt ad gangen, fx fem timer om ugen hver anden uge.",
    )
    .await?;
    s.day(193, 8);
    s.app.read_thread(&s.actors["jobcentre"], c.patient, question).await?;
    // A round-table meeting with Jens about the way back to work.
    s.day(195, 10);
    let when = at(s.date(205), 12);
    let conference = s
        .care(
            "coordinator",
            &mut c,
            CourseChange::ScheduleConference {
                at: when,
                place: "Jobcenter Aabæk, mødelokale 2, eller video: https://video.aabaek.example/rundbord".into(),
                agenda: "1. Hvordan går det med arbejdet og smerterne?\n2. Plan for flere timer.\n3. Hvem gør hvad?"
                    .into(),
                participants: vec![
                    s.role("jobcentre", "sagsbehandler"),
                    s.role("rehab", "genoptræningsteam"),
                    s.person("gp"),
                ],
                patient_invited: true,
            },
        )
        .await?;
    s.day(200, 19);
    s.progress("jens", &mut c, 3, [6, 8, 7]).await?;
    s.goal("jens", &mut c, GoalKind::Personal, "At kunne spille fodbold med min søn igen").await?;
    s.day(205, 14);
    s.change(
        "coordinator",
        &mut c,
        CourseChange::RecordMinutes {
            conference,
            minutes: "Deltog: Jens, hans koordinator, jobcentret og genoptræningen. Egen læge havde sendt sine bemærkninger. \
                      Jens arbejder 20 timer om ugen og har mindre ondt. Aftalt: flere timer lidt ad gangen, \
                      og ergoterapeuten ser på opgaverne på lageret igen."
                .into(),
            decisions: vec![
                MinutesDecision::Goal { goal_kind: GoalKind::Work, text: "Arbejde 25 timer om ugen inden for tre måneder".into() },
                MinutesDecision::Step {
                    step_kind: StepKind::FollowUp,
                    title: "Nyt besøg på arbejdspladsen".into(),
                    owner: s.person("rehab.ot"),
                    due_from: Some(s.date(220)),
                    due_by: s.date(235),
                    reason: "Vurdering af arbejdsopgaver ved øget arbejdstid.".into(),
                    reason_plain: "Vi ser sammen med din leder på, hvilke opgaver du kan tage, når du arbejder flere timer.".into(),
                    what_to_expect: "Et besøg på lageret på en time.".into(),
                    if_it_does_not_help: "Vi finder andre opgaver eller hjælpemidler sammen med din leder.".into(),
                },
            ],
        },
    )
    .await?;
    s.day(210, 14);
    s.entry(
        "rehab.physio",
        &mut c,
        T::Note,
        C::ClinicalFindings,
        "Genoptræningen afsluttet",
        "Smerte 3/10. Løfter 10 kg. Arbejder 20 timer om ugen. Fortsætter selv med øvelserne.",
    )
    .await?;
    s.progress("rehab.physio", &mut c, 3, [7, 8, 8]).await?;
    s.status("rehab.physio", &mut c, rehab, StepStatus::Done).await?;
    Ok(())
}

/// Maria, 34: psychosis through general practice, an admission to hospital
/// psychiatry and a late discharge letter, outpatient follow-up, municipal social
/// psychiatry, medicines from several prescribers, and a second course for her
/// physical health on antipsychotics.
async fn mental_health(s: &mut Story<'_>) -> Result<PatientId, AppError> {
    s.day(0, 10);
    let cpr = Cpr::parse("030991-2648").expect("a valid demo CPR number");
    let maria = s.app.register_patient(&s.actors["gp"], cpr, "Maria Sørensen").await?.id;
    s.patient_login("maria", "Maria Sørensen", maria).await?;
    let mut c =
        s.open("gp", maria, "Psykose", "Tiltagende mistænksomhed, søvnløshed og hørelseshallucinationer.").await?;
    s.entry(
        "gp",
        &mut c,
        T::Assessment,
        C::MentalHealth,
        "Konsultation sammen med moderen",
        "Maria har i tre uger sovet dårligt, er bange for, at naboerne overvåger hende, og hører stemmer. \
         Ingen selvmordstanker. Intet misbrug oplyst. Akut henvisning til psykiatrien.",
    )
    .await?;
    s.entry(
        "gp",
        &mut c,
        T::Referral,
        C::Plan,
        "Akut henvisning til Psykiatrisk Center Nord",
        "Spørgsmål: udredning og behandling af psykose. Til patienten: du skal tale med en psykiater i dag.",
    )
    .await?;
    s.join("gp", &mut c, "psychiatry", "psykiatri").await?;
    s.key_worker("gp", &mut c, "gp").await?;
    s.goal("psychiatrist", &mut c, GoalKind::Clinical, "Ingen genindlæggelse det næste år").await?;

    s.day(1, 14);
    s.entry(
        "psychiatrist",
        &mut c,
        T::Admission,
        C::MentalHealth,
        "Indlagt på sengeafsnit",
        "Frivillig indlæggelse. Psykotisk, ikke selvmordstruet.",
    )
    .await?;
    s.episode("psychiatrist", &mut c, EpisodeKind::Admission, "psychiatry", "Frivillig indlæggelse").await?;
    // While Maria is in psychiatry, psychiatry holds the course.
    let to_psychiatry = s
        .hand_over(
            "gp",
            &mut c,
            HandoverSubject::Course,
            s.role("psychiatry", "sengeafsnit og ambulatorium"),
            "Akut psykose; psykiatrien overtager behandlingen.",
            None,
        )
        .await?;
    s.accept("psychiatrist", &mut c, to_psychiatry).await?;
    s.day(2, 11);
    s.entry("psychiatrist", &mut c, T::Prescription, C::Medication, "Olanzapin 10 mg dagligt",
        "Startet under indlæggelsen. Kræver kontrol af vægt, blodtryk, blodsukker og kolesterol ved start og efter 12 uger.").await?;
    s.entry(
        "psychiatrist",
        &mut c,
        T::Prescription,
        C::Medication,
        "Zopiclon 7,5 mg til natten efter behov",
        "Kortvarigt mod søvnløshed.",
    )
    .await?;
    s.advice("psychiatrist", &mut c, "sleep_medicine", "continue", "Zopiclon til natten indtil søvnen er stabil.")
        .await?;
    s.day(3, 20);
    s.entry(
        "psych.nurse",
        &mut c,
        T::Note,
        C::MentalHealth,
        "Sygeplejenotat",
        "Sover bedre. Spiser med de andre. Fortæller, at stemmerne er lidt svagere.",
    )
    .await?;
    s.day(10, 12);
    s.entry("psychiatrist", &mut c, T::Note, C::Diagnoses, "Diagnose", "Paranoid skizofreni (DF20.0).").await?;
    s.day(21, 11);
    s.entry(
        "psychiatrist",
        &mut c,
        T::Discharge,
        C::MentalHealth,
        "Udskrevet til ambulant behandling",
        "Udskrevet efter tre uger. Fortsætter i ambulatoriet. Epikrise til egen læge følger.",
    )
    .await?;
    let discharge = s
        .episode("psychiatrist", &mut c, EpisodeKind::Discharge, "psychiatry", "Udskrevet til ambulant behandling")
        .await?;
    s.episode("psychiatrist", &mut c, EpisodeKind::OutpatientStart, "psychiatry", "Ambulant forløb i psykiatrien")
        .await?;
    let outpatient = s
        .step(
            "psychiatrist",
            &mut c,
            StepKind::FollowUp,
            "Ambulante samtaler i psykiatrien",
            s.role("psychiatry", "ambulatoriet"),
            (Some(28), 120),
            ("Paranoid skizofreni, stabiliseret.", "Samtaler hjælper dig med at holde styr på stemmerne og medicinen."),
            "En samtale hver anden uge.",
            "Ring til ambulatoriet, hvis stemmerne bliver værre.",
        )
        .await?;
    s.join("psychiatrist", &mut c, "socialpsych", "socialpsykiatri (støttekontaktperson)").await?;
    // Maria lets social psychiatry see the plan and her medicines, so her support
    // worker can help her keep to them; the psychiatric notes stay in health.
    let purpose = "Støtte i hverdagen og hjælp til at tage medicinen";
    s.consent("psychiatrist", &c, "socialpsych", &[C::Plan, C::Medication], purpose).await?;
    s.day(24, 13);
    s.entry("socialpsych", &mut c, T::Meeting, C::SocialEmployment, "Første hjemmebesøg",
        "Maria bor alene. Vi aftaler ugentlige besøg. Hun vil gerne have hjælp til at komme til lægen og til at få struktur på dagen.").await?;
    s.care(
        "maria",
        &mut c,
        CourseChange::WriteStory {
            story: StoryText {
                history: "Jeg blev syg i vinter. Jeg sov ikke og hørte stemmer. Jeg var indlagt i tre uger.".into(),
                tried: "Jeg har prøvet at klare det selv, men det gik ikke.".into(),
                what_matters: "At få styr på min hverdag og komme tilbage til mit job i butikken.".into(),
                preferences: "Besøg om eftermiddagen. Jeg vil helst have at vide på forhånd, hvem der kommer.".into(),
                practical_needs:
                    "Jeg vil gerne have min støttekontaktperson med til lægen. Jeg har svært ved at læse lange breve."
                        .into(),
            },
        },
    )
    .await?;
    s.goal("socialpsych", &mut c, GoalKind::Recovery, "En fast ugerytme med værestedet to gange om ugen").await?;
    // Maria names her mother as her proxy, who may read along.
    s.day(30, 18);
    let lise = s.app.add_user("lise", "Lise Sørensen", UserKind::Proxy { patient: maria }).await?;
    s.sharing("maria", maria, SharingChange::NameProxy { user: lise.id, relationship: "mor".into() }).await?;
    s.day(35, 9);
    s.entry("psychiatrist", &mut c, T::Letter, C::MentalHealth, "Epikrise",
        "Indlagt i tre uger med psykose. Diagnose: paranoid skizofreni. Medicin ved udskrivelsen: olanzapin 10 mg dagligt, \
         zopiclon 7,5 mg efter behov. Opfølgning i ambulatoriet. Egen læge bedes følge vægt, blodtryk, blodsukker, kolesterol og EKG.").await?;

    s.care(
        "psychiatrist",
        &mut c,
        CourseChange::ReceiveLetter {
            letter: discharge,
            title: "Epikrise".into(),
            text: "Sendt til egen læge, to uger efter udskrivelsen.".into(),
        },
    )
    .await?;
    s.status("psychiatrist", &mut c, outpatient, StepStatus::InProgress).await?;
    s.day(40, 9);
    s.entry("gp", &mut c, T::Note, C::Medication, "Medicingennemgang",
        "Aktuel medicin fra flere ordinerende: olanzapin 10 mg (psykiatrien), zopiclon 7,5 mg efter behov (psykiatrien), \
         p-piller (egen læge), ibuprofen 400 mg efter behov (egen læge). Spørgsmål til ambulatoriet: hvem følger EKG fremover?").await?;
    let mut body = s
        .open(
            "gp",
            maria,
            "Fysisk sundhed ved antipsykotisk behandling",
            "Kontrol af vægt, blodtryk, blodsukker, kolesterol og EKG under behandling med antipsykotika.",
        )
        .await?;
    s.day(40, 10);
    s.entry(
        "nurse",
        &mut body,
        T::Finding,
        C::ClinicalFindings,
        "Første målinger",
        "Vægt 68 kg, BMI 24,1, taljemål 82 cm, blodtryk 118/76. Fasteblodsukker 5,2 mmol/l. Kolesterol 4,6 mmol/l. \
         Målinger fra før behandlingen er ikke modtaget fra sengeafsnittet.",
    )
    .await?;
    s.advice("gp", &mut c, "sleep_medicine", "taper", "Trap zopiclon ud over to uger; søvnen er bedre nu.").await?;
    let checks = s
        .step(
            "gp",
            &mut body,
            StepKind::Test,
            "EKG og blodprøver",
            s.person("nurse"),
            (None, 45),
            (
                "Monitorering under antipsykotisk behandling.",
                "Vi tjekker hjerte, blodsukker og kolesterol, fordi medicinen kan påvirke dem.",
            ),
            "En blodprøve og et EKG. Det tager en halv time.",
            "Vi taler med psykiatrien om medicinen.",
        )
        .await?;
    s.day(41, 9);
    s.entry("gp", &mut body, T::Finding, C::ClinicalFindings, "EKG", "QTc 428 ms. Normalt EKG.").await?;
    s.status("nurse", &mut body, checks, StepStatus::Done).await?;
    s.day(42, 9);
    s.entry(
        "socialpsych",
        &mut c,
        T::Meeting,
        C::SocialEmployment,
        "Ledsaget til lægen",
        "Fulgte Maria til konsultation hos egen læge og hjalp med at huske spørgsmålene.",
    )
    .await?;
    s.day(60, 13);
    s.entry(
        "psych.nurse",
        &mut c,
        T::Note,
        C::MentalHealth,
        "Ambulant samtale",
        "Stabil. Færre stemmer. Har taget 4 kg på siden starten og er ked af det.",
    )
    .await?;
    s.day(75, 14);
    s.entry(
        "psychiatrist",
        &mut c,
        T::Prescription,
        C::Medication,
        "Skift fra olanzapin til aripiprazol 10 mg dagligt",
        "Skiftet på grund af vægtøgning. Olanzapin trappes ud over to uger.",
    )
    .await?;
    // The GP asks outpatient psychiatry who follows up on the new medicine; the answer
    // is filed on the course.
    s.day(80, 11);
    let ekg = s
        .message(
            "gp",
            &mut c,
            ThreadKind::SpecialistQuestion,
            Addressee::Role { org: s.orgs["psychiatry"], role: "ambulatoriet".into() },
            ThreadCategory::Medication,
            C::Medication,
            (
                "EKG og blodprøver under aripiprazol",
                "Maria er skiftet til aripiprazol 10 mg. Hvem følger EKG og blodprøver fremover, og hvor ofte? \
                 Jeg har ikke målinger fra før behandlingen.",
            ),
            Some(87),
        )
        .await?;
    s.day(83, 15);
    s.answer(
        "psychiatrist",
        &mut c,
        ekg,
        C::Medication,
        "Vi tager EKG og blodprøver ved næste ambulante samtale om to uger. Derefter beder vi egen læge om at måle \
         vægt, blodtryk og blodsukker hver tredje måned og tage EKG og kolesterol én gang om året.",
    )
    .await?;
    // Maria lets her GP see what social psychiatry writes about her everyday life.
    s.day(88, 10);
    let purpose = "Samarbejde om ledsagelse til lægen og om hverdagen";
    s.consent("gp", &c, "gp", &[C::Plan, C::SocialEmployment], purpose).await?;
    s.day(90, 9);
    let escort = s
        .message(
            "gp",
            &mut c,
            ThreadKind::Message,
            Addressee::Professional { user: s.actors["socialpsych"].user.id, org: s.orgs["socialpsych"] },
            ThreadCategory::PsychiatrySocial,
            C::Plan,
            (
                "Ledsagelse til kontrol",
                "Maria har tid hos mig tirsdag kl. 10 til blodprøver og EKG. Kan du følge hende, som sidst?",
            ),
            Some(92),
        )
        .await?;
    s.day(91, 13);
    s.answer("socialpsych", &mut c, escort, C::Plan, "Ja. Jeg henter hende kl. 9.30 og følger hende hjem igen.")
        .await?;
    s.day(100, 14);
    s.entry(
        "socialpsych",
        &mut c,
        T::Note,
        C::SocialEmployment,
        "Status",
        "Maria har fået en fast ugerytme og kommer på værestedet to gange om ugen.",
    )
    .await?;
    s.day(110, 10);
    // Psychiatry wants to hand the course back to the GP; the GP has not answered yet.
    s.hand_over(
        "psychiatrist",
        &mut c,
        HandoverSubject::Course,
        s.role("gp", "egen læge"),
        "Maria har været stabil i tre måneder; vi foreslår, at egen læge overtager ansvaret.",
        None,
    )
    .await?;
    s.day(126, 9);
    s.entry(
        "nurse",
        &mut body,
        T::Finding,
        C::ClinicalFindings,
        "Kontrol efter 12 uger",
        "Vægt 74 kg (+6 kg), BMI 26,2, blodtryk 124/80, fasteblodsukker 5,9 mmol/l. \
         Talt om kost og motion. Besked sendt til psykiatrien om vægtøgningen.",
    )
    .await?;
    s.step(
        "gp",
        &mut body,
        StepKind::FollowUp,
        "Årskontrol af vægt, blodtryk, blodsukker, kolesterol og EKG",
        s.person("nurse"),
        (Some(360), 372),
        ("Årlig monitorering under antipsykotisk behandling.", "Vi tjekker igen, at medicinen ikke skader din krop."),
        "En blodprøve, et EKG og en snak om kost og motion.",
        "Vi taler med psykiatrien om medicinen.",
    )
    .await?;
    s.goal("maria", &mut c, GoalKind::Personal, "At kunne passe mit job i butikken igen").await?;
    // A question the clinic has not answered, now past its date.
    s.day(150, 12);
    s.message(
        "gp",
        &mut c,
        ThreadKind::Message,
        Addressee::Role { org: s.orgs["psychiatry"], role: "ambulatoriet".into() },
        ThreadCategory::Medication,
        C::Medication,
        (
            "Vægtøgning trods skift af medicin",
            "Maria har taget 6 kg på siden starten, også efter skiftet til aripiprazol, og hun er ked af det. \
             Skal vi overveje et andet præparat, eller skal jeg henvise hende til en diætist?",
        ),
        Some(157),
    )
    .await?;
    Ok(maria)
}

/// The advice conflict the course has open (the chiropractor's "rest" against the GP's
/// "keep active").
async fn open_conflict(app: &Sammen, course: &Course) -> Result<ItemId, AppError> {
    let state = app.store().course(course.patient, course.id).await?.ok_or(AppError::NotFound("course"))?;
    state
        .care
        .conflicts
        .iter()
        .find(|c| c.resolution.is_none())
        .map(|c| c.id)
        .ok_or(AppError::NotFound("advice conflict"))
}
