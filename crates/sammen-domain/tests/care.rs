//! The care plan's rules: handover transitions as a table, advice conflicts, due
//! discharge letters, the key worker's handover, and the refusals.

use std::sync::atomic::{AtomicU64, Ordering};
use time::macros::{date, datetime};
use time::{Date, Duration, OffsetDateTime};

use sammen_domain::care::{
    ActivityScore, EpisodeKind, GoalKind, GoalStatus, HandoverState, HandoverSubject, Owner, Referral, StepKind,
    StepStatus, StoryText,
};
use sammen_domain::clock::IdSource;
use sammen_domain::decide::{self, ChangeFacts, Context, CourseChange, OpenCourse};
use sammen_domain::ids::{ItemId, OrgId, PatientId, UserId};
use sammen_domain::projection::{CourseState, Projections};
use sammen_domain::vocab::{LegalDomain, Sector};

struct Ids(AtomicU64);
impl IdSource for Ids {
    fn random_bytes(&self) -> [u8; 16] {
        let mut b = [7u8; 16];
        b[8..].copy_from_slice(&self.0.fetch_add(1, Ordering::Relaxed).to_be_bytes());
        b
    }
}

const T0: OffsetDateTime = datetime!(2026-03-02 09:00 UTC);

/// A GP, a physiotherapist and a course opened by the GP.
struct Fixture {
    ids: Ids,
    gp: (UserId, OrgId),
    physio: (UserId, OrgId),
    course: CourseState,
    now: OffsetDateTime,
}

impl Fixture {
    fn new() -> Self {
        let ids = Ids(AtomicU64::new(1));
        let gp = (UserId::from_random_bytes(ids.random_bytes()), OrgId::from_random_bytes(ids.random_bytes()));
        let physio = (UserId::from_random_bytes(ids.random_bytes()), OrgId::from_random_bytes(ids.random_bytes()));
        let ctx = Context { actor: gp.0, org: Some(gp.1), domain: LegalDomain::Health, now: T0, ids: &ids };
        let open =
            OpenCourse { title: "Lændesmerter".into(), reason: "Smerter".into(), started_on: date!(2026 - 03 - 01) };
        let (id, events) = decide::open_course(&ctx, &open, gp.1, "almen praksis").unwrap();
        let patient = PatientId::from_random_bytes([1; 16]);
        let mut p = Projections::default();
        for e in &events {
            p.apply(patient, e);
        }
        let course = p.courses.remove(&id).unwrap();
        Fixture { ids, gp, physio, course, now: T0 }
    }

    fn try_as(
        &mut self,
        who: (UserId, OrgId),
        change: CourseChange,
        sector: Option<Sector>,
    ) -> Result<Option<ItemId>, String> {
        self.try_in(LegalDomain::Health, who, change, sector)
    }

    /// As `try_as`, by someone who works under `domain`'s law.
    fn try_in(
        &mut self,
        domain: LegalDomain,
        who: (UserId, OrgId),
        change: CourseChange,
        sector: Option<Sector>,
    ) -> Result<Option<ItemId>, String> {
        let ctx = Context { actor: who.0, org: Some(who.1), domain, now: self.now, ids: &self.ids };
        let facts = ChangeFacts { org_sector: sector };
        match decide::change_course(&ctx, &self.course, &change, &facts) {
            Ok(events) => {
                for e in &events {
                    self.course.apply(e);
                }
                // The item the change is about: the last event's (minutes name the
                // conference after the goals and steps they decided).
                Ok(events.last().and_then(|e| e.item))
            }
            Err(e) => Err(e.code().to_string()),
        }
    }

    fn as_(&mut self, who: (UserId, OrgId), change: CourseChange) -> ItemId {
        self.try_as(who, change, Some(Sector::PrivatePractice)).unwrap().unwrap()
    }

    fn step(&mut self) -> ItemId {
        let gp = self.gp;
        self.as_(
            gp,
            CourseChange::PlanStep {
                step_kind: StepKind::TreatmentSeries,
                title: "Træning".into(),
                owner: Owner::Professional { user: gp.0, org: gp.1 },
                due_from: None,
                due_by: date!(2026 - 04 - 01),
                reason: "Uspecifikke lændesmerter".into(),
                reason_plain: "Træning gør ryggen stærkere".into(),
                what_to_expect: "To gange om ugen".into(),
                if_it_does_not_help: "Så taler vi om en henvisning".into(),
            },
        )
    }

    fn proposal(&self, step: ItemId, respond_by: Option<Date>) -> CourseChange {
        CourseChange::ProposeHandover {
            subject: HandoverSubject::Step { step },
            to: Owner::Role { org: self.physio.1, role: "fysioterapeut".into() },
            reason: "Træningen skal ledes af en fysioterapeut".into(),
            respond_by,
            referral: Some(Referral {
                question: "Træning af lænd".into(),
                findings: "Ingen røde flag".into(),
                tried: "Smertestillende, let effekt".into(),
                red_flags_checked: "Alle".into(),
                reason_plain: "En fysioterapeut hjælper dig med øvelser".into(),
                told_to_expect: "Holdtræning".into(),
            }),
        }
    }

    fn propose_by(&mut self, step: ItemId, respond_by: Date) -> ItemId {
        let (gp, change) = (self.gp, self.proposal(step, Some(respond_by)));
        self.as_(gp, change)
    }

    fn propose(&mut self, step: ItemId) -> ItemId {
        self.propose_by(step, date!(2026 - 03 - 16))
    }
}

#[derive(Debug, Clone, Copy)]
enum Act {
    Accept,
    Decline,
    Withdraw,
    Expire,
    AcceptByOther,
}

/// The handover transition table: from each state, each act, the state after or
/// the refusal.
#[test]
fn handover_transitions() {
    use HandoverState::*;
    let table: &[(&[Act], Act, Result<HandoverState, &str>)] = &[
        (&[], Act::Accept, Ok(Accepted)),
        (&[], Act::Decline, Ok(Declined)),
        (&[], Act::Withdraw, Ok(Withdrawn)),
        (&[], Act::Expire, Ok(Expired)),
        (&[], Act::AcceptByOther, Err("rejected")),
        (&[Act::Accept], Act::Accept, Err("rejected")),
        (&[Act::Accept], Act::Decline, Err("rejected")),
        (&[Act::Accept], Act::Withdraw, Err("rejected")),
        (&[Act::Decline], Act::Accept, Err("rejected")),
        (&[Act::Decline], Act::Withdraw, Err("rejected")),
        (&[Act::Withdraw], Act::Accept, Err("rejected")),
        (&[Act::Withdraw], Act::Decline, Err("rejected")),
        (&[Act::Expire], Act::Accept, Err("rejected")),
        (&[Act::Expire], Act::Decline, Err("rejected")),
        (&[Act::Expire], Act::Withdraw, Ok(Withdrawn)),
    ];
    for (before, act, expected) in table {
        let mut f = Fixture::new();
        let step = f.step();
        let h = f.propose(step);
        let stranger = (UserId::from_random_bytes([9; 16]), OrgId::from_random_bytes([9; 16]));
        let run = |f: &mut Fixture, act: Act| -> Result<(), String> {
            let (gp, physio) = (f.gp, f.physio);
            match act {
                Act::Accept => f.try_as(physio, CourseChange::AcceptHandover { handover: h }, None).map(|_| ()),
                Act::AcceptByOther => {
                    f.try_as(stranger, CourseChange::AcceptHandover { handover: h }, None).map(|_| ())
                }
                Act::Decline => f
                    .try_as(physio, CourseChange::DeclineHandover { handover: h, reason: "Fuldt booket".into() }, None)
                    .map(|_| ()),
                Act::Withdraw => f
                    .try_as(gp, CourseChange::WithdrawHandover { handover: h, reason: String::new() }, None)
                    .map(|_| ()),
                Act::Expire => {
                    f.now += Duration::days(15);
                    Ok(())
                }
            }
        };
        for a in *before {
            run(&mut f, *a).unwrap();
        }
        let result = run(&mut f, *act).map(|_| f.course.care.handover(h).unwrap().state_at(f.now));
        assert_eq!(result, expected.map_err(String::from), "{before:?} then {act:?}");
    }
}

#[test]
fn until_accepted_the_sender_stays_responsible() {
    let mut f = Fixture::new();
    let step = f.step();
    let h = f.propose(step);
    assert_eq!(f.course.care.step(step).unwrap().owner, Owner::Professional { user: f.gp.0, org: f.gp.1 });
    let physio = f.physio;
    f.as_(physio, CourseChange::AcknowledgeHandover { handover: h });
    assert!(f.course.care.handover(h).unwrap().acknowledged_at.is_some());
    assert_eq!(f.try_as(physio, CourseChange::AcknowledgeHandover { handover: h }, None), Err("rejected".into()));
    assert_eq!(f.course.care.step(step).unwrap().owner, Owner::Professional { user: f.gp.0, org: f.gp.1 });
    f.as_(physio, CourseChange::AcceptHandover { handover: h });
    assert_eq!(f.course.care.step(step).unwrap().owner, Owner::Role { org: physio.1, role: "fysioterapeut".into() });
    // Now only the new owner can hand it on; the GP no longer can.
    let gp = f.gp;
    let again = CourseChange::ProposeHandover {
        subject: HandoverSubject::Step { step },
        to: Owner::Professional { user: gp.0, org: gp.1 },
        reason: "Tilbage".into(),
        respond_by: None,
        referral: None,
    };
    assert_eq!(f.try_as(gp, again, Some(Sector::GeneralPractice)), Err("rejected".into()));
}

/// A handover left unanswered past its day can be proposed again; the new proposal
/// replaces the old one, which then waits on no one's worklist.
#[test]
fn an_expired_handover_proposed_again_is_replaced() {
    let mut f = Fixture::new();
    let step = f.step();
    let first = f.propose(step);
    f.now += Duration::days(15);
    assert_eq!(f.course.care.handover(first).unwrap().state_at(f.now), HandoverState::Expired);
    let unanswered = |f: &Fixture| {
        sammen_domain::worklist::of_course(&f.course, |_| None)
            .into_iter()
            .filter(|w| w.kind == sammen_domain::worklist::WorkKind::UnansweredHandover)
            .filter(|w| w.show.shown(w.due, f.now.date()))
            .map(|w| w.item)
            .collect::<Vec<_>>()
    };
    assert_eq!(unanswered(&f), vec![first, first], "the sender and the key worker follow it");
    let second = f.propose_by(step, f.now.date() + Duration::days(7));
    assert_ne!(first, second);
    assert_eq!(f.course.care.handover(first).unwrap().state_at(f.now), HandoverState::Withdrawn);
    assert_eq!(f.course.care.handover(second).unwrap().state_at(f.now), HandoverState::Proposed);
    assert!(unanswered(&f).is_empty(), "only the new proposal is open, and it is not late");
    // While the new one is open, a third is refused as before.
    assert!(f.try_as(f.gp, f.proposal(step, None), Some(Sector::PrivatePractice)).is_err());
}

/// Days are Danish days: half past midnight in Copenhagen is the new day, though UTC
/// still says yesterday.
#[test]
fn today_is_the_day_in_denmark() {
    let mut f = Fixture::new();
    let step = f.step();
    let h = f.propose_by(step, date!(2026 - 03 - 09));
    f.now = datetime!(2026-03-09 23:30 UTC);
    assert_eq!(f.course.care.handover(h).unwrap().state_at(f.now), HandoverState::Expired, "its day is over");
    let today = CourseChange::RecordProgress { on: date!(2026 - 03 - 10), pain: Some(4), activities: vec![] };
    assert!(f.try_as(f.gp, today, None).is_ok(), "the Danish today is not a day to come");
    let tomorrow = CourseChange::RecordProgress { on: date!(2026 - 03 - 11), pain: Some(4), activities: vec![] };
    assert_eq!(f.try_as(f.gp, tomorrow, None), Err("invalid_field".into()));
}

#[test]
fn refusals() {
    let mut f = Fixture::new();
    let step = f.step();
    let gp = f.gp;
    let to_self = CourseChange::ProposeHandover {
        subject: HandoverSubject::Step { step },
        to: Owner::Professional { user: gp.0, org: gp.1 },
        reason: "x".into(),
        respond_by: None,
        referral: None,
    };
    assert_eq!(f.try_as(gp, to_self, Some(Sector::GeneralPractice)), Err("invalid_field".into()));
    let to_nowhere = CourseChange::ProposeHandover {
        subject: HandoverSubject::Step { step },
        to: Owner::Role { org: OrgId::from_random_bytes([3; 16]), role: "x".into() },
        reason: "x".into(),
        respond_by: None,
        referral: None,
    };
    assert_eq!(f.try_as(gp, to_nowhere, None), Err("not_found".into()));
    let early = CourseChange::PlanStep {
        step_kind: StepKind::Test,
        title: "Røntgen".into(),
        owner: Owner::Professional { user: gp.0, org: gp.1 },
        due_from: None,
        due_by: date!(2026 - 02 - 01),
        reason: "x".into(),
        reason_plain: "x".into(),
        what_to_expect: String::new(),
        if_it_does_not_help: String::new(),
    };
    assert_eq!(f.try_as(gp, early, None), Err("invalid_field".into()));
    let unknown_topic = CourseChange::GiveAdvice { topic: "astrologi".into(), stance: "x".into(), text: String::new() };
    assert_eq!(f.try_as(gp, unknown_topic, None), Err("unknown_value".into()));
    let pain = CourseChange::RecordProgress { on: date!(2026 - 03 - 02), pain: Some(11), activities: vec![] };
    assert_eq!(f.try_as(gp, pain, None), Err("invalid_field".into()));
    // A step without an owner does not parse.
    let json =
        r#"{"kind":"plan_step","step_kind":"test","title":"x","due_by":"2026-04-01","reason":"x","reason_plain":"x"}"#;
    assert!(serde_json::from_str::<CourseChange>(json).unwrap_err().to_string().contains("owner"));
    // A finished step stays finished.
    f.as_(gp, CourseChange::ChangeStepStatus { step, status: StepStatus::DidNotHelp, note: "Ingen effekt".into() });
    assert_eq!(
        f.try_as(gp, CourseChange::ChangeStepStatus { step, status: StepStatus::Done, note: String::new() }, None),
        Err("rejected".into())
    );
}

#[test]
fn contradicting_advice_raises_a_conflict_until_the_team_agrees() {
    let mut f = Fixture::new();
    let (gp, physio) = (f.gp, f.physio);
    let keep_active = f.as_(
        gp,
        CourseChange::GiveAdvice { topic: "activity".into(), stance: "keep_active".into(), text: "Gå ture".into() },
    );
    assert!(f.course.care.conflicts.is_empty());
    // The same stance again is no conflict.
    f.as_(
        physio,
        CourseChange::GiveAdvice { topic: "activity".into(), stance: "keep_active".into(), text: String::new() },
    );
    assert!(f.course.care.conflicts.is_empty());
    let rest = f.as_(
        physio,
        CourseChange::GiveAdvice { topic: "activity".into(), stance: "rest".into(), text: "Hvil et par dage".into() },
    );
    assert_eq!(f.course.care.conflicts.len(), 1);
    let conflict = f.course.care.conflicts[0].clone();
    assert!(conflict.advice.contains(&keep_active) && conflict.advice.contains(&rest));
    // More contradicting advice on the topic joins the open conflict.
    let rest_again = f.as_(
        gp,
        CourseChange::GiveAdvice { topic: "activity".into(), stance: "rest".into(), text: "Hvil i dag".into() },
    );
    assert_eq!(f.course.care.conflicts.len(), 1);
    let conflict = f.course.care.conflicts[0].clone();
    assert!(conflict.advice.contains(&rest_again), "{conflict:?}");
    assert_eq!(conflict.advice.iter().filter(|a| **a == keep_active).count(), 1);
    // Another topic does not conflict.
    f.as_(gp, CourseChange::GiveAdvice { topic: "pain_relief".into(), stance: "heat".into(), text: String::new() });
    assert_eq!(f.course.care.conflicts.len(), 1);
    let resolve = CourseChange::ResolveAdviceConflict {
        conflict: conflict.id,
        stance: "keep_active".into(),
        agreed_message: "Hold dig i gang; hvil kun kort, hvis det gør meget ondt.".into(),
    };
    f.as_(gp, resolve.clone());
    let resolved = f.course.care.conflict(conflict.id).unwrap();
    assert_eq!(resolved.resolution.as_ref().unwrap().stance, "keep_active");
    let states: Vec<_> =
        f.course.care.advice.iter().filter(|a| a.topic == "activity").map(|a| (a.stance.as_str(), a.state)).collect();
    assert!(states.contains(&("rest", sammen_domain::care::AdviceState::Superseded)));
    assert_eq!(f.try_as(gp, resolve, None), Err("rejected".into()));
    // New advice against the agreed stance raises a new conflict.
    f.as_(physio, CourseChange::GiveAdvice { topic: "activity".into(), stance: "rest".into(), text: String::new() });
    assert_eq!(f.course.care.conflicts.iter().filter(|c| c.resolution.is_none()).count(), 1);
}

#[test]
fn a_discharge_from_psychiatry_makes_a_letter_due() {
    let mut f = Fixture::new();
    let gp = f.gp;
    let psychiatry = OrgId::from_random_bytes([4; 16]);
    let discharge = CourseChange::RecordEpisode {
        episode_kind: EpisodeKind::Discharge,
        org: psychiatry,
        on: date!(2026 - 03 - 02),
        note: String::new(),
    };
    let episode = f.try_as(gp, discharge.clone(), Some(Sector::HospitalPsychiatry)).unwrap().unwrap();
    let letter = &f.course.care.letters[0];
    assert_eq!((letter.id, letter.expected_by, letter.received), (episode, date!(2026 - 03 - 09), None));
    assert_eq!(letter.meta.category, sammen_domain::vocab::DataCategory::MentalHealth);
    // A somatic discharge expects none.
    f.try_as(gp, discharge, Some(Sector::Hospital)).unwrap();
    assert_eq!(f.course.care.letters.len(), 1);
    f.as_(gp, CourseChange::ReceiveLetter { letter: episode, title: "Epikrise".into(), text: "Udskrevet".into() });
    assert!(f.course.care.letters[0].received.is_some());
    assert_eq!(
        f.try_as(gp, CourseChange::ReceiveLetter { letter: episode, title: "Igen".into(), text: "x".into() }, None),
        Err("rejected".into())
    );
}

#[test]
fn the_key_worker_changes_only_by_an_accepted_handover() {
    let mut f = Fixture::new();
    let (gp, physio) = (f.gp, f.physio);
    f.try_as(gp, CourseChange::NameKeyWorker { user: gp.0 }, None).unwrap();
    assert_eq!(f.try_as(gp, CourseChange::NameKeyWorker { user: physio.0 }, None), Err("rejected".into()));
    let h = f.as_(
        gp,
        CourseChange::ProposeHandover {
            subject: HandoverSubject::KeyWorker,
            to: Owner::Professional { user: physio.0, org: physio.1 },
            reason: "Jeg går på barsel".into(),
            respond_by: None,
            referral: None,
        },
    );
    assert_eq!(f.course.key_worker, Some(gp.0));
    f.as_(physio, CourseChange::AcceptHandover { handover: h });
    assert_eq!(f.course.key_worker, Some(physio.0));
}

#[test]
fn goals_story_and_progress() {
    let mut f = Fixture::new();
    let (gp, physio) = (f.gp, f.physio);
    let goal =
        f.as_(gp, CourseChange::SetGoal { goal_kind: GoalKind::Work, text: "Tilbage på arbejde 20 timer".into() });
    assert_eq!(f.course.care.goal(goal).unwrap().status, GoalStatus::Proposed);
    f.as_(physio, CourseChange::AgreeGoal { goal });
    let g = f.course.care.goal(goal).unwrap();
    assert_eq!((g.status, g.agreed_by.clone()), (GoalStatus::Agreed, vec![physio.0]));
    assert_eq!(f.try_as(physio, CourseChange::AgreeGoal { goal }, None), Err("rejected".into()));
    assert!(CourseChange::SetGoal { goal_kind: GoalKind::Personal, text: "x".into() }.is_the_patients_own());
    assert!(!CourseChange::SetGoal { goal_kind: GoalKind::Clinical, text: "x".into() }.is_the_patients_own());
    let story = StoryText {
        history: "Ondt i ryggen siden foråret".into(),
        tried: "Varme, hvile".into(),
        what_matters: "At kunne løfte mit barnebarn".into(),
        preferences: "Træning om formiddagen".into(),
        practical_needs: "Har brug for længere tid til konsultationen".into(),
    };
    f.as_(gp, CourseChange::WriteStory { story: story.clone() });
    assert_eq!(f.course.care.story.as_ref().unwrap().written_with, Some(gp.0));
    let empty = StoryText {
        history: " ".into(),
        tried: String::new(),
        what_matters: String::new(),
        preferences: String::new(),
        practical_needs: String::new(),
    };
    assert_eq!(f.try_as(gp, CourseChange::WriteStory { story: empty }, None), Err("invalid_field".into()));
    let activities = vec![
        ActivityScore { activity: "Løfte en kasse".into(), score: 3 },
        ActivityScore { activity: "Gå 30 minutter".into(), score: 6 },
    ];
    f.as_(gp, CourseChange::RecordProgress { on: date!(2026 - 03 - 02), pain: Some(6), activities });
    assert_eq!(f.course.care.measurements[0].psfs(), Some(4.5));
}

/// The patient's timeline never files something still to happen under the past: a step
/// not yet done is now once its time has come (late or not), next before.
#[test]
fn the_timeline_files_only_what_is_done_or_over_under_the_past() {
    use sammen_domain::briefing::{timeline, Phase};
    let mut f = Fixture::new();
    let gp = f.gp;
    let step = f.step();
    let phase_of = |f: &Fixture, id: ItemId, now: OffsetDateTime| {
        timeline(&f.course, now).into_iter().find(|i| i.id == id).map(|i| i.phase)
    };
    assert_eq!(phase_of(&f, step, T0), Some(Phase::Next));
    assert_eq!(phase_of(&f, step, datetime!(2026-04-01 12:00 UTC)), Some(Phase::Now));
    // Overdue and still planned: now, not past.
    assert_eq!(phase_of(&f, step, datetime!(2026-05-20 12:00 UTC)), Some(Phase::Now));
    // Under way before its time: now, as the overview lists it.
    f.as_(gp, CourseChange::ChangeStepStatus { step, status: StepStatus::InProgress, note: String::new() });
    assert_eq!(phase_of(&f, step, T0), Some(Phase::Now));
    // A handover waiting for its answer is now; withdrawn, it is past.
    let h = f.propose(step);
    assert_eq!(phase_of(&f, h, T0), Some(Phase::Now));
    f.try_as(gp, CourseChange::WithdrawHandover { handover: h, reason: String::new() }, None).unwrap();
    assert_eq!(phase_of(&f, h, T0), Some(Phase::Past));
    f.as_(gp, CourseChange::ChangeStepStatus { step, status: StepStatus::Done, note: String::new() });
    assert_eq!(phase_of(&f, step, datetime!(2026-05-20 12:00 UTC)), Some(Phase::Past));
}

/// A step with a window is dated on the timeline from its first to its last day, the
/// day the overview counts as its deadline.
#[test]
fn the_timeline_dates_a_step_by_its_window() {
    use sammen_domain::briefing::timeline;
    let mut f = Fixture::new();
    let gp = f.gp;
    let plain = f.step();
    let windowed = f.as_(
        gp,
        CourseChange::PlanStep {
            step_kind: StepKind::FollowUp,
            title: "Opfølgning".into(),
            owner: Owner::Professional { user: gp.0, org: gp.1 },
            due_from: Some(date!(2026 - 03 - 20)),
            due_by: date!(2026 - 04 - 03),
            reason: "Se hvordan det går".into(),
            reason_plain: "Vi ser, hvordan det går".into(),
            what_to_expect: String::new(),
            if_it_does_not_help: String::new(),
        },
    );
    let dates = |f: &Fixture, id: ItemId| {
        timeline(&f.course, T0).into_iter().find(|i| i.id == id).map(|i| (i.on, i.until)).unwrap()
    };
    assert_eq!(dates(&f, windowed), (date!(2026 - 03 - 20), Some(date!(2026 - 04 - 03))));
    assert_eq!(dates(&f, plain), (date!(2026 - 04 - 01), None), "a deadline alone is one day");
    let late = |f: &Fixture, id: ItemId, now: OffsetDateTime| {
        timeline(&f.course, now).into_iter().find(|i| i.id == id).map(|i| i.late).unwrap()
    };
    assert!(!late(&f, plain, T0) && late(&f, plain, datetime!(2026-04-02 12:00 UTC)), "late after its last day");
    f.as_(gp, CourseChange::ChangeStepStatus { step: windowed, status: StepStatus::Done, note: String::new() });
    assert_eq!(dates(&f, windowed).1, None, "done, it has its day");
    assert!(!late(&f, windowed, datetime!(2026-05-01 12:00 UTC)), "done is never late");
    // A handover stands where it goes, to a role there: not beside the sender's name.
    let h = f.propose(plain);
    let item = timeline(&f.course, T0).into_iter().find(|i| i.id == h).unwrap();
    assert_eq!((item.org, item.who), (Some(f.physio.1), None));
}

/// Treatment, medicine and hospital stays are the health service's to advise on and to
/// record; a jobcentre records sick leave and advises on work.
#[test]
fn clinical_advice_and_hospital_stays_are_for_health_professionals() {
    let mut f = Fixture::new();
    let caseworker = (UserId::from_random_bytes([7; 16]), OrgId::from_random_bytes([7; 16]));
    let advice = |topic: &str, stance: &str| CourseChange::GiveAdvice {
        topic: topic.into(),
        stance: stance.into(),
        text: String::new(),
    };
    let jobcentre = Some(Sector::MunicipalEmployment);
    let refused = f.try_in(LegalDomain::Employment, caseworker, advice("sleep_medicine", "taper"), jobcentre);
    assert_eq!(refused, Err("invalid_field".into()));
    assert!(f.try_in(LegalDomain::Employment, caseworker, advice("work", "stay_at_work"), jobcentre).is_ok());
    let gp = f.gp;
    assert!(f.try_in(LegalDomain::Health, gp, advice("sleep_medicine", "taper"), None).is_ok());
    let episode = |episode_kind| CourseChange::RecordEpisode {
        episode_kind,
        org: OrgId::from_random_bytes([8; 16]),
        on: date!(2026 - 03 - 01),
        note: String::new(),
    };
    let hospital = Some(Sector::Hospital);
    let admission = f.try_in(LegalDomain::Employment, caseworker, episode(EpisodeKind::Admission), hospital);
    assert_eq!(admission, Err("invalid_field".into()));
    let sick = f.try_in(LegalDomain::Employment, caseworker, episode(EpisodeKind::SickLeaveStart), jobcentre);
    assert!(sick.is_ok(), "{sick:?}");
    let social = f.try_in(LegalDomain::Social, caseworker, episode(EpisodeKind::SickLeaveEnd), jobcentre);
    assert_eq!(social, Err("invalid_field".into()));
    assert!(f.try_in(LegalDomain::Health, gp, episode(EpisodeKind::Admission), hospital).is_ok());
}

/// One owner per step: another place on the team asks them, or hands the step over.
#[test]
fn only_the_steps_owner_changes_its_status() {
    let mut f = Fixture::new();
    let physio = f.physio;
    let step = f.step();
    let not_mine = CourseChange::ChangeStepStatus { step, status: StepStatus::Cancelled, note: String::new() };
    assert_eq!(f.try_as(physio, not_mine.clone(), Some(Sector::PrivatePractice)), Err("rejected".into()));
    let gp = f.gp;
    assert!(f.try_as(gp, not_mine, Some(Sector::GeneralPractice)).is_ok());
}
