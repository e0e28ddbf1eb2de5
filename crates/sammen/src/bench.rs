//! `sammen bench`: appends and course reads on both engines, in one run, on the same
//! synthetic population. Each engine gets a fresh database (SQLite in a temporary
//! directory; a new PostgreSQL database on the given server, dropped afterwards).
//!
//! Measured, per engine:
//! - import rate of the generated population;
//! - appends (one entry on a course, through the use case: policy, version check,
//!   commit, audit): one writer (latency p50/p99, appends/s) and several writers;
//! - reading one course through the use case, audited: one reader (p50/p99) and
//!   several readers (reads/s);
//! - the same read without the audit entry (load + policy only), so the cost of
//!   auditing shows in the same run.

use clap::Args;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration as StdDuration, Instant};
use time::macros::date;

use sammen_app::ids::RandomIds;
use sammen_app::{Actor, AppError, Sammen};
use sammen_domain::clock::{danish_day, SystemClock};
use sammen_domain::decide::CourseChange;
use sammen_domain::event::{EntryType, TeamMember};
use sammen_domain::ids::{CourseId, OrgId, PatientId};
use sammen_domain::policy::{self, Access, Decision, Facts, Reader};
use sammen_domain::vocab::{DataCategory, Purpose};
use sammen_store::Store;

use crate::config::Global;
use crate::{generate, Failure};

#[derive(Debug, Clone, Args)]
pub struct BenchArgs {
    /// Patients in the synthetic population.
    #[arg(long, default_value_t = 10_000)]
    patients: u64,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Reads per measurement.
    #[arg(long, default_value_t = 20_000)]
    reads: usize,
    /// Appends per measurement.
    #[arg(long, default_value_t = 2_000)]
    appends: usize,
    /// Events on the one large course whose briefing and timeline are measured.
    #[arg(long, default_value_t = 500)]
    course_events: usize,
    /// Concurrent clients for the throughput measurements.
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    /// Only these measurements (after the import): reads, appends, briefing, worklist.
    #[arg(long, value_delimiter = ',', value_enum)]
    only: Vec<Measure>,
    /// The PostgreSQL server to create the benchmark database on. Without it, only
    /// SQLite is measured.
    #[arg(long, env = "SAMMEN_BENCH_POSTGRES_URL", hide_env_values = true)]
    postgres_url: Option<String>,
    /// Keep the SQLite database in this directory, and measure on the population it
    /// already holds instead of importing again (a 100,000-patient import takes minutes).
    /// The measurements write as they always do, so a kept database grows a little with
    /// every run.
    #[arg(long)]
    keep: Option<std::path::PathBuf>,
}

/// The groups of measurements `--only` can pick.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Measure {
    /// Course reads, audited and not, and the policy check's share.
    Reads,
    /// Appends by one and by several writers.
    Appends,
    /// The briefing and the timeline of a large course.
    Briefing,
    /// A GP's worklist.
    Worklist,
}

impl BenchArgs {
    fn measures(&self, m: Measure) -> bool {
        self.only.is_empty() || self.only.contains(&m)
    }
}

/// One course and a reader entitled to it.
#[derive(Clone)]
struct Target {
    patient: PatientId,
    course: CourseId,
    actor: Actor,
}

struct Sample {
    latencies: Vec<StdDuration>,
    wall: StdDuration,
}

impl Sample {
    fn per_sec(&self) -> f64 {
        self.latencies.len() as f64 / self.wall.as_secs_f64().max(1e-9)
    }
    fn pct(&self, p: f64) -> f64 {
        let mut v = self.latencies.clone();
        v.sort();
        if v.is_empty() {
            return 0.0;
        }
        let i = ((v.len() as f64 * p).ceil() as usize).clamp(1, v.len()) - 1;
        v[i].as_secs_f64() * 1000.0
    }
}

pub async fn run(_global: &Global, args: BenchArgs) -> Result<(), Failure> {
    let mut engines: Vec<(String, Arc<dyn Store>, Option<Cleanup>)> = Vec::new();
    let dir = match &args.keep {
        Some(kept) => kept.clone(),
        None => std::env::temp_dir().join(format!("sammen-bench-{}", std::process::id())),
    };
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let sqlite = sammen_store_sqlite::open(&dir.join("bench.db")).await.map_err(|e| e.to_string())?;
    engines.push(("sqlite".into(), Arc::new(sqlite), None));
    if let Some(url) = &args.postgres_url {
        let (store, cleanup) = fresh_postgres(url).await?;
        engines.push(("postgres".into(), store, Some(cleanup)));
    }
    println!(
        "# sammen bench: {} patients (seed {}), {} reads and {} appends per measurement, {} concurrent clients\n",
        args.patients, args.seed, args.reads, args.appends, args.concurrency
    );
    println!("| engine | measurement | ops | ops/s | p50 ms | p99 ms |");
    println!("|---|---|---:|---:|---:|---:|");
    let mut result = Ok(());
    for (name, store, _) in &engines {
        if let Err(e) = bench_engine(name, store.clone(), &args).await {
            result = Err(e);
            break;
        }
    }
    for (_, _, cleanup) in engines {
        if let Some(c) = cleanup {
            c.run().await;
        }
    }
    if args.keep.is_none() {
        let _ = std::fs::remove_dir_all(&dir);
    }
    result
}

fn row(engine: &str, what: &str, s: &Sample) {
    println!(
        "| {engine} | {what} | {} | {:.0} | {:.3} | {:.3} |",
        s.latencies.len(),
        s.per_sec(),
        s.pct(0.50),
        s.pct(0.99)
    );
}

async fn bench_engine(engine: &str, store: Arc<dyn Store>, args: &BenchArgs) -> Result<(), Failure> {
    // Import the population, unless a kept database holds it already.
    let held = store.count_patients().await.map_err(AppError::from)?;
    if held == 0 {
        let seeded = generate::seeded(store.clone(), args.seed);
        let started = Instant::now();
        let report = generate::generate(&seeded, args.patients, args.seed, |_| {}).await?;
        let secs = started.elapsed().as_secs_f64();
        println!(
            "| {engine} | import ({} events) | {} patients | {:.0} patients/s | | |",
            report.events,
            report.patients,
            report.patients as f64 / secs
        );
    } else if held != args.patients {
        return Err(format!("the kept database holds {held} patients, not {}", args.patients).into());
    } else {
        println!("| {engine} | import skipped: the kept database holds {held} patients | | | | |");
    }

    let app = Sammen::new(store.clone(), Arc::new(SystemClock), Arc::new(RandomIds));
    let targets = targets(&app, &*store, 2_000, args.seed).await?;
    if args.measures(Measure::Reads) {
        bench_reads(engine, &app, &targets, args).await?;
    }
    if args.measures(Measure::Appends) {
        bench_appends(engine, &app, &targets, args, 1).await?;
    }
    if args.measures(Measure::Briefing) {
        bench_briefing(engine, &app, &targets[0], args).await?;
    }
    if args.measures(Measure::Appends) {
        bench_appends(engine, &app, &targets, args, args.concurrency).await?;
    }
    if args.measures(Measure::Worklist) {
        bench_worklist(engine, store, args).await?;
    }
    Ok(())
}

/// Course reads through the use case, audited and not, and the policy check alone.
async fn bench_reads(engine: &str, app: &Sammen, targets: &[Target], args: &BenchArgs) -> Result<(), Failure> {
    // Reads: one client, audited.
    let one = run_clients(
        1,
        args.reads / 4,
        targets,
        |app, t| async move { app.read_course(&t.actor, t.patient, t.course).await.map(|_| ()) },
        app,
    )
    .await?;
    row(engine, "read course, audited, 1 client", &one);

    let many = run_clients(
        args.concurrency,
        args.reads,
        targets,
        |app, t| async move { app.read_course(&t.actor, t.patient, t.course).await.map(|_| ()) },
        app,
    )
    .await?;
    row(engine, &format!("read course, audited, {} clients", args.concurrency), &many);

    // The same reads without the audit entry: load + policy, nothing else.
    let unaudited = run_clients(args.concurrency, args.reads, targets, unaudited_read, app).await?;
    row(engine, &format!("read course, unaudited, {} clients", args.concurrency), &unaudited);

    // The policy check alone (decide + filter), on records already in memory, over the
    // same targets: its share of a read.
    let policy_check = policy_check(app, targets, args.reads / 4).await?;
    row(engine, "policy check alone (decide + filter)", &policy_check);
    let unaudited_one = run_clients(1, args.reads / 4, targets, unaudited_read, app).await?;
    row(engine, "read course, unaudited, 1 client", &unaudited_one);
    println!(
        "| {engine} | policy check's share of a read (p50) | | {:.2} % of audited, {:.2} % of unaudited | | |",
        100.0 * policy_check.pct(0.5) / one.pct(0.5),
        100.0 * policy_check.pct(0.5) / unaudited_one.pct(0.5)
    );

    Ok(())
}

/// Appends of one entry through the use case, by `writers` concurrent writers on
/// different courses (a conflict is retried).
async fn bench_appends(
    engine: &str,
    app: &Sammen,
    targets: &[Target],
    args: &BenchArgs,
    writers: usize,
) -> Result<(), Failure> {
    let append = |app: Sammen, t: Target| async move {
        loop {
            let current = app.store().course(t.patient, t.course).await?.ok_or(AppError::NotFound("course"))?;
            let change = CourseChange::RecordEntry {
                entry_type: EntryType::Note,
                category: DataCategory::ClinicalFindings,
                title: "Benchmark note".into(),
                text: "Seen today.".into(),
                occurred_on: date!(2026 - 01 - 01),
            };
            match app.change_course(&t.actor, t.patient, t.course, current.version, &change).await {
                Err(AppError::Domain(sammen_domain::DomainError::Conflict { .. })) => continue,
                other => return other.map(|_| ()),
            }
        }
    };
    let sample = run_clients(writers, args.appends, targets, append, app).await?;
    let what =
        if writers == 1 { "append entry, 1 writer".to_string() } else { format!("append entry, {writers} writers") };
    row(engine, &what, &sample);
    Ok(())
}

/// Worklists run before the measured ones.
const WORKLIST_WARM_UP: usize = 200;

/// The worklist of a GP whose practice follows about [`generate::PATIENTS_PER_PRACTICE`]
/// patients. The clock stands just after the generated histories end, so open steps,
/// handovers and questions are due around now (some overdue). Another professional of
/// the practice then writes in one course in twenty, so "changed since I last looked"
/// holds what a working day would.
async fn bench_worklist(engine: &str, store: Arc<dyn Store>, args: &BenchArgs) -> Result<(), Failure> {
    use sammen_domain::clock::ManualClock;
    let clock = Arc::new(ManualClock::new(generate::ANCHOR + time::Duration::days(1)));
    let app = Sammen::new(store.clone(), clock, Arc::new(RandomIds));
    let login = |j: usize| format!("syn.general-practice.0.{j}");
    let gp = store.user_by_login(&login(0)).await.map_err(AppError::from)?.ok_or(AppError::NotFound("user"))?;
    let nurse = store.user_by_login(&login(1)).await.map_err(AppError::from)?.ok_or(AppError::NotFound("user"))?;
    let gp = app.actor_for(gp, Purpose::Treatment).await?;
    let nurse = app.actor_for(nurse, Purpose::Treatment).await?;
    let followed = store.memberships(gp.user.id, gp.user.org()).await.map_err(AppError::from)?;
    let mut patients: Vec<PatientId> = followed.iter().map(|(p, _)| *p).collect();
    patients.sort();
    patients.dedup();
    for (patient, course) in followed.iter().step_by(20) {
        let current =
            store.course(*patient, *course).await.map_err(AppError::from)?.ok_or(AppError::NotFound("course"))?;
        let change = CourseChange::RecordEntry {
            entry_type: EntryType::Note,
            category: DataCategory::ClinicalFindings,
            title: "Telefonkonsultation".into(),
            text: "Har det bedre.".into(),
            occurred_on: danish_day(app.now()),
        };
        app.change_course(&nurse, *patient, *course, current.version, &change).await?;
    }
    let view = app.worklist(&gp, 20).await?;
    let open: usize = view.counts.values().sum();
    let runs = (args.reads / 40).max(200);
    // A server's first seconds are not what a GP meets: caches fill and the logs grow to
    // the size they keep. The first worklists are run and not measured.
    for _ in 0..WORKLIST_WARM_UP {
        std::hint::black_box(app.worklist(&gp, 20).await?);
    }
    let mut latencies = Vec::with_capacity(runs);
    let started = Instant::now();
    for _ in 0..runs {
        let s = Instant::now();
        std::hint::black_box(app.worklist(&gp, 20).await?);
        latencies.push(s.elapsed());
    }
    let sample = Sample { latencies, wall: started.elapsed() };
    let what = format!(
        "worklist, GP following {} patients ({} courses), {open} lines, {} shown, audited",
        patients.len(),
        followed.len(),
        view.items.len()
    );
    row(engine, &what, &sample);
    Ok(())
}

/// The audited read's work, step by step, without the audit entry.
async fn unaudited_read(app: Sammen, t: Target) -> Result<(), AppError> {
    let patient = app.store().patient(t.patient).await?.ok_or(AppError::NotFound("patient"))?;
    let course = app.store().course(t.patient, t.course).await?.ok_or(AppError::NotFound("course"))?;
    let team: Vec<TeamMember> = course.team.iter().map(|m| m.member).collect();
    let reader = Reader { user: &t.actor.user, org: t.actor.org.as_ref() };
    let facts = Facts { patient: &patient, course: Some(t.course), team: &team, now: app.now() };
    match policy::decide(&reader, &facts, Access::ReadCourse) {
        Decision::Permit { filter, .. } => {
            std::hint::black_box(policy::filter_course(&course, &filter));
            Ok(())
        }
        Decision::Deny { .. } => Err(AppError::Forbidden),
    }
}

/// Times `decide` and `filter_course` alone, on patients and courses loaded first.
async fn policy_check(app: &Sammen, targets: &[Target], n: usize) -> Result<Sample, Failure> {
    let mut loaded = Vec::new();
    for t in targets {
        let patient =
            app.store().patient(t.patient).await.map_err(AppError::from)?.ok_or(AppError::NotFound("patient"))?;
        let course = app
            .store()
            .course(t.patient, t.course)
            .await
            .map_err(AppError::from)?
            .ok_or(AppError::NotFound("course"))?;
        let team: Vec<TeamMember> = course.team.iter().map(|m| m.member).collect();
        loaded.push((t, patient, course, team));
    }
    let now = app.now();
    let started = Instant::now();
    let mut latencies = Vec::with_capacity(n);
    for i in 0..n {
        let (t, patient, course, team) = &loaded[(i * 104_729) % loaded.len()];
        let s = Instant::now();
        let reader = Reader { user: &t.actor.user, org: t.actor.org.as_ref() };
        let facts = Facts { patient, course: Some(t.course), team, now };
        if let Decision::Permit { filter, .. } = policy::decide(&reader, &facts, Access::ReadCourse) {
            std::hint::black_box(policy::filter_course(course, &filter));
        }
        latencies.push(s.elapsed());
    }
    Ok(Sample { latencies, wall: started.elapsed() })
}

/// Grows one course to `--course-events` events through the use cases (entries, steps,
/// advice, progress), then times the briefing and the timeline for a team member.
async fn bench_briefing(engine: &str, app: &Sammen, target: &Target, args: &BenchArgs) -> Result<(), Failure> {
    use sammen_domain::care::{ActivityScore, Owner, StepKind};
    let owner = Owner::Role { org: target.actor.user.org().expect("a professional"), role: "team".into() };
    let mut course = app.read_course(&target.actor, target.patient, target.course).await?;
    let today = danish_day(app.now());
    let mut n = 0usize;
    while course.course.version < args.course_events as u64 {
        let change = match n % 5 {
            0 => CourseChange::PlanStep {
                step_kind: StepKind::FollowUp,
                title: format!("Opfølgning {n}"),
                owner: owner.clone(),
                due_from: None,
                due_by: today + time::Duration::days((n % 90) as i64 - 30),
                reason: "Kontrol".into(),
                reason_plain: "Vi ser, hvordan det går.".into(),
                what_to_expect: String::new(),
                if_it_does_not_help: String::new(),
            },
            1 => CourseChange::GiveAdvice {
                topic: "activity".into(),
                stance: if n.is_multiple_of(2) { "keep_active" } else { "rest" }.into(),
                text: "Råd".into(),
            },
            2 => CourseChange::RecordProgress {
                on: today,
                pain: Some((n % 11) as u8),
                activities: vec![ActivityScore { activity: "Gå".into(), score: (n % 11) as u8 }],
            },
            _ => CourseChange::RecordEntry {
                entry_type: EntryType::Note,
                category: DataCategory::ClinicalFindings,
                title: format!("Notat {n}"),
                text: "Set i dag. Bedre end sidst.".into(),
                occurred_on: today,
            },
        };
        let (view, _) =
            app.change_course(&target.actor, target.patient, target.course, course.course.version, &change).await?;
        course = view;
        n += 1;
    }
    let reads = (args.reads / 10).max(100);
    let one = std::slice::from_ref(target);
    let briefing = run_clients(
        1,
        reads,
        one,
        |app, t| async move { app.briefing(&t.actor, t.patient, t.course).await.map(|_| ()) },
        app,
    )
    .await?;
    row(engine, &format!("briefing, {}-event course, audited", course.course.version), &briefing);
    let timeline = run_clients(
        1,
        reads,
        one,
        |app, t| async move { app.timeline(&t.actor, t.patient, t.course).await.map(|_| ()) },
        app,
    )
    .await?;
    row(engine, &format!("timeline, {}-event course, audited", course.course.version), &timeline);
    bench_pages(engine, app, target, course.course.version, reads).await
}

/// The web pages of the large course, through the whole HTTP stack in process (routing,
/// session, use case, template): the professional's briefing and the patient's own
/// course page with its timeline. Reports server time and the bytes of the page.
async fn bench_pages(engine: &str, app: &Sammen, target: &Target, events: u64, reads: usize) -> Result<(), Failure> {
    use sammen_domain::directory::UserKind;
    use tower::ServiceExt;

    let password = sammen_app::ids::secret_hex();
    let pro = target.actor.user.login.clone();
    app.set_password(&pro, &password).await?;
    let patient_login = format!("bench-patient-{}", &sammen_app::ids::secret_hex()[..8]);
    app.add_user(&patient_login, "Bench Patient", UserKind::Patient { patient: target.patient }).await?;
    app.set_password(&patient_login, &password).await?;
    let router = sammen_http::app(sammen_http::AppState::new(app.clone()));
    let pages = [
        ("briefing page (professional)", pro.as_str(), format!("/p/{}/c/{}", target.patient, target.course)),
        ("my course page with timeline (patient)", patient_login.as_str(), format!("/me/c/{}", target.course)),
    ];
    for (what, login, path) in pages {
        let (_, secret) = app.sign_in(login, &password, "bench").await?;
        let mut latencies = Vec::with_capacity(reads);
        let mut bytes = 0;
        let started = Instant::now();
        for _ in 0..reads {
            let request = axum::http::Request::get(&path)
                .header("cookie", format!("sammen_session={secret}"))
                .body(axum::body::Body::empty())
                .map_err(|e| Failure(e.to_string()))?;
            let t = Instant::now();
            let response = router.clone().oneshot(request).await.map_err(|e| Failure(e.to_string()))?;
            let status = response.status();
            let body =
                axum::body::to_bytes(response.into_body(), usize::MAX).await.map_err(|e| Failure(e.to_string()))?;
            latencies.push(t.elapsed());
            if !status.is_success() {
                return Err(Failure(format!("{what}: HTTP {status}")));
            }
            bytes = body.len();
        }
        let sample = Sample { latencies, wall: started.elapsed() };
        row(engine, &format!("{what}, {events}-event course, {:.1} kB HTML", bytes as f64 / 1024.0), &sample);
    }
    Ok(())
}

/// Runs `total` operations over `clients` concurrent tasks, each picking targets in
/// turn; returns every operation's latency and the wall time.
async fn run_clients<F, Fut>(
    clients: usize,
    total: usize,
    targets: &[Target],
    op: F,
    app: &Sammen,
) -> Result<Sample, Failure>
where
    F: Fn(Sammen, Target) -> Fut + Clone + Send + Sync + 'static,
    Fut: std::future::Future<Output = Result<(), AppError>> + Send,
{
    let targets = Arc::new(targets.to_vec());
    let per_client = total.div_ceil(clients.max(1));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..clients {
        let (targets, op, app) = (targets.clone(), op.clone(), app.clone());
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::with_capacity(per_client);
            for i in 0..per_client {
                let t = targets[(c * 7919 + i * 104_729) % targets.len()].clone();
                let s = Instant::now();
                op(app.clone(), t).await?;
                lat.push(s.elapsed());
            }
            Ok::<_, AppError>(lat)
        }));
    }
    let mut latencies = Vec::with_capacity(total);
    for t in tasks {
        latencies.extend(t.await.map_err(|e| e.to_string())??);
    }
    Ok(Sample { latencies, wall: started.elapsed() })
}

/// Picks random courses and, for each, a professional on its care team.
async fn targets(app: &Sammen, store: &dyn Store, n: usize, seed: u64) -> Result<Vec<Target>, Failure> {
    let mut staff: HashMap<OrgId, Actor> = HashMap::new();
    for u in store.users().await.map_err(AppError::from)? {
        if let Some(org) = u.org() {
            if let std::collections::hash_map::Entry::Vacant(slot) = staff.entry(org) {
                slot.insert(app.actor_for(u, Purpose::Treatment).await?);
            }
        }
    }
    let mut ids = Vec::new();
    let mut after = None;
    loop {
        let page = store.patient_ids(after, 5_000).await.map_err(AppError::from)?;
        let Some(last) = page.last().copied() else {
            break;
        };
        ids.extend(page);
        after = Some(last);
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    ids.shuffle(&mut rng);
    let mut out = Vec::new();
    for patient in ids.into_iter().take(n) {
        let team = store.care_team(patient).await.map_err(AppError::from)?;
        let (course, member) = team[rng.gen_range(0..team.len())];
        let org = match member {
            TeamMember::Organisation { org } | TeamMember::Professional { org, .. } => org,
        };
        if let Some(actor) = staff.get(&org) {
            out.push(Target { patient, course, actor: actor.clone() });
        }
    }
    if out.is_empty() {
        return Err(Failure("no readable courses in the generated population".into()));
    }
    Ok(out)
}

/// Drops the benchmark's PostgreSQL database at the end.
struct Cleanup {
    admin: String,
    name: String,
    store: Arc<dyn Store>,
}

impl Cleanup {
    async fn run(self) {
        drop(self.store);
        let _ = drop_database(&self.admin, &self.name).await;
    }
}

async fn drop_database(url: &str, name: &str) -> Result<u64, String> {
    let sql = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
    sammen_store_postgres::on_server(url, &sql).await.map_err(|e| e.to_string())
}

async fn fresh_postgres(url: &str) -> Result<(Arc<dyn Store>, Cleanup), Failure> {
    let name = format!("sammen_bench_{}", std::process::id());
    drop_database(url, &name)
        .await
        .map_err(|e| format!("cannot reach PostgreSQL at {}: {e}", crate::config::redact_url(url)))?;
    sammen_store_postgres::on_server(url, &format!("CREATE DATABASE {name}")).await.map_err(|e| e.to_string())?;
    let store = sammen_store_postgres::connect_database(url, &name).await.map_err(|e| e.to_string())?;
    let store: Arc<dyn Store> = Arc::new(store);
    Ok((store.clone(), Cleanup { admin: url.to_string(), name, store }))
}
