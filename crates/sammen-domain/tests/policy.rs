//! The policy, tested as the law reads: every reader sector × the legal domain the
//! data was recorded in × consent state × data category; and a property test over
//! sequences of grants, withdrawals and expiries.

use proptest::prelude::*;
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, Ordering};
use time::macros::datetime;
use time::{Duration, OffsetDateTime};

use sammen_domain::clock::IdSource;
use sammen_domain::cpr::Cpr;
use sammen_domain::decide::{self, Context, SharingChange, SharingFacts};
use sammen_domain::directory::{Organisation, User, UserKind};
use sammen_domain::event::TeamMember;
use sammen_domain::ids::{CourseId, OrgId, UserId};
use sammen_domain::policy::{decide, Access, Decision, Facts, Reader, Relation};
use sammen_domain::projection::PatientState;
use sammen_domain::sharing::{ConsentMethod, GivenBy, ObjectionTarget, Recipient};
use sammen_domain::vocab::{DataCategory, LegalDomain, Profession, Sector};
use sammen_domain::DomainError;

struct Ids(AtomicU64);
impl IdSource for Ids {
    fn random_bytes(&self) -> [u8; 16] {
        let mut b = [0u8; 16];
        b[8..].copy_from_slice(&self.0.fetch_add(1, Ordering::Relaxed).to_be_bytes());
        b[0] = 0x42;
        b
    }
}

const T0: OffsetDateTime = datetime!(2026-03-01 09:00 UTC);

fn org(ids: &Ids, sector: Sector) -> Organisation {
    Organisation { id: OrgId::from_random_bytes(ids.random_bytes()), name: format!("{sector}"), sector, sor: None }
}

fn professional(ids: &Ids, org: &Organisation) -> User {
    let profession = match org.sector {
        Sector::GeneralPractice => Profession::GeneralPractitioner,
        Sector::PrivatePractice => Profession::Physiotherapist,
        Sector::Hospital => Profession::HospitalDoctor,
        Sector::HospitalPsychiatry => Profession::Psychiatrist,
        Sector::MunicipalHealth => Profession::MunicipalPhysiotherapist,
        Sector::MunicipalEmployment => Profession::JobcentreSocialWorker,
        Sector::MunicipalSocial => Profession::SocialPsychiatryWorker,
    };
    User {
        id: UserId::from_random_bytes(ids.random_bytes()),
        login: "x".into(),
        name: "x".into(),
        kind: UserKind::Professional { profession, org: org.id },
        disabled: false,
        org_admin: false,
        email: None,
        language: None,
    }
}

fn patient(ids: &Ids) -> PatientState {
    let ctx = Context {
        actor: UserId::from_random_bytes(ids.random_bytes()),
        org: None,
        domain: LegalDomain::Health,
        now: T0,
        ids,
    };
    let (id, e) = decide::register_patient(&ctx, Cpr::parse("0101801234").unwrap(), "P").unwrap();
    PatientState::from_registration(id, &e).unwrap()
}

fn apply(
    p: &mut PatientState,
    ids: &Ids,
    now: OffsetDateTime,
    change: SharingChange,
    course: CourseId,
    domain: LegalDomain,
) {
    let ctx = Context {
        actor: UserId::from_random_bytes(ids.random_bytes()),
        org: None,
        domain: LegalDomain::Health,
        now,
        ids,
    };
    let facts =
        SharingFacts { recipient_domain: Some(domain), courses: vec![course], user_exists: true, by_the_patient: true };
    let e = decide::change_sharing(&ctx, p, &change, &facts).unwrap();
    p.apply(&e);
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum ConsentState {
    None,
    Given,
    Expired,
    Withdrawn,
    Objection,
}

/// The law, stated apart from the code: may a care team member in `reader` see data
/// of `category` recorded in `origin`, in this consent state?
fn the_law(reader: Sector, origin: LegalDomain, state: ConsentState, category: DataCategory) -> bool {
    let consented = state == ConsentState::Given;
    match (state, category) {
        (ConsentState::Objection, _) => false,
        (_, DataCategory::Identity) => true,
        _ if reader.legal_domain() != origin => consented,
        (_, DataCategory::MentalHealth) if origin == LegalDomain::Health => {
            matches!(reader, Sector::HospitalPsychiatry | Sector::GeneralPractice) || consented
        }
        _ => true,
    }
}

/// The same for what the patient wrote themself: within its legal domain it is for
/// everyone who helps them (mental health included: they chose to write it), across
/// domains only by consent.
fn the_law_for_the_patients_words(
    reader: Sector,
    origin: LegalDomain,
    state: ConsentState,
    category: DataCategory,
) -> bool {
    match (state, category) {
        (ConsentState::Objection, _) => false,
        (_, DataCategory::Identity) => true,
        _ if reader.legal_domain() != origin => state == ConsentState::Given,
        _ => true,
    }
}

#[test]
fn every_sector_domain_consent_state_and_category() {
    let ids = Ids(AtomicU64::new(1));
    let course = CourseId::from_random_bytes(ids.random_bytes());
    let mut checked = 0;
    for state in [
        ConsentState::None,
        ConsentState::Given,
        ConsentState::Expired,
        ConsentState::Withdrawn,
        ConsentState::Objection,
    ] {
        for sector in Sector::ALL {
            let reader_org = org(&ids, *sector);
            let reader = professional(&ids, &reader_org);
            let mut p = patient(&ids);
            let mut now = T0;
            let everything: BTreeSet<DataCategory> = DataCategory::ALL.iter().copied().collect();
            let give = |expires_at| SharingChange::GiveConsent {
                // Outside health care a consent names the place; within it, a sector too.
                recipient: match sector.legal_domain() {
                    LegalDomain::Health => Recipient::Sector { sector: *sector },
                    _ => Recipient::Organisation { org: reader_org.id },
                },
                categories: everything.clone(),
                purpose: "test".into(),
                course,
                given_by: GivenBy::Patient,
                method: ConsentMethod::Written,
                expires_at,
            };
            let domain = sector.legal_domain();
            match state {
                ConsentState::None => {}
                ConsentState::Given => apply(&mut p, &ids, now, give(now + Duration::days(300)), course, domain),
                ConsentState::Expired => {
                    apply(&mut p, &ids, now, give(now + Duration::days(1)), course, domain);
                    now += Duration::days(2);
                }
                ConsentState::Withdrawn => {
                    apply(&mut p, &ids, now, give(now + Duration::days(300)), course, domain);
                    let consent = p.consents[0].id;
                    now += Duration::hours(1);
                    apply(
                        &mut p,
                        &ids,
                        now,
                        SharingChange::WithdrawConsent { consent, reason: String::new() },
                        course,
                        domain,
                    );
                }
                ConsentState::Objection => {
                    let target = ObjectionTarget::Organisation { org: reader_org.id };
                    apply(&mut p, &ids, now, SharingChange::RecordObjection { target }, course, domain);
                }
            }
            let team = [TeamMember::Organisation { org: reader_org.id }];
            let facts = Facts { patient: &p, course: Some(course), team: &team, now };
            let decision = decide(&Reader { user: &reader, org: Some(&reader_org) }, &facts, Access::ReadCourse);
            let author = OrgId::from_random_bytes([0xaa; 16]);
            for origin in [LegalDomain::Health, LegalDomain::Social, LegalDomain::Employment] {
                for (category, author) in DataCategory::ALL.iter().flat_map(|c| [(c, Some(author)), (c, None)]) {
                    let shown = match &decision {
                        Decision::Permit { filter, .. } => filter.shows(*category, origin, author, Some(course)).0,
                        Decision::Deny { relation, hide } => {
                            assert_eq!((*relation, *hide), (Relation::Objected, false), "{sector} {state:?}");
                            false
                        }
                    };
                    let law = match author {
                        Some(_) => the_law(*sector, origin, state, *category),
                        None => the_law_for_the_patients_words(*sector, origin, state, *category),
                    };
                    assert_eq!(
                        shown, law,
                        "reader {sector}, data from {origin} by {author:?}, consent {state:?}, {category}"
                    );
                    checked += 1;
                }
            }
        }
    }
    assert_eq!(checked, 5 * 7 * 3 * 9 * 2);
}

#[test]
fn own_organisation_and_other_courses() {
    let ids = Ids(AtomicU64::new(1000));
    let course = CourseId::from_random_bytes(ids.random_bytes());
    let other_course = CourseId::from_random_bytes(ids.random_bytes());
    let jobcentre = org(&ids, Sector::MunicipalEmployment);
    let reader = professional(&ids, &jobcentre);
    let mut p = patient(&ids);
    let give = SharingChange::GiveConsent {
        recipient: Recipient::Organisation { org: jobcentre.id },
        categories: [DataCategory::Plan].into_iter().collect(),
        purpose: "sick leave".into(),
        course,
        given_by: GivenBy::Patient,
        method: ConsentMethod::Written,
        expires_at: T0 + Duration::days(100),
    };
    let ctx =
        Context { actor: reader.id, org: Some(jobcentre.id), domain: LegalDomain::Employment, now: T0, ids: &ids };
    let facts = SharingFacts {
        recipient_domain: Some(LegalDomain::Employment),
        courses: vec![course, other_course],
        user_exists: true,
        by_the_patient: false,
    };
    p.apply(&decide::change_sharing(&ctx, &p, &give, &facts).unwrap());
    let team = [TeamMember::Organisation { org: jobcentre.id }];
    let facts = Facts { patient: &p, course: Some(course), team: &team, now: T0 };
    let Decision::Permit { filter, .. } =
        decide(&Reader { user: &reader, org: Some(&jobcentre) }, &facts, Access::ReadCourse)
    else {
        panic!("a team member is permitted")
    };
    let health = OrgId::from_random_bytes([1; 16]);
    assert!(filter.shows(DataCategory::Plan, LegalDomain::Health, Some(health), Some(course)).0);
    assert!(!filter.shows(DataCategory::ClinicalFindings, LegalDomain::Health, Some(health), Some(course)).0);
    // The consent names one course; the other course's plan stays out.
    assert!(!filter.shows(DataCategory::Plan, LegalDomain::Health, Some(health), Some(other_course)).0);
    // What the patient wrote themself (no organisation) in a health course crosses to the
    // jobcentre as anything else does: the plan they consented to, not their story.
    assert!(!filter.shows(DataCategory::PatientStory, LegalDomain::Health, None, Some(course)).0);
    assert!(filter.shows(DataCategory::Plan, LegalDomain::Health, None, Some(course)).0);
    // What the jobcentre itself recorded is always theirs to see.
    assert!(filter.shows(DataCategory::ClinicalFindings, LegalDomain::Health, Some(jobcentre.id), Some(course)).0);
}

#[test]
fn consent_rules_refuse_bad_consents() {
    let ids = Ids(AtomicU64::new(5000));
    let course = CourseId::from_random_bytes(ids.random_bytes());
    let p = patient(&ids);
    let ctx = Context {
        actor: UserId::from_random_bytes(ids.random_bytes()),
        org: None,
        domain: LegalDomain::Health,
        now: T0,
        ids: &ids,
    };
    let jobcentre = OrgId::from_random_bytes(ids.random_bytes());
    let consent = |categories: &[DataCategory], days: i64, course: CourseId| SharingChange::GiveConsent {
        recipient: Recipient::Organisation { org: jobcentre },
        categories: categories.iter().copied().collect(),
        purpose: "work".into(),
        course,
        given_by: GivenBy::Patient,
        method: ConsentMethod::Written,
        expires_at: T0 + Duration::days(days),
    };
    let outside = SharingFacts {
        recipient_domain: Some(LegalDomain::Employment),
        courses: vec![course],
        user_exists: true,
        by_the_patient: false,
    };
    let code = |c: &SharingChange, f: &SharingFacts| decide::change_sharing(&ctx, &p, c, f).unwrap_err().code();
    assert_eq!(code(&consent(&[], 30, course), &outside), "invalid_field");
    assert_eq!(code(&consent(&[DataCategory::Plan], 366, course), &outside), "invalid_field");
    assert_eq!(code(&consent(&[DataCategory::Plan], 0, course), &outside), "invalid_field");
    let unknown = CourseId::from_random_bytes(ids.random_bytes());
    assert_eq!(code(&consent(&[DataCategory::Plan], 30, unknown), &outside), "not_found");
    assert!(decide::change_sharing(&ctx, &p, &consent(&[DataCategory::Plan], 365, course), &outside).is_ok());
    // Within health a consent may run longer than a year.
    let inside = SharingFacts { recipient_domain: Some(LegalDomain::Health), ..outside.clone() };
    assert!(decide::change_sharing(&ctx, &p, &consent(&[DataCategory::MentalHealth], 700, course), &inside).is_ok());
    // Given by a proxy the patient never named.
    let mut by_stranger = consent(&[DataCategory::Plan], 30, course);
    if let SharingChange::GiveConsent { given_by, .. } = &mut by_stranger {
        *given_by = GivenBy::Proxy { user: UserId::from_random_bytes([9; 16]) };
    }
    assert_eq!(code(&by_stranger, &outside), "invalid_field");
    // Outside health care, oral consent is not enough; inside, it is.
    let mut oral = consent(&[DataCategory::Plan], 30, course);
    if let SharingChange::GiveConsent { method, .. } = &mut oral {
        *method = ConsentMethod::Oral;
    }
    assert_eq!(code(&oral, &outside), "invalid_field");
    assert!(decide::change_sharing(&ctx, &p, &oral, &inside).is_ok());
    // Outside health care a consent names the place: "every jobcentre" is a blanket
    // consent, which is not valid. Within health care, "every hospital" may be given.
    let mut blanket = consent(&[DataCategory::Plan], 30, course);
    if let SharingChange::GiveConsent { recipient, .. } = &mut blanket {
        *recipient = Recipient::Sector { sector: Sector::MunicipalEmployment };
    }
    let refused = decide::change_sharing(&ctx, &p, &blanket, &outside).unwrap_err();
    assert!(matches!(refused, DomainError::InvalidField { field: "recipient", .. }), "{refused}");
    if let SharingChange::GiveConsent { recipient, .. } = &mut blanket {
        *recipient = Recipient::Sector { sector: Sector::Hospital };
    }
    assert!(decide::change_sharing(&ctx, &p, &blanket, &inside).is_ok());
    // Naming a proxy and lifting an objection are the patient's alone.
    let proxy = SharingChange::NameProxy { user: UserId::from_random_bytes([8; 16]), relationship: "mor".into() };
    assert_eq!(code(&proxy, &outside), "rejected");
    let by_patient = SharingFacts { by_the_patient: true, ..outside.clone() };
    assert!(decide::change_sharing(&ctx, &p, &proxy, &by_patient).is_ok());
    assert_eq!(decide::open_break_glass(&ctx, &p, "urgent").unwrap_err().code(), "invalid_field");
}

#[derive(Debug, Clone)]
enum Op {
    Grant { categories: Vec<DataCategory>, days: i64 },
    Withdraw(usize),
    Advance(i64),
}

fn op() -> impl Strategy<Value = Op> {
    let category = prop::sample::select(DataCategory::ALL.to_vec());
    prop_oneof![
        (prop::collection::vec(category, 1..4), 1i64..=365)
            .prop_map(|(categories, days)| Op::Grant { categories, days }),
        (0usize..8).prop_map(Op::Withdraw),
        (0i64..120).prop_map(Op::Advance),
    ]
}

proptest! {
    /// Whatever the sequence of grants, withdrawals and expiries, the jobcentre sees a
    /// category of health data only while a consent covering it is in force; once the
    /// last such consent ends, the category is hidden on the very next check.
    #[test]
    fn no_category_outlives_its_consent(ops in prop::collection::vec(op(), 1..40)) {
        let ids = Ids(AtomicU64::new(9000));
        let course = CourseId::from_random_bytes(ids.random_bytes());
        let jobcentre = org(&ids, Sector::MunicipalEmployment);
        let reader = professional(&ids, &jobcentre);
        let mut p = patient(&ids);
        let mut now = T0;
        let team = [TeamMember::Organisation { org: jobcentre.id }];
        let health = OrgId::from_random_bytes([1; 16]);
        for op in ops {
            match op {
                Op::Grant { categories, days } => {
                    let change = SharingChange::GiveConsent {
                        recipient: Recipient::Organisation { org: jobcentre.id },
                        categories: categories.into_iter().collect(),
                        purpose: "work".into(),
                        course,
                        given_by: GivenBy::Patient,
                        method: ConsentMethod::Written,
                        expires_at: now + Duration::days(days),
                    };
                    apply(&mut p, &ids, now, change, course, LegalDomain::Employment);
                }
                Op::Withdraw(i) => {
                    let open: Vec<_> = p.consents.iter().filter(|c| c.withdrawn_at.is_none()).map(|c| c.id).collect();
                    if let Some(consent) = open.get(i % open.len().max(1)).copied() {
                        apply(&mut p, &ids, now, SharingChange::WithdrawConsent { consent, reason: String::new() }, course, LegalDomain::Employment);
                    }
                }
                Op::Advance(days) => now += Duration::days(days),
            }
            let facts = Facts { patient: &p, course: Some(course), team: &team, now };
            let Decision::Permit { filter, .. } = decide(&Reader { user: &reader, org: Some(&jobcentre) }, &facts, Access::ReadCourse) else {
                panic!("a team member is permitted");
            };
            for category in DataCategory::ALL.iter().filter(|c| **c != DataCategory::Identity) {
                let shown = filter.shows(*category, LegalDomain::Health, Some(health), Some(course)).0;
                let covered = p.consents.iter().any(|c| {
                    c.categories.contains(category) && c.given_at <= now && now < c.expires_at && c.withdrawn_at.is_none()
                });
                prop_assert_eq!(shown, covered, "{} at {}", category, now);
            }
        }
    }
}

#[test]
fn break_glass_is_for_health_strangers_and_ends() {
    let ids = Ids(AtomicU64::new(20_000));
    let hospital = org(&ids, Sector::Hospital);
    let doctor = professional(&ids, &hospital);
    let jobcentre = org(&ids, Sector::MunicipalEmployment);
    let caseworker = professional(&ids, &jobcentre);
    let mut p = patient(&ids);
    let reader = Reader { user: &doctor, org: Some(&hospital) };
    let at = |now| Facts { patient: &p, course: None, team: &[], now };
    assert_eq!(
        decide(&reader, &at(T0), Access::ReadCourse),
        Decision::Deny { relation: Relation::HealthStranger, hide: true }
    );
    assert!(decide(&reader, &at(T0), Access::OpenBreakGlass).is_permit());
    let social = Reader { user: &caseworker, org: Some(&jobcentre) };
    assert_eq!(
        decide(&social, &at(T0), Access::OpenBreakGlass),
        Decision::Deny { relation: Relation::Stranger, hide: true }
    );

    let ctx = Context { actor: doctor.id, org: Some(hospital.id), domain: LegalDomain::Health, now: T0, ids: &ids };
    p.apply(&decide::open_break_glass(&ctx, &p, "Unconscious in the emergency department").unwrap());
    let facts = Facts { patient: &p, course: None, team: &[], now: T0 + Duration::hours(1) };
    let decision = decide(&reader, &facts, Access::ReadCourse);
    assert!(decision.is_permit());
    assert_eq!(decision.purpose(), sammen_domain::vocab::Purpose::BreakGlass);
    assert!(!decide(&reader, &facts, Access::WriteCourse).is_permit(), "break-glass reads only");
    let later = Facts { patient: &p, course: None, team: &[], now: T0 + Duration::hours(4) };
    assert!(!decide(&reader, &later, Access::ReadCourse).is_permit(), "it ends after four hours");
}
