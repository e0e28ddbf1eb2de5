//! Messages, conferences and the worklist, decided without a database: addressing,
//! tracking, duplicates, corrections, specialist questions, attachments, the minutes
//! that become goals and steps, and the work each course and thread holds.

use std::sync::atomic::{AtomicU64, Ordering};
use time::macros::{date, datetime};
use time::OffsetDateTime;

use sammen_domain::care::{GoalKind, MinutesDecision, Owner, StepKind};
use sammen_domain::clock::IdSource;
use sammen_domain::decide::{self, ChangeFacts, Context, CourseChange, OpenCourse};
use sammen_domain::event::{EntryType, EventBody, TeamMember};
use sammen_domain::ids::{ItemId, OrgId, PatientId, UserId};
use sammen_domain::messaging::{
    self, Addressee, MessageFacts, NewThread, Reply, ThreadCategory, ThreadKind, ThreadState, Tracking,
};
use sammen_domain::projection::{CourseState, Projections};
use sammen_domain::vocab::{DataCategory, LegalDomain, Sector};
use sammen_domain::worklist::{self, Assignee, Show, WorkKind};

struct Ids(AtomicU64);
impl IdSource for Ids {
    fn random_bytes(&self) -> [u8; 16] {
        let mut b = [9u8; 16];
        b[8..].copy_from_slice(&self.0.fetch_add(1, Ordering::Relaxed).to_be_bytes());
        b
    }
}

const T0: OffsetDateTime = datetime!(2026-03-02 09:00 UTC);

type Who = (UserId, OrgId);

/// A course opened by a GP, with psychiatry and social psychiatry on the team.
struct World {
    ids: Ids,
    gp: Who,
    psychiatry: Who,
    social: Who,
    course: CourseState,
    patient: PatientId,
    now: OffsetDateTime,
}

impl World {
    fn new() -> Self {
        let ids = Ids(AtomicU64::new(1));
        let who = || (UserId::from_random_bytes(ids.random_bytes()), OrgId::from_random_bytes(ids.random_bytes()));
        let (gp, psychiatry, social) = (who(), who(), who());
        let patient = PatientId::from_random_bytes([1; 16]);
        let ctx = Context { actor: gp.0, org: Some(gp.1), domain: LegalDomain::Health, now: T0, ids: &ids };
        let open = OpenCourse { title: "Psykose".into(), reason: "Henvist".into(), started_on: date!(2026 - 03 - 01) };
        let (id, events) = decide::open_course(&ctx, &open, gp.1, "almen praksis").unwrap();
        let mut p = Projections::default();
        for e in &events {
            p.apply(patient, e);
        }
        let course = p.courses.remove(&id).unwrap();
        let mut w = World { ids, gp, psychiatry, social, course, patient, now: T0 };
        for (org, role) in [(psychiatry.1, "ambulatoriet"), (social.1, "støttekontaktperson")] {
            w.change(gp, CourseChange::JoinCareTeam { member: TeamMember::Organisation { org }, role: role.into() });
        }
        w
    }

    fn ctx(&self, who: Who) -> Context<'_> {
        let domain = if who == self.social { LegalDomain::Social } else { LegalDomain::Health };
        Context { actor: who.0, org: Some(who.1), domain, now: self.now, ids: &self.ids }
    }

    fn change(&mut self, who: Who, change: CourseChange) -> Vec<ItemId> {
        let events = decide::change_course(&self.ctx(who), &self.course, &change, &ChangeFacts::default()).unwrap();
        for e in &events {
            self.course.apply(e);
        }
        events.iter().filter_map(|e| e.item).collect()
    }

    fn thread(&self, who: Who, to: Vec<Addressee>, kind: ThreadKind, answer_by: Option<time::Date>) -> ThreadState {
        let cmd = NewThread {
            kind,
            category: ThreadCategory::Medication,
            topic: None,
            subject: "EKG-kontrol".into(),
            to: to.clone(),
            copy: vec![],
            text: "Hvem følger EKG fremover?".into(),
            data_category: DataCategory::Medication,
            references: vec![],
            answer_by,
            client_id: Some("gp-1".into()),
        };
        let recipients = messaging::expand(&self.course, &to, &[], who.0, Some(who.1)).unwrap();
        let (_, event) =
            messaging::start_thread(&self.ctx(who), &self.course, &cmd, recipients, None, &MessageFacts::default())
                .unwrap();
        ThreadState::from_start(self.patient, &event).unwrap()
    }

    fn reply(&self, who: Who, thread: &mut ThreadState, text: &str) -> ItemId {
        let cmd = Reply {
            text: text.into(),
            data_category: DataCategory::Medication,
            references: vec![],
            corrects: None,
            answer_by: None,
            client_id: None,
        };
        let e = messaging::reply(&self.ctx(who), &self.course, thread, &cmd, &MessageFacts::default()).unwrap();
        thread.apply(&e);
        e.item.unwrap()
    }
}

fn role(who: Who, role: &str) -> Addressee {
    Addressee::Role { org: who.1, role: role.into() }
}

#[test]
fn the_care_team_expands_to_everyone_but_the_sender() {
    let w = World::new();
    let all = messaging::expand(&w.course, &[Addressee::CareTeam], &[], w.gp.0, Some(w.gp.1)).unwrap();
    let orgs: Vec<OrgId> = all.iter().map(|(o, _)| o.org()).collect();
    assert_eq!(orgs, vec![w.psychiatry.1, w.social.1]);
    assert!(all.iter().all(|(_, copy)| !copy));
    // Named as addressee and as copy: an addressee.
    let both = messaging::expand(&w.course, &[role(w.psychiatry, "a")], &[role(w.psychiatry, "a")], w.gp.0, None);
    assert_eq!(both.unwrap(), vec![(Owner::Role { org: w.psychiatry.1, role: "a".into() }, false)]);
    // To nobody, or only to oneself, or only copies: refused.
    let me = Addressee::Professional { user: w.gp.0, org: w.gp.1 };
    for (to, copy) in [(vec![], vec![]), (vec![me], vec![]), (vec![], vec![role(w.social, "x")])] {
        let err = messaging::expand(&w.course, &to, &copy, w.gp.0, Some(w.gp.1)).unwrap_err();
        assert_eq!(err.code(), "invalid_field");
    }
}

#[test]
fn delivered_read_answered() {
    let mut w = World::new();
    let mut t = w.thread(w.gp, vec![role(w.psychiatry, "ambulatoriet")], ThreadKind::Message, None);
    let tracking = |t: &ThreadState| t.recipients[0].tracking(&t.messages);
    assert_eq!(tracking(&t), Tracking::Delivered);
    // The sender opening their own thread changes nothing.
    assert!(messaging::mark_read(&w.ctx(w.gp), &t).is_none());
    w.now += time::Duration::hours(1);
    let read = messaging::mark_read(&w.ctx(w.psychiatry), &t).unwrap();
    t.apply(&read);
    assert_eq!(tracking(&t), Tracking::Read);
    assert!(messaging::mark_read(&w.ctx(w.psychiatry), &t).is_none(), "nothing new to read");
    w.now += time::Duration::hours(1);
    w.reply(w.psychiatry, &mut t, "Vi følger EKG indtil videre.");
    assert_eq!(tracking(&t), Tracking::Answered);
    // A new question from the sender: the recipient owes an answer again.
    w.now += time::Duration::hours(1);
    w.reply(w.gp, &mut t, "Tak. Og blodprøverne?");
    assert_eq!(tracking(&t), Tracking::Delivered);
    assert!(t.recipients[0].owes_answer(&t.messages));
    assert_eq!(t.version, 4);
}

#[test]
fn corrections_and_duplicates() {
    let w = World::new();
    let mut t = w.thread(w.gp, vec![role(w.psychiatry, "ambulatoriet")], ThreadKind::Message, None);
    let first = t.messages[0].id;
    let text = t.messages[0].body.text.clone();
    assert_eq!(messaging::duplicate(&t, w.gp.0, Some("gp-1"), &text), Ok(Some(first)));
    assert_eq!(messaging::duplicate(&t, w.psychiatry.0, Some("gp-1"), "x"), Ok(None), "client ids are per sender");
    let other = messaging::duplicate(&t, w.gp.0, Some("gp-1"), "Noget helt andet");
    assert_eq!(other.unwrap_err().code(), "rejected", "the same id with other text is not the same message");
    let correction = |corrects| Reply {
        text: "Rettelse: hvem følger EKG og blodprøver?".into(),
        data_category: DataCategory::Medication,
        references: vec![],
        corrects: Some(corrects),
        answer_by: None,
        client_id: None,
    };
    // Only the author corrects a message, and only once.
    let by_other = messaging::reply(&w.ctx(w.psychiatry), &w.course, &t, &correction(first), &MessageFacts::default());
    assert_eq!(by_other.unwrap_err().code(), "rejected");
    let e = messaging::reply(&w.ctx(w.gp), &w.course, &t, &correction(first), &MessageFacts::default()).unwrap();
    t.apply(&e);
    assert_eq!(t.messages[0].corrected_by, e.item);
    assert_eq!(t.messages.len(), 2, "the corrected message stays");
    let again = messaging::reply(&w.ctx(w.gp), &w.course, &t, &correction(first), &MessageFacts::default());
    assert_eq!(again.unwrap_err().code(), "rejected");
}

#[test]
fn a_specialist_files_the_answer_on_the_course() {
    let mut w = World::new();
    let mut t = w.thread(w.gp, vec![role(w.psychiatry, "psykiater")], ThreadKind::SpecialistQuestion, None);
    let cmd = Reply {
        text: "Fortsæt aripiprazol; EKG om et år.".into(),
        data_category: DataCategory::Medication,
        references: vec![],
        corrects: None,
        answer_by: None,
        client_id: None,
    };
    // The sender's own follow-up is not an answer.
    let ctx = w.ctx(w.gp);
    let own = messaging::reply(&ctx, &w.course, &t, &cmd, &MessageFacts::default()).unwrap();
    assert!(messaging::filed_answer(&ctx, &w.course, &t, &own).is_none());
    let ctx = w.ctx(w.psychiatry);
    let answer = messaging::reply(&ctx, &w.course, &t, &cmd, &MessageFacts::default()).unwrap();
    let filed = messaging::filed_answer(&ctx, &w.course, &t, &answer).unwrap();
    match &filed.body {
        EventBody::EntryRecorded { entry_type, category, text, .. } => {
            assert_eq!(*entry_type, EntryType::SpecialistAnswer);
            assert_eq!(*category, DataCategory::Medication);
            assert_eq!(text, "Fortsæt aripiprazol; EKG om et år.");
        }
        other => panic!("expected an entry, got {other:?}"),
    }
    t.apply(&answer);
    w.course.apply(&filed);
    assert!(w.course.entries.iter().any(|e| e.entry_type == EntryType::SpecialistAnswer));
    // A question to a specialist goes to one role.
    let cmd = NewThread {
        kind: ThreadKind::SpecialistQuestion,
        category: ThreadCategory::Medication,
        topic: None,
        subject: "x".into(),
        to: vec![],
        copy: vec![],
        text: "x".into(),
        data_category: DataCategory::Medication,
        references: vec![],
        answer_by: None,
        client_id: None,
    };
    let two = vec![
        (Owner::Role { org: w.psychiatry.1, role: "a".into() }, false),
        (Owner::Role { org: w.social.1, role: "b".into() }, false),
    ];
    let err = messaging::start_thread(&w.ctx(w.gp), &w.course, &cmd, two, None, &MessageFacts::default());
    assert_eq!(err.unwrap_err().code(), "invalid_field");
}

#[test]
fn bad_messages_are_refused() {
    let w = World::new();
    let base = NewThread {
        kind: ThreadKind::Message,
        category: ThreadCategory::Other,
        topic: None,
        subject: "Spørgsmål".into(),
        to: vec![],
        copy: vec![],
        text: "Tekst".into(),
        data_category: DataCategory::Messages,
        references: vec![],
        answer_by: None,
        client_id: None,
    };
    let to = vec![(Owner::Role { org: w.psychiatry.1, role: "a".into() }, false)];
    let start = |cmd: &NewThread| {
        messaging::start_thread(&w.ctx(w.gp), &w.course, cmd, to.clone(), None, &MessageFacts::default())
            .map(|_| ())
            .map_err(|e| e.code())
    };
    assert_eq!(start(&base), Err("invalid_field"), "'other' needs a topic");
    let ok = NewThread { topic: Some("Transport".into()), ..base.clone() };
    assert_eq!(start(&ok), Ok(()));
    assert_eq!(start(&NewThread { text: "  ".into(), ..ok.clone() }), Err("invalid_field"));
    assert_eq!(start(&NewThread { answer_by: Some(date!(2026 - 03 - 01)), ..ok.clone() }), Err("invalid_field"));
    assert_eq!(
        start(&NewThread { references: vec![ItemId::from_random_bytes([5; 16])], ..ok.clone() }),
        Err("not_found")
    );
    assert_eq!(start(&NewThread { data_category: DataCategory::Identity, ..ok.clone() }), Err("invalid_field"));
}

#[test]
fn attachments_are_what_they_say() {
    let pdf = b"%PDF-1.7\n...".to_vec();
    let png = b"\x89PNG\r\n\x1a\n....".to_vec();
    assert_eq!(messaging::check_attachment("epikrise.pdf", "application/pdf", &pdf).unwrap(), "application/pdf");
    assert_eq!(messaging::check_attachment("ekg.png", "IMAGE/PNG", &png).unwrap(), "image/png");
    let code = |r: Result<String, sammen_domain::DomainError>| r.unwrap_err().code();
    assert_eq!(code(messaging::check_attachment("ekg.pdf", "application/pdf", &png)), "invalid_field");
    assert_eq!(code(messaging::check_attachment("x.exe", "application/x-msdownload", b"MZ")), "unknown_value");
    let big = [b"%PDF-".as_slice(), &vec![0u8; messaging::MAX_ATTACHMENT_BYTES]].concat();
    assert_eq!(code(messaging::check_attachment("big.pdf", "application/pdf", &big)), "invalid_field");
    assert_eq!(code(messaging::check_attachment("../x.pdf", "application/pdf", &pdf)), "invalid_field");
    assert_eq!(code(messaging::check_attachment("x.pdf", "application/pdf", b"")), "invalid_field");
}

#[test]
fn minutes_become_goals_and_steps_in_one_write() {
    let mut w = World::new();
    let conference = w.change(
        w.gp,
        CourseChange::ScheduleConference {
            at: datetime!(2026-03-10 13:00 UTC),
            place: "Video: https://møde.example/abc".into(),
            agenda: "Medicin og hverdag".into(),
            participants: vec![Owner::Role { org: w.psychiatry.1, role: "psykiater".into() }],
            patient_invited: true,
        },
    )[0];
    w.now = datetime!(2026-03-10 14:00 UTC);
    let step = MinutesDecision::Step {
        step_kind: StepKind::FollowUp,
        title: "Blodprøver hver tredje måned".into(),
        owner: Owner::Professional { user: w.gp.0, org: w.gp.1 },
        due_from: None,
        due_by: date!(2026 - 06 - 10),
        reason: "Monitorering".into(),
        reason_plain: "Vi tjekker, at medicinen ikke skader din krop.".into(),
        what_to_expect: String::new(),
        if_it_does_not_help: String::new(),
    };
    let goal = MinutesDecision::Goal { goal_kind: GoalKind::Recovery, text: "Tilbage i butikken på deltid".into() };
    let record = |decisions: Vec<MinutesDecision>| CourseChange::RecordMinutes {
        conference,
        minutes: "Aftalt: blodprøver hos egen læge; mål om deltidsarbejde.".into(),
        decisions,
    };
    // One bad decision refuses the whole write.
    let bad = MinutesDecision::Step {
        step_kind: StepKind::FollowUp,
        title: "x".into(),
        owner: Owner::Professional { user: w.gp.0, org: w.gp.1 },
        due_from: None,
        due_by: date!(2026 - 01 - 01),
        reason: "x".into(),
        reason_plain: "x".into(),
        what_to_expect: String::new(),
        if_it_does_not_help: String::new(),
    };
    let ctx = w.ctx(w.gp);
    let refused = decide::change_course(&ctx, &w.course, &record(vec![goal.clone(), bad]), &ChangeFacts::default());
    assert_eq!(refused.unwrap_err().code(), "invalid_field");
    let before = w.course.version;
    let items = w.change(w.gp, record(vec![step, goal]));
    assert_eq!(w.course.version, before + 3, "a step, a goal and the minutes");
    let minutes = w.course.care.conferences[0].minutes.clone().unwrap();
    assert_eq!(minutes.decided, items[..2].to_vec());
    assert!(w.course.care.step(items[0]).is_some() && w.course.care.goal(items[1]).is_some());
    let again = decide::change_course(&w.ctx(w.gp), &w.course, &record(vec![]), &ChangeFacts::default());
    assert_eq!(again.unwrap_err().code(), "rejected");
}

#[test]
fn a_thread_holds_questions_until_answered() {
    let mut w = World::new();
    let mut t =
        w.thread(w.gp, vec![role(w.psychiatry, "ambulatoriet")], ThreadKind::Message, Some(date!(2026 - 03 - 09)));
    let items = worklist::of_thread(&t);
    let question: Vec<_> = items.iter().filter(|i| i.kind == WorkKind::Question).collect();
    assert_eq!(question.len(), 1);
    assert_eq!(question[0].assignee, Assignee::Org { org: w.psychiatry.1 });
    let unanswered: Vec<_> = items.iter().filter(|i| i.kind == WorkKind::UnansweredQuestion).collect();
    let who: Vec<Assignee> = unanswered.iter().map(|i| i.assignee).collect();
    assert_eq!(who, vec![Assignee::User { user: w.gp.0 }, Assignee::KeyWorker]);
    assert!(unanswered.iter().all(|i| i.show == Show::AfterDue && i.due == Some(date!(2026 - 03 - 09))));
    // Read, it still stands since it was asked: a read receipt is no news.
    let asked = question[0].since;
    w.now += time::Duration::hours(1);
    let read = messaging::mark_read(&w.ctx(w.psychiatry), &t).expect("something to read");
    t.apply(&read);
    let after: Vec<_> = worklist::of_thread(&t).into_iter().filter(|i| i.kind == WorkKind::Question).collect();
    assert_eq!(after[0].since, asked);
    // Plain information without an answer date holds no work.
    let info = w.thread(w.gp, vec![role(w.psychiatry, "ambulatoriet")], ThreadKind::Message, None);
    assert!(worklist::of_thread(&info).is_empty());
    w.now += time::Duration::hours(2);
    w.reply(w.psychiatry, &mut t, "Vi følger EKG.");
    assert!(worklist::of_thread(&t).is_empty());
}

#[test]
fn a_course_holds_handovers_steps_letters_and_conflicts() {
    let mut w = World::new();
    let (gp, psychiatry) = (w.gp, w.psychiatry);
    w.change(gp, CourseChange::NameKeyWorker { user: gp.0 });
    let step = w.change(
        gp,
        CourseChange::PlanStep {
            step_kind: StepKind::Test,
            title: "EKG".into(),
            owner: Owner::Professional { user: gp.0, org: gp.1 },
            due_from: None,
            due_by: date!(2026 - 03 - 20),
            reason: "Monitorering".into(),
            reason_plain: "Vi tjekker hjertet.".into(),
            what_to_expect: String::new(),
            if_it_does_not_help: String::new(),
        },
    )[0];
    let facts = ChangeFacts { org_sector: Some(Sector::HospitalPsychiatry) };
    let handover = CourseChange::ProposeHandover {
        subject: sammen_domain::care::HandoverSubject::Step { step },
        to: Owner::Role { org: psychiatry.1, role: "ambulatoriet".into() },
        reason: "EKG tages i ambulatoriet".into(),
        respond_by: Some(date!(2026 - 03 - 12)),
        referral: None,
    };
    let events = decide::change_course(&w.ctx(gp), &w.course, &handover, &facts).unwrap();
    w.course.apply(&events[0]);
    let discharge = CourseChange::RecordEpisode {
        episode_kind: sammen_domain::care::EpisodeKind::Discharge,
        org: psychiatry.1,
        on: date!(2026 - 03 - 02),
        note: String::new(),
    };
    let events = decide::change_course(&w.ctx(psychiatry), &w.course, &discharge, &facts).unwrap();
    w.course.apply(&events[0]);
    for (who, stance) in [(gp, "continue"), (psychiatry, "taper")] {
        let advice =
            CourseChange::GiveAdvice { topic: "sleep_medicine".into(), stance: stance.into(), text: String::new() };
        w.change(who, advice);
    }
    let sector_of = |org: OrgId| Some(if org == gp.1 { Sector::GeneralPractice } else { Sector::HospitalPsychiatry });
    let items = worklist::of_course(&w.course, sector_of);
    let of = |kind: WorkKind| -> Vec<(Assignee, Show)> {
        items.iter().filter(|i| i.kind == kind).map(|i| (i.assignee, i.show)).collect()
    };
    assert_eq!(of(WorkKind::Handover), vec![(Assignee::Org { org: psychiatry.1 }, Show::UntilDue)]);
    assert_eq!(
        of(WorkKind::UnansweredHandover),
        vec![(Assignee::User { user: gp.0 }, Show::AfterDue), (Assignee::KeyWorker, Show::AfterDue)]
    );
    assert_eq!(of(WorkKind::OverdueStep), vec![(Assignee::User { user: gp.0 }, Show::AfterDue)]);
    assert_eq!(
        of(WorkKind::Letter),
        vec![(Assignee::Org { org: gp.1 }, Show::Always), (Assignee::KeyWorker, Show::Always)]
    );
    let conflict = of(WorkKind::AdviceConflict);
    assert_eq!(conflict.len(), 3, "both authors and the key worker: {conflict:?}");
    // The letter is mental health data, recorded in psychiatry.
    let letter = items.iter().find(|i| i.kind == WorkKind::Letter).unwrap();
    assert_eq!((letter.category, letter.author_org), (DataCategory::MentalHealth, Some(psychiatry.1)));
}
