//! `sammen`: the one binary. Serves the API, loads the demo, generates synthetic
//! data, administers users and tokens, verifies the audit trail and runs benchmarks.
//! Only this crate picks a storage engine, from the database URL's scheme.

/// mimalloc instead of glibc's allocator: a request builds and drops many small strings
/// (rows, JSON), and glibc's free-list upkeep (`malloc_consolidate`, `unlink_chunk`) was a
/// tenth of the worklist's profile (BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod bench;
mod config;
mod demo;
mod generate;

use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use time::Duration;

use sammen_app::ids::RandomIds;
use sammen_app::{AppError, Sammen};
use sammen_domain::clock::{danish_day, Clock, ManualClock, SystemClock};
use sammen_domain::directory::UserKind;
use sammen_domain::vocab::{Profession, Sector};
use sammen_store::Store;

use config::{EngineChoice, Global};

/// Where `sammen serve` listens unless told otherwise.
const DEFAULT_LISTEN: &str = "127.0.0.1:8080";

#[derive(Parser)]
#[command(name = "sammen", version, about = "Sammen: one shared course of treatment across sectors.")]
struct Cli {
    #[command(flatten)]
    global: Global,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the API.
    Serve {
        /// Address to listen on.
        #[arg(long, env = "SAMMEN_LISTEN", default_value = DEFAULT_LISTEN)]
        listen: SocketAddr,
        /// Load the demo first if the database is empty, and print the demo logins.
        #[arg(long)]
        demo: bool,
    },
    /// Load the demo data into the configured database.
    Demo,
    /// Apply pending database migrations (serve also does this on start).
    Migrate,
    /// The audit trail.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Rebuild every projection from the patient logs.
    RebuildProjections,
    /// Generate a deterministic synthetic population, for benchmarks.
    Generate {
        #[arg(long)]
        patients: u64,
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
    /// Users.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Organisations.
    Org {
        #[command(subcommand)]
        command: OrgCommand,
    },
    /// Bearer tokens for systems and scripts.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// Print the effective configuration (secrets redacted).
    Config,
    /// Measure appends and course reads on both engines in one run.
    Bench(bench::BenchArgs),
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Check the hash chain; exits non-zero naming the first bad entry.
    Verify,
}

#[derive(Subcommand)]
enum UserCommand {
    /// One line per user, tab-separated: login, name, profession, organisation, sector.
    List,
    /// Add a professional (with --profession and --org) or an operator (--operator).
    Add {
        #[arg(long)]
        login: String,
        #[arg(long)]
        name: String,
        #[arg(long, required_unless_present = "operator")]
        profession: Option<String>,
        /// Organisation name, SOR code or id.
        #[arg(long, required_unless_present = "operator")]
        org: Option<String>,
        #[arg(long, conflicts_with_all = ["profession", "org"])]
        operator: bool,
        /// Let them manage their own organisation's users.
        #[arg(long, conflicts_with = "operator")]
        org_admin: bool,
        /// Where notification e-mails go (they never carry health data).
        #[arg(long)]
        email: Option<String>,
    },
    /// Set a user's password, read from the first line of standard input.
    SetPassword { login: String },
    /// Set (or, without --email, remove) the address notification e-mails go to.
    SetEmail {
        login: String,
        #[arg(long)]
        email: Option<String>,
    },
    /// Make a professional an admin of their own organisation (or stop it).
    OrgAdmin {
        login: String,
        #[arg(long)]
        remove: bool,
    },
    /// Disable a user: their sessions and tokens stop working at once.
    Disable { login: String },
    /// Enable a disabled user again.
    Enable { login: String },
}

#[derive(Subcommand)]
enum OrgCommand {
    /// Add an organisation.
    Add {
        #[arg(long)]
        name: String,
        #[arg(long)]
        sector: String,
        #[arg(long)]
        sor: Option<String>,
    },
    /// One line per organisation, tab-separated: id, name, sector, legal domain, SOR.
    List,
}

#[derive(Subcommand)]
enum TokenCommand {
    /// Issue a token; prints only the token.
    Issue {
        #[arg(long)]
        user: String,
        /// Lifetime, e.g. 30m, 1h, 7d. Without it the token lasts until revoked.
        #[arg(long, value_parser = parse_ttl)]
        ttl: Option<Duration>,
    },
    /// One line per token, tab-separated: id, login, created, expires, state.
    List,
    /// Revoke a token by its id (from `token list`).
    Revoke { id: String },
}

fn parse_ttl(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: i64 = num.parse().map_err(|_| "use a number and a unit, e.g. 30m, 1h, 7d".to_string())?;
    let d = match unit {
        "s" => Duration::seconds(n),
        "m" => Duration::minutes(n),
        "h" => Duration::hours(n),
        "d" => Duration::days(n),
        _ => return Err("the unit must be s, m, h or d, e.g. 1h".into()),
    };
    if n <= 0 {
        return Err("the lifetime must be positive".into());
    }
    Ok(d)
}

/// A failure the user can act on, with its exit code.
struct Failure(String);

impl From<AppError> for Failure {
    fn from(e: AppError) -> Self {
        match e {
            AppError::Internal(detail) => Failure(format!("internal error: {detail}")),
            other => Failure(other.to_string()),
        }
    }
}

impl From<String> for Failure {
    fn from(s: String) -> Self {
        Failure(s)
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_env("SAMMEN_LOG").unwrap_or_else(|_| "info".into()))
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure(message)) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

/// Opens the configured database and applies pending migrations.
pub async fn open_store(global: &Global) -> Result<Arc<dyn Store>, String> {
    match global.engine()? {
        EngineChoice::Sqlite(path) => {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir)
                    .map_err(|e| format!("cannot create the data directory {}: {e}", dir.display()))?;
            }
            let store = sammen_store_sqlite::open(&path)
                .await
                .map_err(|e| format!("cannot open the SQLite database {}: {e}", path.display()))?;
            Ok(Arc::new(store))
        }
        EngineChoice::Postgres(url) => {
            let store = sammen_store_postgres::connect(&url)
                .await
                .map_err(|e| format!("cannot connect to PostgreSQL at {}: {e}", config::redact_url(&url)))?;
            Ok(Arc::new(store))
        }
    }
}

fn clock(global: &Global) -> Arc<dyn Clock> {
    match global.now {
        Some(at) => Arc::new(ManualClock::new(at)),
        None => Arc::new(SystemClock),
    }
}

fn progress_bar(len: u64, what: &str) -> ProgressBar {
    let bar = ProgressBar::new(len);
    bar.set_style(
        ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} ({per_sec}, {eta} left)")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar.set_message(what.to_string());
    bar
}

async fn run(cli: Cli) -> Result<(), Failure> {
    let global = cli.global;
    match cli.command {
        Command::Config => {
            print_config(&global)?;
            Ok(())
        }
        Command::Bench(args) => bench::run(&global, args).await,
        Command::Serve { listen, demo } => serve(&global, listen, demo).await,
        command => {
            let store = open_store(&global).await?;
            let app = Sammen::new(store.clone(), clock(&global), Arc::new(RandomIds)).with_mailer(global.mailer());
            administer(&global, &app, command).await
        }
    }
}

async fn serve(global: &Global, listen: SocketAddr, demo: bool) -> Result<(), Failure> {
    let store = open_store(global).await?;
    let clock = clock(global);
    if demo {
        if store.is_empty().await.map_err(AppError::from)? {
            demo::load(store.clone(), danish_day(clock.now())).await?;
            eprintln!("Loaded the demo data.");
        } else {
            eprintln!("The database already has data; the demo was not loaded again.");
        }
    }
    let app = Sammen::new(store.clone(), clock, Arc::new(RandomIds)).with_mailer(global.mailer());
    let listener =
        tokio::net::TcpListener::bind(listen).await.map_err(|e| format!("cannot listen on {listen}: {e}"))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    if demo {
        print_demo_logins(&addr.to_string());
    }
    let schema = store.schema_version().await.map_err(AppError::from)?;
    let shutdown = shutdown_signal()?;
    eprintln!(
        "Sammen is listening on http://{addr} ({} database, schema version {schema}). Stop with Ctrl+C.",
        store.engine()
    );
    sammen_http::serve(listener, sammen_http::AppState::new(app), shutdown)
        .await
        .map_err(|e| format!("the server stopped: {e}"))?;
    eprintln!("Sammen stopped.");
    Ok(())
}

/// The demo's logins and how to try them, at the address the server listens on.
fn print_demo_logins(addr: &str) {
    println!("\nDemo logins:");
    for (login, name, what) in demo::logins() {
        println!("  {login:<20} {name:<20} {what}");
    }
    println!("\nEvery demo login's password is {:?}. Sign in at http://{addr}/login", demo::PASSWORD);
    println!("\nThe API also takes a bearer token. In another terminal:");
    println!("  TOKEN=$(cargo run --release -- token issue --user gp --ttl 8h)");
    println!("  curl -H \"Authorization: Bearer $TOKEN\" http://{addr}/api/me\n");
}

/// Waits for Ctrl+C or SIGTERM. The handlers are installed when this is called, not when
/// the future is first polled: a SIGTERM sent as soon as the server says it is listening
/// must stop it gracefully, not kill it.
fn shutdown_signal() -> Result<impl std::future::Future<Output = ()> + Send + 'static, Failure> {
    #[cfg(unix)]
    let (mut interrupt, mut terminate) = {
        use tokio::signal::unix::{signal, SignalKind};
        let install = |kind| signal(kind).map_err(|e| format!("cannot listen for signals: {e}"));
        (install(SignalKind::interrupt())?, install(SignalKind::terminate())?)
    };
    Ok(async move {
        #[cfg(unix)]
        tokio::select! {
            _ = interrupt.recv() => {},
            _ = terminate.recv() => {},
        }
        #[cfg(not(unix))]
        let _ = tokio::signal::ctrl_c().await;
        eprintln!("Stopping: finishing the requests in flight.");
    })
}

fn print_config(global: &Global) -> Result<(), Failure> {
    let engine = global.engine()?;
    let (engine_name, location) = match &engine {
        EngineChoice::Sqlite(path) => ("sqlite", path.display().to_string()),
        EngineChoice::Postgres(url) => ("postgres", config::redact_url(url)),
    };
    println!("engine       = {engine_name}");
    println!("database     = {location}");
    println!("data_dir     = {}", global.data_dir.display());
    println!("listen       = {}", std::env::var("SAMMEN_LISTEN").unwrap_or_else(|_| DEFAULT_LISTEN.into()));
    println!("clock        = {}", global.now.map(|t| format!("fixed at {t}")).unwrap_or_else(|| "system".into()));
    println!("log          = {}", std::env::var("SAMMEN_LOG").unwrap_or_else(|_| "info".into()));
    let mail = match global.mail {
        config::Mail::Outbox => format!("outbox ({})", global.data_dir.join("outbox").display()),
        config::Mail::Off => "off".into(),
    };
    println!("mail         = {mail}");
    Ok(())
}

async fn administer(global: &Global, app: &Sammen, command: Command) -> Result<(), Failure> {
    match command {
        Command::Migrate => {
            let v = app.store().schema_version().await.map_err(AppError::from)?;
            println!("The {} database is at schema version {v}.", app.store().engine());
        }
        Command::Demo => {
            demo::load(app.store().clone(), danish_day(app.now())).await?;
            println!("Loaded the demo data.");
            // Where `sammen serve` will listen, as `sammen config` shows it.
            print_demo_logins(&std::env::var("SAMMEN_LISTEN").unwrap_or_else(|_| DEFAULT_LISTEN.into()));
        }
        Command::Audit { command: AuditCommand::Verify } => match app.verify_audit().await? {
            Ok(n) => println!("The audit trail is intact: {n} entries."),
            Err(b) => return Err(Failure(format!("the audit trail is broken: {b}"))),
        },
        Command::RebuildProjections => {
            let total = app.store().count_patients().await.map_err(AppError::from)?;
            let bar = progress_bar(total, "Rebuilding");
            let (done, differed) = app.rebuild_projections(|n| bar.set_position(n)).await?;
            bar.finish_and_clear();
            println!(
                "Rebuilt the projections of {done} patients from their logs; {differed} differed from the stored ones."
            );
        }
        Command::Generate { patients, seed } => {
            let seeded = generate::seeded(app.store().clone(), seed);
            let bar = progress_bar(patients, "Generating");
            let started = std::time::Instant::now();
            let report = generate::generate(&seeded, patients, seed, |n| bar.set_position(n)).await?;
            bar.finish_and_clear();
            let secs = started.elapsed().as_secs_f64();
            println!(
                "Generated {} patients with {} events in {secs:.1} s ({:.0} patients/s) into the {} database.",
                report.patients,
                report.events,
                report.patients as f64 / secs.max(1e-9),
                app.store().engine()
            );
        }
        Command::User { command } => user(app, command).await?,
        Command::Org { command } => org(app, command).await?,
        Command::Token { command } => token(app, command).await?,
        Command::Serve { .. } | Command::Config | Command::Bench(_) => {
            unreachable!("handled before the store is opened")
        }
    }
    let _ = global;
    Ok(())
}

async fn user(app: &Sammen, command: UserCommand) -> Result<(), Failure> {
    match command {
        UserCommand::List => {
            for (u, org) in app.users().await? {
                let profession = match &u.kind {
                    UserKind::Professional { profession, .. } => profession.to_string(),
                    UserKind::Patient { .. } => "patient".into(),
                    UserKind::Proxy { .. } => "proxy".into(),
                    UserKind::Operator => "operator".into(),
                };
                let (org_name, sector) = match org {
                    Some(o) => (o.name, o.sector.to_string()),
                    None => ("-".into(), "-".into()),
                };
                let name = if u.disabled { format!("{} (disabled)", u.name) } else { u.name };
                println!("{}\t{name}\t{profession}\t{org_name}\t{sector}", u.login);
            }
        }
        UserCommand::Add { login, name, profession, org, operator, org_admin, email } => {
            let kind = if operator {
                UserKind::Operator
            } else {
                let profession: Profession = profession.unwrap_or_default().parse().map_err(AppError::from)?;
                let org = app.organisation_by_name_or_id(&org.unwrap_or_default()).await?;
                UserKind::Professional { profession, org: org.id }
            };
            let user = app.add_user(&login, &name, kind).await?;
            if org_admin {
                app.set_org_admin(&user.login, true).await?;
            }
            if email.is_some() {
                app.set_user_email(&user.login, email.as_deref()).await?;
            }
            println!("Added user {} ({}).", user.login, user.id);
        }
        UserCommand::SetPassword { login } => {
            let mut line = String::new();
            std::io::stdin().read_line(&mut line).map_err(|e| format!("cannot read the password: {e}"))?;
            app.set_password(&login, line.trim_end_matches(['\r', '\n'])).await?;
            println!("Set the password of {login}.");
        }
        UserCommand::SetEmail { login, email } => {
            app.set_user_email(&login, email.as_deref()).await?;
            match email {
                Some(_) => println!("Set the notification address of {login}."),
                None => println!("{login} gets no notification e-mails."),
            }
        }
        UserCommand::OrgAdmin { login, remove } => {
            app.set_org_admin(&login, !remove).await?;
            let what = if remove { "is no longer" } else { "is now" };
            println!("{login} {what} an admin of their organisation.");
        }
        UserCommand::Disable { login } => {
            app.set_user_disabled(&login, true).await?;
            println!("Disabled {login}.");
        }
        UserCommand::Enable { login } => {
            app.set_user_disabled(&login, false).await?;
            println!("Enabled {login}.");
        }
    }
    Ok(())
}

async fn org(app: &Sammen, command: OrgCommand) -> Result<(), Failure> {
    match command {
        OrgCommand::Add { name, sector, sor } => {
            let sector: Sector = sector.parse().map_err(AppError::from)?;
            let org = app.add_organisation(&name, sector, sor.as_deref()).await?;
            println!("Added organisation {} ({}).", org.name, org.id);
        }
        OrgCommand::List => {
            for o in app.store().organisations().await.map_err(AppError::from)? {
                let sor = o.sor.as_ref().map(|s| s.as_str().to_string()).unwrap_or_else(|| "-".into());
                println!("{}\t{}\t{}\t{}\t{sor}", o.id, o.name, o.sector, o.legal_domain());
            }
        }
    }
    Ok(())
}

async fn token(app: &Sammen, command: TokenCommand) -> Result<(), Failure> {
    match command {
        TokenCommand::Issue { user, ttl } => {
            let (_, secret) = app.issue_token(&user, ttl).await?;
            println!("{secret}");
        }
        TokenCommand::List => {
            let now = app.now();
            for (t, u) in app.tokens().await? {
                let login = u.map(|u| u.login).unwrap_or_else(|| "-".into());
                let expires = t.expires_at.map(|e| e.to_string()).unwrap_or_else(|| "never".into());
                let state = if t.revoked_at.is_some() {
                    "revoked"
                } else if t.is_valid_at(now) {
                    "active"
                } else {
                    "expired"
                };
                println!("{}\t{login}\t{}\t{expires}\t{state}", t.id, t.created_at);
            }
        }
        TokenCommand::Revoke { id } => {
            app.revoke_token(&id).await?;
            println!("Revoked token {id}.");
        }
    }
    Ok(())
}
