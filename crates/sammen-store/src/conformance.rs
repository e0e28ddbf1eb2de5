//! The storage conformance suite: the behaviour every engine must share. Each engine's
//! test file calls [`conformance_tests!`](crate::conformance_tests) with a function that
//! makes a fresh, empty store, and gets one test per case.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use time::macros::{date, datetime};
use time::OffsetDateTime;

use sammen_domain::audit::{AuditAction, AuditDraft, AuditEntry, AuditOutcome, ChainVerifier};
use sammen_domain::care::Owner;
use sammen_domain::clock::IdSource;
use sammen_domain::contact::{Audience, ContactRoute, Hours, RouteHolder, RouteKind};
use sammen_domain::cpr::Cpr;
use sammen_domain::decide::{self, ChangeFacts, Context, CourseChange, OpenCourse};
use sammen_domain::directory::{ApiToken, Organisation, SorCode, User, UserKind};
use sammen_domain::event::{EntryType, Stream, TeamMember};
use sammen_domain::ids::{CourseId, ItemId, OrgId, PatientId, ThreadId, UserId};
use sammen_domain::messaging::{self, Addressee, MessageFacts, NewThread, ThreadCategory, ThreadKind, ThreadState};
use sammen_domain::projection::{CourseState, PatientState, Projections};
use sammen_domain::vocab::{DataCategory, Profession, Purpose, Sector};
use sammen_domain::worklist::{Assignee, Show, WorkItem, WorkKind};

use crate::{
    Append, Attachment, EventFilter, ForReader, PatientLog, ReaderLine, Snapshot, Store, StoreError, StreamWrite,
};

/// Generates one `#[tokio::test]` per conformance case. `$fresh` is an async function
/// returning `Option<F>` where `F: Fixture`; `None` skips (engine not configured).
#[macro_export]
macro_rules! conformance_tests {
    ($fresh:path) => {
        $crate::conformance_tests!(@cases $fresh;
            directory_round_trips,
            duplicates_are_refused,
            tokens_are_found_by_hash_and_revoked,
            registration_and_duplicate_cpr,
            opening_a_course_fills_the_care_team,
            stale_version_changes_nothing,
            missing_streams_are_not_found,
            concurrent_writers_lose_no_update,
            only_one_of_two_same_version_writers_wins,
            event_history_by_course_and_item,
            rebuild_reproduces_projections,
            import_writes_whole_logs,
            audit_chain_is_contiguous_under_concurrency,
            audit_for_patient_is_newest_first,
            audit_for_patient_reads_past_its_index,
            the_index_follows_while_a_writer_is_busy,
            a_write_to_two_streams_is_all_or_nothing,
            threads_round_trip_and_client_ids_are_unique,
            work_items_are_replaced_per_stream_and_found_by_assignee,
            last_looks_follow_the_audit_trail,
            patients_and_care_teams_come_in_batches,
            contact_routes_are_replaced_per_holder,
            a_unit_of_work_lands_whole_or_not_at_all,
            appends_that_wait_together_land_or_fail_alone
        );
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn a_course_written_by_another_process_is_read_as_written() {
            let Some(fixture) = $fresh().await else { return };
            $crate::conformance::a_course_written_by_another_process_is_read_as_written(&fixture).await;
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn a_long_course_reads_as_its_log_folds() {
            let Some(fixture) = $fresh().await else { return };
            $crate::conformance::a_long_course_reads_as_its_log_folds(&fixture).await;
        }
    };
    (@cases $fresh:path; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let Some(fixture) = $fresh().await else { return };
                $crate::conformance::$case($crate::conformance::Fixture::store(&fixture)).await;
            }
        )*
    };
}

/// A fresh store for one test; dropping it removes the database.
pub trait Fixture {
    fn store(&self) -> Arc<dyn Store>;
    /// The same database opened again, as another process would open it: a store
    /// that shares nothing in memory with [`Fixture::store`].
    fn reopen(&self) -> impl std::future::Future<Output = Arc<dyn Store>>;
}

struct Seq(AtomicU64);
impl IdSource for Seq {
    fn random_bytes(&self) -> [u8; 16] {
        // Unique per process, so concurrent tests never collide.
        static NEXT: AtomicU64 = AtomicU64::new(1);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let salt = self.0.load(Ordering::Relaxed);
        let mut b = [0u8; 16];
        b[..8].copy_from_slice(&salt.to_be_bytes());
        b[8..].copy_from_slice(&n.to_be_bytes());
        b
    }
}

fn ids() -> Seq {
    Seq(AtomicU64::new(std::process::id() as u64))
}

const NOW: OffsetDateTime = datetime!(2026-03-01 10:00 UTC);

fn ctx<'a>(ids: &'a Seq, org: OrgId) -> Context<'a> {
    let domain = sammen_domain::vocab::LegalDomain::Health;
    Context { actor: UserId::from_random_bytes(ids.random_bytes()), org: Some(org), domain, now: NOW, ids }
}

fn org(ids: &Seq, name: &str, sector: Sector, sor: Option<&str>) -> Organisation {
    Organisation {
        id: OrgId::from_random_bytes(ids.random_bytes()),
        name: name.into(),
        sector,
        sor: sor.map(|s| SorCode::parse(s).unwrap()),
    }
}

fn professional(ids: &Seq, login: &str, org: OrgId) -> User {
    User {
        id: UserId::from_random_bytes(ids.random_bytes()),
        login: login.into(),
        name: format!("Name of {login}"),
        kind: UserKind::Professional { profession: Profession::GeneralPractitioner, org },
        disabled: false,
        org_admin: false,
        email: None,
        language: None,
    }
}

/// Registers a patient and opens one course; returns the ids and the course state.
async fn patient_with_course(store: &dyn Store, ids: &Seq, org: OrgId, cpr: &str) -> (PatientId, CourseState) {
    let c = ctx(ids, org);
    let (patient, reg) = decide::register_patient(&c, Cpr::parse(cpr).unwrap(), "Test Patient").unwrap();
    let state = PatientState::from_registration(patient, &reg).unwrap();
    store
        .append(Append::one(
            patient,
            StreamWrite {
                stream: reg.stream,
                expected_version: 0,
                events: vec![reg],
                snapshot: Snapshot::Patient(state),
                work: Vec::new(),
                followers: Vec::new(),
            },
        ))
        .await
        .unwrap();
    let open = OpenCourse {
        title: "Low back pain".into(),
        reason: "Pain for six weeks".into(),
        started_on: date!(2026 - 01 - 10),
    };
    let (course_id, events) = decide::open_course(&c, &open, org, "general practice").unwrap();
    let mut p = Projections::default();
    for e in &events {
        p.apply(patient, e);
    }
    let course = p.courses.remove(&course_id).unwrap();
    store
        .append(Append::one(
            patient,
            StreamWrite {
                stream: events[0].stream,
                expected_version: 0,
                events,
                snapshot: Snapshot::Course(Box::new(course.clone())),
                work: Vec::new(),
                followers: Vec::new(),
            },
        ))
        .await
        .unwrap();
    (patient, course)
}

fn note(n: usize) -> CourseChange {
    CourseChange::RecordEntry {
        entry_type: EntryType::Note,
        category: DataCategory::ClinicalFindings,
        title: format!("Note {n}"),
        text: "Seen today".into(),
        occurred_on: date!(2026 - 02 - 01),
    }
}

/// Decides a change against `course` and appends it with the course's version.
async fn change(
    store: &dyn Store,
    ids: &Seq,
    org: OrgId,
    course: &CourseState,
    ch: &CourseChange,
) -> Result<CourseState, StoreError> {
    let c = ctx(ids, org);
    let events = decide::change_course(&c, course, ch, &ChangeFacts::default()).unwrap();
    let mut next = course.clone();
    for e in &events {
        next.apply(e);
    }
    let event = events.into_iter().next().expect("one event");
    let write = StreamWrite {
        stream: event.stream,
        expected_version: course.version,
        events: vec![event],
        snapshot: Snapshot::Course(Box::new(next.clone())),
        work: Vec::new(),
        followers: Vec::new(),
    };
    // As Sammen writes a change: with the writer's audit entry.
    let append =
        Append { audit: vec![draft(next.version, Some(course.patient))], ..Append::one(course.patient, write) };
    store.append(append).await?;
    Ok(next)
}

fn draft(n: u64, patient: Option<PatientId>) -> AuditDraft {
    AuditDraft {
        at: NOW + time::Duration::seconds(n as i64),
        actor: format!("user/{n}"),
        org: None,
        action: AuditAction::Read,
        purpose: Purpose::Treatment,
        patient,
        object: format!("course/{n}"),
        outcome: AuditOutcome::Permitted,
    }
}

pub async fn directory_round_trips(store: Arc<dyn Store>) {
    let ids = ids();
    assert!(store.is_empty().await.unwrap());
    assert!(store.schema_version().await.unwrap() >= 1);
    let gp = org(&ids, "Lægehuset Åby", Sector::GeneralPractice, Some("123456789012"));
    let jc = org(&ids, "Jobcenter Åby", Sector::MunicipalEmployment, None);
    store.add_organisation(&gp).await.unwrap();
    store.add_organisation(&jc).await.unwrap();
    assert_eq!(store.organisation(gp.id).await.unwrap(), Some(gp.clone()));
    assert_eq!(store.organisations().await.unwrap(), vec![jc.clone(), gp.clone()]);
    assert!(!store.is_empty().await.unwrap());

    let user = professional(&ids, "gp.hansen", gp.id);
    store.add_user(&user).await.unwrap();
    assert_eq!(store.user(user.id).await.unwrap(), Some(user.clone()));
    assert_eq!(store.user_by_login("gp.hansen").await.unwrap(), Some(user.clone()));
    assert_eq!(store.user_by_login("nobody").await.unwrap(), None);
    let patient_user = User {
        id: UserId::from_random_bytes(ids.random_bytes()),
        login: "anna".into(),
        name: "Anna".into(),
        kind: UserKind::Patient { patient: PatientId::from_random_bytes(ids.random_bytes()) },
        disabled: false,
        org_admin: false,
        email: None,
        language: Some("en".into()),
    };
    store.add_user(&patient_user).await.unwrap();
    assert_eq!(store.users().await.unwrap(), vec![patient_user, user.clone()]);

    store.set_user_disabled(user.id, true).await.unwrap();
    assert!(store.user(user.id).await.unwrap().unwrap().disabled);
    let missing = UserId::from_random_bytes(ids.random_bytes());
    assert!(matches!(store.set_user_disabled(missing, true).await, Err(StoreError::NotFound(_))));
}

pub async fn duplicates_are_refused(store: Arc<dyn Store>) {
    let ids = ids();
    let a = org(&ids, "A", Sector::Hospital, Some("555555555555"));
    store.add_organisation(&a).await.unwrap();
    let b = org(&ids, "B", Sector::Hospital, Some("555555555555"));
    assert!(matches!(store.add_organisation(&b).await, Err(StoreError::Duplicate(_))));
    store.add_user(&professional(&ids, "same", a.id)).await.unwrap();
    assert!(matches!(store.add_user(&professional(&ids, "same", a.id)).await, Err(StoreError::Duplicate(_))));
    let ghost_org = OrgId::from_random_bytes(ids.random_bytes());
    assert!(matches!(store.add_user(&professional(&ids, "ghost", ghost_org)).await, Err(StoreError::NotFound(_))));
    assert_eq!(store.users().await.unwrap().len(), 1);
    assert_eq!(store.organisations().await.unwrap().len(), 1);
}

pub async fn tokens_are_found_by_hash_and_revoked(store: Arc<dyn Store>) {
    let ids = ids();
    let o = org(&ids, "A", Sector::GeneralPractice, None);
    store.add_organisation(&o).await.unwrap();
    let u = professional(&ids, "gp", o.id);
    store.add_user(&u).await.unwrap();
    let token = ApiToken {
        id: "tok1".into(),
        user: u.id,
        hash: "ab".repeat(32),
        created_at: NOW,
        expires_at: Some(NOW + time::Duration::hours(1)),
        revoked_at: None,
    };
    store.add_token(&token).await.unwrap();
    assert_eq!(store.token_holder(&token.hash).await.unwrap(), Some((token.clone(), u.clone())));
    assert_eq!(store.token_holder("cd").await.unwrap(), None);
    assert!(store.revoke_token("tok1", NOW).await.unwrap());
    assert!(!store.revoke_token("tok1", NOW).await.unwrap(), "second revoke is a no-op");
    assert!(!store.revoke_token("nope", NOW).await.unwrap());
    let (stored, _) = store.token_holder(&token.hash).await.unwrap().unwrap();
    assert_eq!(stored.revoked_at, Some(NOW));
    assert!(!stored.is_valid_at(NOW));
    assert_eq!(store.tokens().await.unwrap().len(), 1);
}

pub async fn registration_and_duplicate_cpr(store: Arc<dyn Store>) {
    let ids = ids();
    let o = OrgId::from_random_bytes(ids.random_bytes());
    let (patient, _) = patient_with_course(&*store, &ids, o, "0101801234").await;
    let state = store.patient(patient).await.unwrap().unwrap();
    assert_eq!(state.name, "Test Patient");
    assert_eq!(state.version, 1);
    assert_eq!(state.registered_by, Some(o));
    let cpr = Cpr::parse("0101801234").unwrap();
    assert_eq!(store.patient_by_cpr(&cpr).await.unwrap(), Some(patient));

    // The same CPR number again: refused, and nothing of the attempt is stored.
    let c = ctx(&ids, o);
    let (other, reg) = decide::register_patient(&c, cpr, "Someone").unwrap();
    let result = store
        .append(Append::one(
            other,
            StreamWrite {
                stream: reg.stream,
                expected_version: 0,
                snapshot: Snapshot::Patient(PatientState::from_registration(other, &reg).unwrap()),
                events: vec![reg],
                work: Vec::new(),
                followers: Vec::new(),
            },
        ))
        .await;
    assert!(matches!(result, Err(StoreError::Duplicate(_))), "{result:?}");
    assert_eq!(store.patient(other).await.unwrap(), None);
    assert!(store.events(other, EventFilter::default()).await.unwrap().is_empty());
    assert_eq!(store.count_patients().await.unwrap(), 1);
}

pub async fn opening_a_course_fills_the_care_team(store: Arc<dyn Store>) {
    let ids = ids();
    let o = OrgId::from_random_bytes(ids.random_bytes());
    let (patient, course) = patient_with_course(&*store, &ids, o, "0202802345").await;
    let stored = store.course(patient, course.id).await.unwrap().unwrap();
    assert_eq!(stored, course);
    assert_eq!(stored.version, 2);
    let team = store.care_team(patient).await.unwrap();
    assert_eq!(team, vec![(course.id, TeamMember::Organisation { org: o })]);
    let summaries = store.course_summaries(patient).await.unwrap();
    assert_eq!(summaries.len(), 1);
    assert_eq!(summaries[0].title, "Low back pain");
    assert_eq!(summaries[0].version, 2);

    let physio = OrgId::from_random_bytes(ids.random_bytes());
    let user = UserId::from_random_bytes(ids.random_bytes());
    let member = TeamMember::Professional { user, org: physio };
    let joined =
        change(&*store, &ids, o, &course, &CourseChange::JoinCareTeam { member, role: "physiotherapy".into() })
            .await
            .unwrap();
    assert_eq!(store.care_team(patient).await.unwrap().len(), 2);
    change(&*store, &ids, o, &joined, &CourseChange::LeaveCareTeam { member, reason: "series finished".into() })
        .await
        .unwrap();
    assert_eq!(store.care_team(patient).await.unwrap(), vec![(course.id, TeamMember::Organisation { org: o })]);
}

pub async fn stale_version_changes_nothing(store: Arc<dyn Store>) {
    let ids = ids();
    let o = OrgId::from_random_bytes(ids.random_bytes());
    let (patient, course) = patient_with_course(&*store, &ids, o, "0303803456").await;
    let newer = change(&*store, &ids, o, &course, &note(1)).await.unwrap();
    let before = store.events(patient, EventFilter::default()).await.unwrap();

    // A second writer still holding the old version.
    let result = change(&*store, &ids, o, &course, &note(2)).await;
    match result {
        Err(StoreError::Conflict { expected, actual }) => {
            assert_eq!(expected, course.version);
            assert_eq!(actual, newer.version);
        }
        other => panic!("expected a conflict, got {other:?}"),
    }
    assert_eq!(store.events(patient, EventFilter::default()).await.unwrap(), before);
    assert_eq!(store.course(patient, course.id).await.unwrap().unwrap(), newer);

    // Same for the patient stream.
    let state = store.patient(patient).await.unwrap().unwrap();
    let c = ctx(&ids, o);
    let mut stale = state.clone();
    stale.version = 0;
    let ev = decide::correct_identity(&c, &stale, "New Name", "married").unwrap();
    let mut next = state.clone();
    next.apply(&ev);
    let r = store
        .append(Append::one(
            patient,
            StreamWrite {
                stream: ev.stream,
                expected_version: 0,
                events: vec![ev],
                snapshot: Snapshot::Patient(next),
                work: Vec::new(),
                followers: Vec::new(),
            },
        ))
        .await;
    // Version 0 on an existing patient means "new patient": refused (the CPR exists).
    assert!(r.is_err());
    assert_eq!(store.patient(patient).await.unwrap().unwrap(), state);
}

pub async fn missing_streams_are_not_found(store: Arc<dyn Store>) {
    let ids = ids();
    let o = OrgId::from_random_bytes(ids.random_bytes());
    let (patient, course) = patient_with_course(&*store, &ids, o, "0404804567").await;
    let mut ghost = course.clone();
    ghost.id = CourseId::from_random_bytes(ids.random_bytes());
    let r = change(&*store, &ids, o, &ghost, &note(1)).await;
    assert!(matches!(r, Err(StoreError::NotFound(_))), "{r:?}");
    let mut orphan = course.clone();
    orphan.patient = PatientId::from_random_bytes(ids.random_bytes());
    let r = change(&*store, &ids, o, &orphan, &note(1)).await;
    assert!(matches!(r, Err(StoreError::NotFound(_))), "{r:?}");
    assert_eq!(store.events(patient, EventFilter::default()).await.unwrap().len(), 3);
    assert_eq!(store.course(patient, ghost.id).await.unwrap(), None);
}

pub async fn concurrent_writers_lose_no_update(store: Arc<dyn Store>) {
    let ids = Arc::new(ids());
    let o = OrgId::from_random_bytes(ids.random_bytes());
    let (patient, course) = patient_with_course(&*store, &ids, o, "0505805678").await;
    let writers = 6;
    let each = 10;
    let mut tasks = Vec::new();
    for w in 0..writers {
        let store = store.clone();
        let ids = ids.clone();
        let course_id = course.id;
        tasks.push(tokio::spawn(async move {
            let mut conflicts = 0;
            for n in 0..each {
                loop {
                    let current = store.course(patient, course_id).await.unwrap().unwrap();
                    match change(&*store, &ids, o, &current, &note(w * 100 + n)).await {
                        Ok(_) => break,
                        Err(StoreError::Conflict { .. }) => conflicts += 1,
                        Err(e) => panic!("{e}"),
                    }
                }
            }
            conflicts
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let final_state = store.course(patient, course.id).await.unwrap().unwrap();
    assert_eq!(final_state.entries.len(), writers * each, "every write landed exactly once");
    assert_eq!(final_state.version, course.version + (writers * each) as u64);
    let events = store.events(patient, EventFilter { course: Some(course.id), item: None, since: None }).await.unwrap();
    let versions: Vec<u64> = events.iter().map(|e| e.version).collect();
    assert_eq!(versions, (1..=final_state.version).collect::<Vec<_>>());
    let all = store.events(patient, EventFilter::default()).await.unwrap();
    let seqs: Vec<u64> = all.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, (1..=all.len() as u64).collect::<Vec<_>>(), "no gaps in the log");
    // The stored projection equals a fold of the log.
    let folded = Projections::fold(patient, &all);
    assert_eq!(folded.courses.get(&course.id), Some(&final_state));
}

pub async fn only_one_of_two_same_version_writers_wins(store: Arc<dyn Store>) {
    let ids = Arc::new(ids());
    let o = OrgId::from_random_bytes(ids.random_bytes());
    let (patient, course) = patient_with_course(&*store, &ids, o, "0606806789").await;
    let a = {
        let (store, ids, course) = (store.clone(), ids.clone(), course.clone());
        tokio::spawn(async move { change(&*store, &ids, o, &course, &note(1)).await })
    };
    let b = {
        let (store, ids, course) = (store.clone(), ids.clone(), course.clone());
        tokio::spawn(async move { change(&*store, &ids, o, &course, &note(2)).await })
    };
    let (a, b) = (a.await.unwrap(), b.await.unwrap());
    assert!(a.is_ok() != b.is_ok(), "exactly one wins: {a:?} / {b:?}");
    let loser = if a.is_err() { a } else { b };
    assert!(matches!(loser, Err(StoreError::Conflict { .. })));
    let stored = store.course(patient, course.id).await.unwrap().unwrap();
    assert_eq!(stored.entries.len(), 1);
}

pub async fn event_history_by_course_and_item(store: Arc<dyn Store>) {
    let ids = ids();
    let o = OrgId::from_random_bytes(ids.random_bytes());
    let (patient, course) = patient_with_course(&*store, &ids, o, "0707807890").await;
    let with_note = change(&*store, &ids, o, &course, &note(1)).await.unwrap();
    let item = with_note.entries[0].id;
    let corrected = change(
        &*store,
        &ids,
        o,
        &with_note,
        &CourseChange::CorrectEntry {
            item,
            title: "Note one".into(),
            text: "Seen today, better".into(),
            reason: "clarity".into(),
        },
    )
    .await
    .unwrap();
    change(&*store, &ids, o, &corrected, &note(2)).await.unwrap();

    let history = store.events(patient, EventFilter { course: None, item: Some(item), since: None }).await.unwrap();
    let kinds: Vec<&str> = history.iter().map(|e| e.body.kind()).collect();
    assert_eq!(kinds, ["entry_recorded", "entry_corrected"]);
    let course_events =
        store.events(patient, EventFilter { course: Some(course.id), item: None, since: None }).await.unwrap();
    assert_eq!(course_events.len(), 5);
    let all = store.events(patient, EventFilter::default()).await.unwrap();
    assert_eq!(all.len(), 6);
    assert_eq!(all[0].body.kind(), "patient_registered");
    assert_eq!(all[0].category, DataCategory::Identity);
    // Instants survive storage to the microsecond.
    assert_eq!(all[0].recorded_at, NOW);
}

pub async fn rebuild_reproduces_projections(store: Arc<dyn Store>) {
    let ids = ids();
    let o = OrgId::from_random_bytes(ids.random_bytes());
    let (patient, course) = patient_with_course(&*store, &ids, o, "0808808901").await;
    let mut current = course;
    for n in 0..5 {
        current = change(&*store, &ids, o, &current, &note(n)).await.unwrap();
    }
    let events = store.events(patient, EventFilter::default()).await.unwrap();
    let folded = Projections::fold(patient, &events);
    // Damage a projection, then rebuild it from the log.
    let mut damaged = folded.clone();
    damaged.courses.values_mut().for_each(|c| c.entries.clear());
    store.replace_projections(patient, &damaged, &[]).await.unwrap();
    assert!(store.course(patient, current.id).await.unwrap().unwrap().entries.is_empty());
    store.replace_projections(patient, &folded, &[]).await.unwrap();
    assert_eq!(store.course(patient, current.id).await.unwrap().unwrap(), current);
    assert_eq!(store.care_team(patient).await.unwrap().len(), 1);
    // Writes continue after a rebuild.
    change(&*store, &ids, o, &current, &note(9)).await.unwrap();
}

pub async fn import_writes_whole_logs(store: Arc<dyn Store>) {
    let ids = ids();
    let o = OrgId::from_random_bytes(ids.random_bytes());
    let mut logs = Vec::new();
    for (i, cpr) in ["1010801234", "1110801234", "1210801234"].iter().enumerate() {
        let c = ctx(&ids, o);
        let (patient, reg) = decide::register_patient(&c, Cpr::parse(cpr).unwrap(), &format!("P{i}")).unwrap();
        let (_, mut events) = decide::open_course(
            &c,
            &OpenCourse { title: "Course".into(), reason: "Reason".into(), started_on: date!(2026 - 01 - 01) },
            o,
            "gp",
        )
        .unwrap();
        events.insert(0, reg);
        let projections = Projections::fold(
            patient,
            &events
                .iter()
                .cloned()
                .enumerate()
                .map(|(n, e)| crate::Event { patient, seq: n as u64 + 1, event: e })
                .collect::<Vec<_>>(),
        );
        logs.push(PatientLog { patient, events, projections, work: Vec::new() });
    }
    store.import(&logs).await.unwrap();
    assert_eq!(store.count_patients().await.unwrap(), 3);
    for log in &logs {
        let events = store.events(log.patient, EventFilter::default()).await.unwrap();
        assert_eq!(events.len(), 3);
        assert_eq!(Projections::fold(log.patient, &events), log.projections);
        assert_eq!(store.care_team(log.patient).await.unwrap().len(), 1);
    }
    // A batch with a duplicate CPR is refused whole.
    let dup = logs[0].clone();
    let mut fresh = logs[1].clone();
    fresh.patient = PatientId::from_random_bytes(ids.random_bytes());
    let r =
        store.import(&[PatientLog { patient: PatientId::from_random_bytes(ids.random_bytes()), ..dup }, fresh]).await;
    assert!(r.is_err());
    assert_eq!(store.count_patients().await.unwrap(), 3);
    let page = store.patient_ids(None, 2).await.unwrap();
    assert_eq!(page.len(), 2);
    let rest = store.patient_ids(Some(page[1]), 10).await.unwrap();
    assert_eq!(rest.len(), 1);
}

pub async fn audit_chain_is_contiguous_under_concurrency(store: Arc<dyn Store>) {
    let head = store.audit_head().await.unwrap();
    assert_eq!(head.seq, 0);
    let mut tasks = Vec::new();
    for t in 0..4u64 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            for b in 0..5u64 {
                let drafts: Vec<AuditDraft> = (0..3).map(|i| draft(t * 100 + b * 10 + i, None)).collect();
                let entries = store.append_audit(&drafts).await.unwrap();
                assert_eq!(entries.len(), 3);
                assert_eq!(entries[1].seq, entries[0].seq + 1, "a batch is contiguous");
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let head = store.audit_head().await.unwrap();
    assert_eq!(head.seq, 60);
    let mut verifier = ChainVerifier::default();
    let mut after = 0;
    loop {
        let page = store.audit_page(after, 7).await.unwrap();
        if page.is_empty() {
            break;
        }
        for e in &page {
            verifier.check(e).unwrap();
        }
        after = page.last().unwrap().seq;
    }
    assert_eq!(verifier.finish(&head), Ok(60));
    assert!(store.append_audit(&[]).await.unwrap().is_empty());
}

pub async fn audit_for_patient_is_newest_first(store: Arc<dyn Store>) {
    let ids = ids();
    let p = PatientId::from_random_bytes(ids.random_bytes());
    let q = PatientId::from_random_bytes(ids.random_bytes());
    store.append_audit(&[draft(1, Some(p)), draft(2, Some(q)), draft(3, Some(p)), draft(4, None)]).await.unwrap();
    let mine = store.audit_for_patient(p, 10).await.unwrap();
    let seqs: Vec<u64> = mine.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, [3, 1]);
    assert_eq!(mine[0].draft, draft(3, Some(p)));
    assert_eq!(store.audit_for_patient(p, 1).await.unwrap().len(), 1);
}

/// The per-patient index follows the trail in chunks; a patient's entries are all found
/// whether the index holds none, some or all of them, and the limit counts across both.
pub async fn audit_for_patient_reads_past_its_index(store: Arc<dyn Store>) {
    let ids = ids();
    let p = PatientId::from_random_bytes(ids.random_bytes());
    let q = PatientId::from_random_bytes(ids.random_bytes());
    let seqs = |entries: Vec<AuditEntry>| entries.iter().map(|e| e.seq).collect::<Vec<u64>>();
    let drafts: Vec<AuditDraft> = (1..=9).map(|n| draft(n, [Some(p), Some(q), None][((n + 2) % 3) as usize])).collect();
    store.append_audit(&drafts).await.unwrap();
    // Entries 1, 4, 7 are p's; 2, 5, 8 q's; 3, 6, 9 no one's.
    let all_of_p = vec![7, 4, 1];
    assert_eq!(seqs(store.audit_for_patient(p, 10).await.unwrap()), all_of_p, "nothing indexed yet");
    assert_eq!(store.audit_indexed().await.unwrap(), 0);
    assert_eq!(store.index_audit(5).await.unwrap(), 5, "a full chunk");
    assert_eq!(store.audit_indexed().await.unwrap(), 5);
    assert_eq!(seqs(store.audit_for_patient(p, 10).await.unwrap()), all_of_p, "indexed up to 5");
    assert_eq!(seqs(store.audit_for_patient(p, 2).await.unwrap()), [7, 4], "the limit spans index and tail");
    assert_eq!(seqs(store.audit_for_patient(q, 10).await.unwrap()), [8, 5, 2]);
    assert_eq!(store.index_audit(100).await.unwrap(), 4, "the rest, fewer than asked: up to date");
    assert_eq!(store.audit_indexed().await.unwrap(), 9);
    assert_eq!(store.index_audit(100).await.unwrap(), 0, "nothing left");
    store.append_audit(&[draft(10, Some(p))]).await.unwrap();
    assert_eq!(seqs(store.audit_for_patient(p, 10).await.unwrap()), [10, 7, 4, 1], "all indexed, one not");
    assert_eq!(seqs(store.audit_for_patient(p, 1).await.unwrap()), [10]);
    assert_eq!(store.index_audit(100).await.unwrap(), 1);
    let read = store.audit_for_patient(p, 10).await.unwrap();
    assert_eq!(seqs(read.clone()), [10, 7, 4, 1], "all indexed");
    assert_eq!(read[0].draft, draft(10, Some(p)));
}

/// Bringing the index up to date neither waits for a write in progress nor makes one
/// wait: a unit of work holds the writer (its audit entries included) throughout.
pub async fn the_index_follows_while_a_writer_is_busy(store: Arc<dyn Store>) {
    let ids = ids();
    let p = PatientId::from_random_bytes(ids.random_bytes());
    store.append_audit(&[draft(1, Some(p)), draft(2, None)]).await.unwrap();
    let unit = store.unit_of_work().await.unwrap();
    let inside = unit.store();
    inside.append_audit(&[draft(3, Some(p))]).await.unwrap();
    // (On SQLite the indexer's statements run where they are called, so a timeout around
    // the call could not interrupt a wait; the clock tells instead.)
    let started = std::time::Instant::now();
    let indexed = store.index_audit(100).await.expect("indexing beside an open write");
    assert!(started.elapsed() < std::time::Duration::from_secs(3), "indexing waited for the writer");
    assert_eq!(indexed, 2, "the two committed entries");
    // The unit reads the access log too (a FHIR transaction Bundle may): its own entry
    // from the trail, the rest as the index has them.
    let seqs: Vec<u64> = inside.audit_for_patient(p, 10).await.unwrap().iter().map(|e| e.seq).collect();
    assert_eq!(seqs, [3, 1], "read inside the unit");
    drop(inside);
    unit.commit().await.unwrap();
    let seqs: Vec<u64> = store.audit_for_patient(p, 10).await.unwrap().iter().map(|e| e.seq).collect();
    assert_eq!(seqs, [3, 1], "the unit's entry, past the mark, and the indexed one");
    assert_eq!(store.index_audit(100).await.unwrap(), 1);
}

/// A thread from the course's organisation to another organisation's role, and the
/// write that starts it.
fn thread_write(
    ids: &Seq,
    course: &CourseState,
    from: OrgId,
    to: OrgId,
    client_id: &str,
) -> (ThreadState, StreamWrite) {
    let c = ctx(ids, from);
    let cmd = NewThread {
        kind: ThreadKind::Message,
        category: ThreadCategory::CareCoordination,
        topic: None,
        subject: "Status".into(),
        to: vec![Addressee::Role { org: to, role: "team".into() }],
        copy: vec![],
        text: "Hvordan går det?".into(),
        data_category: DataCategory::Messages,
        references: vec![],
        answer_by: Some(date!(2026 - 03 - 10)),
        client_id: Some(client_id.into()),
    };
    let recipients = vec![(Owner::Role { org: to, role: "team".into() }, false)];
    let (_, event) = messaging::start_thread(&c, course, &cmd, recipients, None, &MessageFacts::default()).unwrap();
    let thread = ThreadState::from_start(course.patient, &event).unwrap();
    let work = sammen_domain::worklist::of_thread(&thread);
    let write = StreamWrite {
        stream: event.stream,
        expected_version: 0,
        events: vec![event],
        snapshot: Snapshot::Thread(Box::new(thread.clone())),
        work,
        followers: Vec::new(),
    };
    (thread, write)
}

pub async fn a_write_to_two_streams_is_all_or_nothing(store: Arc<dyn Store>) {
    let ids = ids();
    let o = OrgId::from_random_bytes(ids.random_bytes());
    let other = OrgId::from_random_bytes(ids.random_bytes());
    let (patient, course) = patient_with_course(&*store, &ids, o, "1301801234").await;
    let join = CourseChange::JoinCareTeam { member: TeamMember::Organisation { org: other }, role: "team".into() };
    let joined = decide::change_course(&ctx(&ids, o), &course, &join, &ChangeFacts::default()).unwrap();
    let mut next = course.clone();
    joined.iter().for_each(|e| next.apply(e));
    let course_write = |expected| StreamWrite {
        stream: Stream::Course(course.id),
        expected_version: expected,
        events: joined.clone(),
        snapshot: Snapshot::Course(Box::new(next.clone())),
        work: Vec::new(),
        followers: Vec::new(),
    };
    let (thread, thread_write) = thread_write(&ids, &course, o, other, "c-1");
    let file = Attachment {
        id: ItemId::from_random_bytes(ids.random_bytes()),
        thread: thread.id,
        content_type: "application/pdf".into(),
        bytes: b"%PDF-1.4".to_vec(),
    };
    // The course moved on since: neither the thread nor the join nor the file lands.
    let stale = Append {
        patient,
        writes: vec![thread_write.clone(), course_write(course.version - 1)],
        notices: Vec::new(),
        attachments: vec![file.clone()],
        audit: vec![draft(1, Some(patient))],
    };
    assert!(matches!(store.append(stale).await, Err(StoreError::Conflict { .. })));
    assert_eq!(store.thread(patient, thread.id).await.unwrap(), None);
    assert!(store.attachment(patient, file.id).await.unwrap().is_none());
    assert!(store.audit_for_patient(patient, 10).await.unwrap().is_empty(), "nor its audit entry");
    assert_eq!(store.events(patient, EventFilter::default()).await.unwrap().len(), 3);
    let anyone = UserId::from_random_bytes(ids.random_bytes());
    assert!(store.work_for(anyone, Some(other), date!(2026 - 03 - 01), 10).await.unwrap().lines.is_empty());
    // At the right version both land, in one log without gaps.
    let fresh = Append {
        patient,
        writes: vec![thread_write, course_write(course.version)],
        notices: Vec::new(),
        attachments: vec![file.clone()],
        audit: vec![draft(2, Some(patient))],
    };
    store.append(fresh).await.unwrap();
    let trail = store.audit_for_patient(patient, 10).await.unwrap();
    assert_eq!(
        trail.iter().map(|e| &e.draft).collect::<Vec<_>>(),
        [&draft(2, Some(patient))],
        "the entry lands with it"
    );
    assert_eq!(store.audit_head().await.unwrap().seq, trail[0].seq);
    assert_eq!(store.thread(patient, thread.id).await.unwrap(), Some(thread.clone()));
    assert_eq!(store.care_team(patient).await.unwrap().len(), 2);
    assert_eq!(
        store.attachment(patient, file.id).await.unwrap(),
        Some((file.content_type.clone(), file.bytes.clone()))
    );
    let all = store.events(patient, EventFilter::default()).await.unwrap();
    assert_eq!(all.iter().map(|e| e.seq).collect::<Vec<_>>(), vec![1, 2, 3, 4, 5]);
    assert_eq!(all[3].stream, Stream::Thread(thread.id));
    // Thread events are not the course's history, and they refold into the thread.
    let course_events =
        store.events(patient, EventFilter { course: Some(course.id), ..Default::default() }).await.unwrap();
    assert_eq!(course_events.len(), 3);
    assert_eq!(Projections::fold(patient, &all).threads.get(&thread.id), Some(&thread));
}

pub async fn threads_round_trip_and_client_ids_are_unique(store: Arc<dyn Store>) {
    let ids = ids();
    let o = OrgId::from_random_bytes(ids.random_bytes());
    let other = OrgId::from_random_bytes(ids.random_bytes());
    let (patient, course) = patient_with_course(&*store, &ids, o, "1401801234").await;
    let (first, write) = thread_write(&ids, &course, o, other, "c-1");
    store.append(Append::one(patient, write)).await.unwrap();
    let (second, write) = thread_write(&ids, &course, o, other, "c-2");
    store.append(Append::one(patient, write)).await.unwrap();
    let listed: Vec<ThreadId> = store.threads(patient, course.id).await.unwrap().iter().map(|t| t.id).collect();
    assert_eq!(listed.len(), 2);
    assert!(listed.contains(&first.id) && listed.contains(&second.id));
    assert_eq!(store.thread_by_client_id(patient, first.started_by, "c-1").await.unwrap(), Some(first.id));
    assert_eq!(store.thread_by_client_id(patient, first.started_by, "c-9").await.unwrap(), None);
    // The same sender and client id again: refused, nothing stored.
    let (mut again, mut write) = thread_write(&ids, &course, o, other, "c-1");
    again.started_by = first.started_by;
    write.events[0].actor = first.started_by;
    write.snapshot = Snapshot::Thread(Box::new(again));
    let r = store.append(Append::one(patient, write)).await;
    assert!(matches!(r, Err(StoreError::Duplicate(_))), "{r:?}");
    assert_eq!(store.threads(patient, course.id).await.unwrap().len(), 2);
    assert_eq!(store.events(patient, EventFilter::default()).await.unwrap().len(), 5);
}

fn work(patient: PatientId, course: CourseId, stream: Stream, assignee: Assignee, kind: WorkKind) -> WorkItem {
    WorkItem {
        patient,
        course,
        stream,
        item: ItemId::from_random_bytes([kind as u8 + 1; 16]),
        kind,
        assignee,
        due: Some(date!(2026 - 03 - 09)),
        // A handover is answered until its day; the rest shows once it has passed.
        show: if kind == WorkKind::Handover { Show::UntilDue } else { Show::AfterDue },
        since: NOW,
        title: "Opgave".into(),
        category: DataCategory::Plan,
        origin: sammen_domain::vocab::LegalDomain::Health,
        author_org: None,
    }
}

pub async fn work_items_are_replaced_per_stream_and_found_by_assignee(store: Arc<dyn Store>) {
    let ids = ids();
    let o = OrgId::from_random_bytes(ids.random_bytes());
    let (patient, course) = patient_with_course(&*store, &ids, o, "1501801234").await;
    let (gp, nurse) = (UserId::from_random_bytes(ids.random_bytes()), UserId::from_random_bytes(ids.random_bytes()));
    let stream = Stream::Course(course.id);
    let items = vec![
        work(patient, course.id, stream, Assignee::User { user: gp }, WorkKind::OverdueStep),
        work(patient, course.id, stream, Assignee::Org { org: o }, WorkKind::Handover),
        work(patient, course.id, stream, Assignee::KeyWorker, WorkKind::UnansweredHandover),
    ];
    // Naming the key worker writes the course with its open work.
    let named = decide::change_course(
        &ctx(&ids, o),
        &course,
        &CourseChange::NameKeyWorker { user: nurse },
        &ChangeFacts::default(),
    )
    .unwrap();
    let mut next = course.clone();
    named.iter().for_each(|e| next.apply(e));
    let write = StreamWrite {
        stream,
        expected_version: course.version,
        events: named,
        snapshot: Snapshot::Course(Box::new(next.clone())),
        work: items.clone(),
        followers: vec![],
    };
    store.append(Append::one(patient, write)).await.unwrap();
    let kinds = |v: ForReader<WorkItem>| {
        let mut k: Vec<WorkKind> = v.items().map(|w| w.kind).collect();
        k.sort();
        k
    };
    let (due, after_due) = (date!(2026 - 03 - 09), date!(2026 - 03 - 10));
    // On the due day the handover can still be answered and nothing is overdue yet.
    assert_eq!(kinds(store.work_for(gp, Some(o), due, 50).await.unwrap()), vec![WorkKind::Handover]);
    assert!(store.work_for(gp, None, due, 50).await.unwrap().lines.is_empty());
    // The day after: the step is overdue, the handover expired.
    assert_eq!(kinds(store.work_for(gp, None, after_due, 50).await.unwrap()), vec![WorkKind::OverdueStep]);
    assert_eq!(kinds(store.work_for(gp, Some(o), after_due, 50).await.unwrap()), vec![WorkKind::OverdueStep]);
    // The key worker's items follow the course's key worker.
    assert_eq!(kinds(store.work_for(nurse, None, after_due, 50).await.unwrap()), vec![WorkKind::UnansweredHandover]);
    assert!(store.work_for(gp, None, after_due, 50).await.unwrap().items().all(|w| w.assignee != Assignee::KeyWorker));
    // Each line tells whether the reader is on the course's team (the organisation is,
    // the GP alone is not), and brings its patient's state.
    let round_trip = store.work_for(gp, None, after_due, 50).await.unwrap();
    assert_eq!(round_trip.lines, vec![ReaderLine { item: items[0].clone(), on_team: false }]);
    assert_eq!(round_trip.patients.keys().collect::<Vec<_>>(), vec![&patient]);
    assert_eq!(round_trip.patients[&patient].cpr.expose(), "1501801234");
    let through_org = store.work_for(gp, Some(o), after_due, 50).await.unwrap();
    assert!(through_org.lines.iter().all(|l| l.on_team) && !through_org.lines.is_empty());
    // The next write of the stream replaces its work.
    let more = decide::change_course(&ctx(&ids, o), &next, &note(1), &ChangeFacts::default()).unwrap();
    let mut after = next.clone();
    more.iter().for_each(|e| after.apply(e));
    let write = StreamWrite {
        stream,
        expected_version: next.version,
        events: more,
        snapshot: Snapshot::Course(Box::new(after)),
        work: vec![],
        followers: vec![],
    };
    store.append(Append::one(patient, write)).await.unwrap();
    assert!(store.work_for(gp, Some(o), after_due, 50).await.unwrap().lines.is_empty());
    assert!(store.work_for(nurse, None, after_due, 50).await.unwrap().lines.is_empty());
}

pub async fn last_looks_follow_the_audit_trail(store: Arc<dyn Store>) {
    let ids = ids();
    let o = OrgId::from_random_bytes(ids.random_bytes());
    let (patient, course) = patient_with_course(&*store, &ids, o, "1601801234").await;
    let (reader, other) =
        (UserId::from_random_bytes(ids.random_bytes()), UserId::from_random_bytes(ids.random_bytes()));
    let look = |at: OffsetDateTime, object: String, outcome| AuditDraft {
        at,
        actor: format!("user/{reader}"),
        org: Some(format!("org/{o}")),
        action: AuditAction::Read,
        purpose: Purpose::Treatment,
        patient: Some(patient),
        object,
        outcome,
    };
    // The reader's organisation is on the team.
    assert_eq!(store.memberships(reader, Some(o)).await.unwrap(), vec![(patient, course.id)]);
    let stranger = OrgId::from_random_bytes(ids.random_bytes());
    assert!(store.memberships(reader, Some(stranger)).await.unwrap().is_empty());
    // Someone writes: each follower named in the write has an unseen change.
    let at = NOW + time::Duration::minutes(5);
    let c = Context { now: at, ..ctx(&ids, o) };
    let events = decide::change_course(&c, &course, &note(1), &ChangeFacts::default()).unwrap();
    let mut next = course.clone();
    events.iter().for_each(|e| next.apply(e));
    let write = StreamWrite {
        stream: Stream::Course(course.id),
        expected_version: course.version,
        events,
        snapshot: Snapshot::Course(Box::new(next)),
        work: vec![],
        followers: vec![reader, other],
    };
    store.append(Append::one(patient, write)).await.unwrap();
    let unseen = store.unseen_changes(reader, Some(o), 10).await.unwrap();
    assert_eq!(unseen.lines.len(), 1);
    let first = &unseen.lines[0];
    assert_eq!((first.item.course, first.item.changed_at, first.item.title.as_str()), (course.id, at, "Low back pain"));
    assert!(first.on_team, "the reader's organisation is on the team");
    assert_eq!(unseen.patients[&patient].id, patient);
    let elsewhere = store.unseen_changes(reader, Some(stranger), 10).await.unwrap();
    assert!(!elsewhere.lines[0].on_team, "working elsewhere, the reader is not on the team");
    // A permitted look clears it and is the last look; a denial is no look.
    let later = NOW + time::Duration::hours(1);
    store
        .append_audit(&[
            look(later, format!("course/{}/briefing", course.id), AuditOutcome::Permitted),
            look(later + time::Duration::hours(1), format!("course/{}", course.id), AuditOutcome::Denied),
        ])
        .await
        .unwrap();
    assert_eq!(store.last_look(patient, course.id, reader).await.unwrap(), Some(later));
    assert!(store.unseen_changes(reader, Some(o), 10).await.unwrap().lines.is_empty());
    assert_eq!(
        store.unseen_changes(other, None, 10).await.unwrap().lines.len(),
        1,
        "the other follower has not looked"
    );
    // An older look never moves the last look back.
    store.append_audit(&[look(NOW, format!("course/{}", course.id), AuditOutcome::Permitted)]).await.unwrap();
    assert_eq!(store.last_look(patient, course.id, reader).await.unwrap(), Some(later));
}

pub async fn patients_and_care_teams_come_in_batches(store: Arc<dyn Store>) {
    let ids = ids();
    let o = OrgId::from_random_bytes(ids.random_bytes());
    let (a, _) = patient_with_course(&*store, &ids, o, "1701801234").await;
    let (b, course_b) = patient_with_course(&*store, &ids, o, "1801801234").await;
    let ghost = PatientId::from_random_bytes(ids.random_bytes());
    let mut found: Vec<PatientId> = store.patients(&[a, b, ghost]).await.unwrap().iter().map(|p| p.id).collect();
    found.sort();
    let mut expected = vec![a, b];
    expected.sort();
    assert_eq!(found, expected);
    let teams = store.care_teams(&[b]).await.unwrap();
    assert_eq!(teams, vec![(b, course_b.id, TeamMember::Organisation { org: o })]);
    assert!(store.patients(&[]).await.unwrap().is_empty());
}

pub async fn contact_routes_are_replaced_per_holder(store: Arc<dyn Store>) {
    let ids = ids();
    let user = UserId::from_random_bytes(ids.random_bytes());
    let org = OrgId::from_random_bytes(ids.random_bytes());
    let me = RouteHolder::Professional { user };
    let clinic = RouteHolder::Role { org, role: "ambulatoriet".into() };
    let phone = |holder: &RouteHolder| ContactRoute {
        holder: holder.clone(),
        kind: RouteKind::Phone,
        address: "+45 70 11 22 33".into(),
        hours: vec![Hours { days: vec![1, 2, 3, 4, 5], from: "09:00".into(), to: "09:15".into() }],
        answer_within_hours: 0,
        note: String::new(),
        // A line for professionals: kept as such.
        audience: Audience::Professionals,
    };
    let message = ContactRoute {
        kind: RouteKind::Message,
        audience: Audience::Everyone,
        address: String::new(),
        hours: vec![],
        answer_within_hours: 48,
        ..phone(&me)
    };
    store.set_contact_routes(&me, &[message.clone(), phone(&me)]).await.unwrap();
    store.set_contact_routes(&clinic, &[phone(&clinic)]).await.unwrap();
    assert_eq!(store.contact_routes().await.unwrap().len(), 3);
    store.set_contact_routes(&me, std::slice::from_ref(&message)).await.unwrap();
    let all = store.contact_routes().await.unwrap();
    assert_eq!(all.len(), 2);
    assert!(all.contains(&message) && all.contains(&phone(&clinic)));
    // A route must belong to the holder being replaced.
    assert!(store.set_contact_routes(&clinic, &[message]).await.is_err());
    assert_eq!(store.contact_routes().await.unwrap().len(), 2);
}

pub async fn a_unit_of_work_lands_whole_or_not_at_all(store: Arc<dyn Store>) {
    let ids = ids();
    let o = OrgId::from_random_bytes(ids.random_bytes());
    let head = store.audit_head().await.unwrap();

    // Rolled back: the unit saw its own writes; nobody else ever does.
    let unit = store.unit_of_work().await.unwrap();
    let inside = unit.store();
    let (patient, course) = patient_with_course(&*inside, &ids, o, "0101801234").await;
    let changed = change(&*inside, &ids, o, &course, &note(1)).await.unwrap();
    inside.append_audit(&[draft(1, Some(patient))]).await.unwrap();
    let read = inside.course(patient, course.id).await.unwrap().unwrap();
    assert_eq!(read.version, changed.version, "the unit reads its writes");
    assert!(matches!(inside.unit_of_work().await, Err(StoreError::Backend(_))), "units do not nest");
    unit.rollback().await;
    assert_eq!(store.patient(patient).await.unwrap(), None);
    assert!(store.events(patient, EventFilter::default()).await.unwrap().is_empty());
    assert_eq!(store.audit_head().await.unwrap(), head, "its audit entries went with it");

    // Committed: everything at once, and the store works on afterwards.
    let unit = store.unit_of_work().await.unwrap();
    let inside = unit.store();
    let (patient, course) = patient_with_course(&*inside, &ids, o, "0101801234").await;
    let course = change(&*inside, &ids, o, &course, &note(1)).await.unwrap();
    drop(inside);
    unit.commit().await.unwrap();
    assert_eq!(store.course(patient, course.id).await.unwrap().unwrap().version, course.version);
    let latest = change(&*store, &ids, o, &course, &note(2)).await.unwrap();

    // A write that fails inside the unit spoils it: the commit is refused and nothing
    // of it lands, not even its writes that succeeded.
    let unit = store.unit_of_work().await.unwrap();
    let inside = unit.store();
    let (other, _) = patient_with_course(&*inside, &ids, o, "0202801234").await;
    let stale = change(&*inside, &ids, o, &course, &note(3)).await;
    assert!(matches!(stale, Err(StoreError::Conflict { .. })), "{stale:?}");
    assert!(unit.commit().await.is_err());
    assert_eq!(store.patient(other).await.unwrap(), None);
    assert_eq!(store.course(patient, course.id).await.unwrap().unwrap().version, latest.version);

    // A change the unit read back and then rolled back is not what the store reads
    // afterwards: the course is as it was committed.
    let unit = store.unit_of_work().await.unwrap();
    let inside = unit.store();
    let undone = change(&*inside, &ids, o, &latest, &note(4)).await.unwrap();
    assert_eq!(inside.course(patient, latest.id).await.unwrap().unwrap(), undone);
    drop(inside);
    unit.rollback().await;
    assert_eq!(store.course(patient, latest.id).await.unwrap().unwrap(), latest);

    // Nor when another change takes the version an undone one had before anyone reads:
    // what a unit folded from its own events is never kept for the committed snapshot.
    let unit = store.unit_of_work().await.unwrap();
    let inside = unit.store();
    let undone = change(&*inside, &ids, o, &latest, &note(5)).await.unwrap();
    assert_eq!(inside.course(patient, latest.id).await.unwrap().unwrap(), undone);
    drop(inside);
    unit.rollback().await;
    let redone = change(&*store, &ids, o, &latest, &note(6)).await.unwrap();
    assert_eq!(redone.version, undone.version);
    assert_eq!(store.course(patient, latest.id).await.unwrap().unwrap(), redone);
}

/// A course's stored state is a snapshot that a change rewrites only now and then; a
/// read folds the events after it. Whether the snapshot is fresh or many events behind,
/// and whether the reader holds a state of its own or starts cold, every read is the
/// course as its whole log folds it.
pub async fn a_long_course_reads_as_its_log_folds(fixture: &impl Fixture) {
    let store = fixture.store();
    let ids = ids();
    let o = OrgId::from_random_bytes(ids.random_bytes());
    let (patient, mut course) = patient_with_course(&*store, &ids, o, "0101801234").await;
    let opened = course.version;
    let watcher = fixture.reopen().await;
    let changes = 2 * crate::sql_store::SNAPSHOT_EVERY as usize + 5;
    for n in 1..=changes {
        course = change(&*store, &ids, o, &course, &note(n)).await.unwrap();
        assert_eq!(store.course(patient, course.id).await.unwrap().unwrap(), course, "after change {n}");
        // Another process reads now and then, so its state falls behind by a few events.
        if n % 7 == 0 {
            assert_eq!(watcher.course(patient, course.id).await.unwrap().unwrap(), course, "elsewhere, {n}");
        }
        // A reader that holds nothing starts from the snapshot, wherever it stands.
        if n % 11 == 0 || n == changes {
            let cold = fixture.reopen().await;
            assert_eq!(cold.course(patient, course.id).await.unwrap().unwrap(), course, "cold, after {n}");
        }
    }
    let log = store.events(patient, EventFilter::default()).await.unwrap();
    let folded = Projections::fold(patient, &log);
    assert_eq!(folded.courses.get(&course.id), Some(&course), "the log folds to what is read");
    assert_eq!(course.version, opened + changes as u64);
}

/// A store keeps the course states it decoded or wrote (course_states). What another
/// process writes to a course it holds is what it reads next, and the other way round.
pub async fn a_course_written_by_another_process_is_read_as_written(fixture: &impl Fixture) {
    let here = fixture.store();
    let elsewhere = fixture.reopen().await;
    let ids = ids();
    let o = OrgId::from_random_bytes(ids.random_bytes());
    let (patient, course) = patient_with_course(&*here, &ids, o, "0101801234").await;
    assert_eq!(here.course(patient, course.id).await.unwrap().unwrap(), course);
    assert_eq!(elsewhere.course(patient, course.id).await.unwrap().unwrap(), course);
    let theirs = change(&*elsewhere, &ids, o, &course, &note(1)).await.unwrap();
    assert_eq!(here.course(patient, course.id).await.unwrap().unwrap(), theirs, "the other process's write");
    let ours = change(&*here, &ids, o, &theirs, &note(2)).await.unwrap();
    assert_eq!(elsewhere.course(patient, course.id).await.unwrap().unwrap(), ours, "and this one's, there");
    assert_eq!(here.course(patient, course.id).await.unwrap().unwrap(), ours);
}

/// Appends that queue while another write holds the store (on SQLite they then share one
/// transaction and one commit): each lands or is refused on its own, and one refused
/// after it had written part of itself leaves nothing behind.
pub async fn appends_that_wait_together_land_or_fail_alone(store: Arc<dyn Store>) {
    let ids = Arc::new(ids());
    let o = OrgId::from_random_bytes(ids.random_bytes());
    let other = OrgId::from_random_bytes(ids.random_bytes());
    let (a, course_a) = patient_with_course(&*store, &ids, o, "0101811234").await;
    let (b, course_b) = patient_with_course(&*store, &ids, o, "0202811234").await;
    let (c, course_c) = patient_with_course(&*store, &ids, o, "0303811234").await;
    // B's append writes a thread and a change to its course, then finds the patient's
    // own record moved on.
    let (thread, thread_write) = thread_write(&ids, &course_b, o, other, "group-1");
    let join = CourseChange::JoinCareTeam { member: TeamMember::Organisation { org: other }, role: "team".into() };
    let joined = decide::change_course(&ctx(&ids, o), &course_b, &join, &ChangeFacts::default()).unwrap();
    let mut next_b = course_b.clone();
    joined.iter().for_each(|e| next_b.apply(e));
    let patient_b = store.patient(b).await.unwrap().unwrap();
    let stale = Append {
        patient: b,
        writes: vec![
            thread_write,
            StreamWrite {
                stream: Stream::Course(course_b.id),
                expected_version: course_b.version,
                events: joined,
                snapshot: Snapshot::Course(Box::new(next_b)),
                work: Vec::new(),
                followers: Vec::new(),
            },
            StreamWrite {
                stream: Stream::Patient,
                expected_version: patient_b.version + 1,
                events: Vec::new(),
                snapshot: Snapshot::Patient(patient_b),
                work: Vec::new(),
                followers: Vec::new(),
            },
        ],
        notices: Vec::new(),
        attachments: Vec::new(),
        audit: vec![draft(1, Some(b))],
    };

    // A unit of work holds the store while the three queue behind it.
    let unit = store.unit_of_work().await.unwrap();
    let spawn_change = |course: CourseState, n: usize| {
        let (store, ids) = (store.clone(), ids.clone());
        tokio::spawn(async move { change(&*store, &ids, o, &course, &note(n)).await })
    };
    let first = spawn_change(course_a.clone(), 1);
    let refused = {
        let store = store.clone();
        tokio::spawn(async move { store.append(stale).await })
    };
    let last = spawn_change(course_c.clone(), 2);
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    unit.commit().await.unwrap();

    let first = first.await.unwrap().expect("A's change lands");
    let last = last.await.unwrap().expect("C's change lands");
    let refused = refused.await.unwrap();
    assert!(matches!(refused, Err(StoreError::Conflict { .. })), "{refused:?}");
    assert_eq!(store.course(a, course_a.id).await.unwrap().unwrap(), first);
    assert_eq!(store.course(c, course_c.id).await.unwrap().unwrap(), last);
    assert_eq!(store.thread(b, thread.id).await.unwrap(), None, "nothing of B's append is left");
    assert!(store.audit_for_patient(b, 10).await.unwrap().is_empty(), "not even its audit entry");
    // A's and C's entries landed with them, chained one after the other.
    for (p, course) in [(a, &first), (c, &last)] {
        let trail = store.audit_for_patient(p, 10).await.unwrap();
        assert_eq!(trail.first().map(|e| &e.draft), Some(&draft(course.version, Some(p))), "{p}");
    }
    let head = store.audit_head().await.unwrap();
    let mut verifier = ChainVerifier::default();
    for e in store.audit_page(0, 1000).await.unwrap() {
        verifier.check(&e).unwrap();
    }
    assert_eq!(verifier.finish(&head), Ok(head.seq));
    for (p, events) in [(a, 4), (b, 3), (c, 4)] {
        let all = store.events(p, EventFilter::default()).await.unwrap();
        assert_eq!(all.iter().map(|e| e.seq).collect::<Vec<_>>(), (1..=events).collect::<Vec<u64>>(), "{p}");
    }
    // Nor is the course B's append made kept anywhere to be read: a change that lands at
    // the version it would have had (so the course is where it was) reads as itself.
    // (No read of B's course comes before: a read would find what the store holds.)
    let landed = change(&*store, &ids, o, &course_b, &note(3)).await.unwrap();
    assert_eq!(store.course(b, course_b.id).await.unwrap().unwrap(), landed);
}
