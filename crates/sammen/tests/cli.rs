//! The `sammen` binary as an operator uses it, on SQLite and (when configured) on
//! PostgreSQL: the same commands, the same database as `serve`.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use sammen_store_postgres::TestDatabase;

const BIN: &str = env!("CARGO_BIN_EXE_sammen");

/// Runs `sammen` against a data directory and, optionally, a database URL.
fn sammen(dir: &Path, url: Option<&str>, args: &[&str]) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.args(args).env("SAMMEN_DATA_DIR", dir).env_remove("DATABASE_URL").env("SAMMEN_LOG", "warn");
    if let Some(url) = url {
        cmd.env("DATABASE_URL", url);
    }
    cmd.output().expect("run sammen")
}

fn sammen_with_stdin(dir: &Path, url: Option<&str>, args: &[&str], input: &str) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.args(args).env("SAMMEN_DATA_DIR", dir).env_remove("DATABASE_URL").env("SAMMEN_LOG", "warn");
    if let Some(url) = url {
        cmd.env("DATABASE_URL", url);
    }
    let mut child =
        cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("run sammen");
    child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    child.wait_with_output().unwrap()
}

fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).unwrap()
}

fn err(out: &Output) -> String {
    assert!(!out.status.success(), "expected failure: {}", String::from_utf8_lossy(&out.stdout));
    String::from_utf8(out.stderr.clone()).unwrap()
}

struct TempDir(PathBuf);
impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
fn temp() -> TempDir {
    TempDir(sammen_store_sqlite::test_dir())
}

/// The operator's tour, on whichever engine `url` selects.
fn operator_tour(dir: &Path, url: Option<&str>) {
    ok(&sammen(dir, url, &["migrate"]));
    let demo = ok(&sammen(dir, url, &["demo"]));
    assert!(demo.contains("jobcentre") && demo.contains("psychiatrist") && demo.contains("maria"));
    // Loading the demo twice is refused with a reason.
    assert!(err(&sammen(dir, url, &["demo"])).contains("already loaded"));

    let users = ok(&sammen(dir, url, &["user", "list"]));
    let gp: Vec<&str> = users.lines().find(|l| l.starts_with("gp\t")).unwrap().split('\t').collect();
    assert_eq!(gp, ["gp", "Mette Holm", "general_practitioner", "Lægerne i Kildegade", "general_practice"]);
    for line in users.lines() {
        assert_eq!(line.split('\t').count(), 5, "{line}");
    }
    // Every profession in the domain has a demo login, and both patients do.
    for profession in [
        "general_practitioner",
        "practice_nurse",
        "chiropractor",
        "physiotherapist",
        "psychologist",
        "hospital_doctor",
        "hospital_nurse",
        "psychiatrist",
        "psychiatric_nurse",
        "municipal_physiotherapist",
        "occupational_therapist",
        "municipal_psychologist",
        "jobcentre_social_worker",
        "social_psychiatry_worker",
    ] {
        assert!(users.contains(&format!("\t{profession}\t")), "{profession}");
    }
    assert!(users.contains("jens\tJens Madsen\tpatient"));

    let token = ok(&sammen(dir, url, &["token", "issue", "--user", "gp", "--ttl", "1h"]));
    assert_eq!(token.lines().count(), 1, "only the token");
    assert!(token.trim().starts_with("smn_") && token.trim().len() == 68);
    let listed = ok(&sammen(dir, url, &["token", "list"]));
    let id = listed.lines().next().unwrap().split('\t').next().unwrap().to_string();
    assert!(listed.contains("\tgp\t") && listed.contains("active"));
    assert!(!listed.contains(token.trim()), "the secret is never listed");
    ok(&sammen(dir, url, &["token", "revoke", &id]));
    assert!(ok(&sammen(dir, url, &["token", "list"])).contains("revoked"));
    assert!(err(&sammen(dir, url, &["token", "issue", "--user", "nobody"])).contains("does not exist"));

    ok(&sammen(
        dir,
        url,
        &["org", "add", "--name", "Ny Praksis", "--sector", "general_practice", "--sor", "123456789012"],
    ));
    ok(&sammen(
        dir,
        url,
        &[
            "user",
            "add",
            "--login",
            "ny.gp",
            "--name",
            "Ny Læge",
            "--profession",
            "general_practitioner",
            "--org",
            "Ny Praksis",
        ],
    ));
    assert!(err(&sammen(dir, url, &["user", "add", "--login", "ny.gp", "--name", "Igen", "--operator"]))
        .contains("already"));
    assert!(err(&sammen(dir, url, &["org", "add", "--name", "X", "--sector", "hospitl"])).contains("general_practice"));
    assert!(users.contains("lise\tLise Sørensen\tproxy"), "Maria's mother is her proxy");
    let short = sammen_with_stdin(dir, url, &["user", "set-password", "ny.gp"], "kort\n");
    assert!(err(&short).contains("at least 10 characters"));
    let set = sammen_with_stdin(dir, url, &["user", "set-password", "ny.gp"], "en-lang-adgangskode\n");
    assert!(ok(&set).contains("Set the password"));
    assert!(!ok(&set).contains("en-lang-adgangskode"));
    ok(&sammen(dir, url, &["user", "org-admin", "ny.gp"]));
    ok(&sammen(dir, url, &["user", "disable", "ny.gp"]));
    assert!(ok(&sammen(dir, url, &["user", "list"])).contains("Ny Læge (disabled)"));

    let verified = ok(&sammen(dir, url, &["audit", "verify"]));
    assert!(verified.starts_with("The audit trail is intact"), "{verified}");
    let rebuilt = ok(&sammen(dir, url, &["rebuild-projections"]));
    assert!(rebuilt.contains("of 2 patients") && rebuilt.contains("0 differed"), "{rebuilt}");
}

#[test]
fn operator_tour_on_sqlite() {
    let dir = temp();
    operator_tour(&dir.0, None);
    // No CPR number of the demo patients in anything the commands print.
    let all = ok(&sammen(&dir.0, None, &["user", "list"])) + &ok(&sammen(&dir.0, None, &["config"]));
    assert!(!all.contains("1204791437") && !all.contains("120479"));
}

#[test]
fn operator_tour_on_postgres() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let Some(db) = rt.block_on(TestDatabase::create()) else {
        return;
    };
    let dir = temp();
    operator_tour(&dir.0, Some(&db.url()));
    assert!(!dir.0.join("sammen.db").exists(), "PostgreSQL was used, not SQLite");
    rt.block_on(async {
        db.store.backend().raw_execute("UPDATE audit.audit_log SET outcome = 'denied' WHERE seq = 7").await.unwrap();
    });
    let message = err(&sammen(&dir.0, Some(&db.url()), &["audit", "verify"]));
    assert!(message.contains("audit entry 7"), "{message}");
    drop(rt);
}

#[test]
fn audit_verify_names_the_first_altered_or_removed_entry() {
    let dir = temp();
    ok(&sammen(&dir.0, None, &["demo"]));
    let db = dir.0.join("sammen.db");
    let rt = tokio::runtime::Runtime::new().unwrap();
    let tamper = |sql: &str| {
        rt.block_on(async { sammen_store_sqlite::open(&db).await.unwrap().backend().raw_execute(sql).await.unwrap() })
    };

    tamper("UPDATE audit.audit_log SET actor = 'user/someone-else' WHERE seq = 12");
    let message = err(&sammen(&dir.0, None, &["audit", "verify"]));
    assert!(message.contains("audit entry 12") && message.contains("altered"), "{message}");
    tamper("DELETE FROM audit.audit_log WHERE seq = 5");
    let message = err(&sammen(&dir.0, None, &["audit", "verify"]));
    assert!(message.contains("audit entry 5 is missing"), "{message}");

    let dir = temp();
    ok(&sammen(&dir.0, None, &["demo"]));
    let db = dir.0.join("sammen.db");
    let last = rt.block_on(async {
        sammen_store_sqlite::open(&db)
            .await
            .unwrap()
            .backend()
            .raw_execute("DELETE FROM audit.audit_log WHERE seq = (SELECT MAX(seq) FROM audit.audit_log)")
            .await
            .unwrap()
    });
    assert_eq!(last, 1);
    let message = err(&sammen(&dir.0, None, &["audit", "verify"]));
    assert!(message.contains("removed from the end"), "{message}");
}

#[test]
fn rebuild_repairs_a_damaged_projection() {
    let dir = temp();
    ok(&sammen(&dir.0, None, &["demo"]));
    let db = dir.0.join("sammen.db");
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let store = sammen_store_sqlite::open(&db).await.unwrap();
        let n = store
            .backend()
            .raw_execute(
                "UPDATE course_states SET state = json_set(state, '$.title', 'Forkert') \
                 WHERE course_id = (SELECT course_id FROM courses WHERE title = 'Psykose')",
            )
            .await
            .unwrap();
        assert_eq!(n, 1);
    });
    let out = ok(&sammen(&dir.0, None, &["rebuild-projections"]));
    assert!(out.contains("1 differed"), "{out}");
    let out = ok(&sammen(&dir.0, None, &["rebuild-projections"]));
    assert!(out.contains("0 differed"), "{out}");
}

#[test]
fn generate_is_deterministic() {
    let (a, b) = (temp(), temp());
    let out = ok(&sammen(&a.0, None, &["generate", "--patients", "60", "--seed", "7"]));
    assert!(out.contains("Generated 60 patients"), "{out}");
    ok(&sammen(&b.0, None, &["generate", "--patients", "60", "--seed", "7"]));
    let rt = tokio::runtime::Runtime::new().unwrap();
    let fingerprint = |dir: &Path| {
        rt.block_on(async {
            use sammen_store::{EventFilter, Store};
            let store = sammen_store_sqlite::open(&dir.join("sammen.db")).await.unwrap();
            let ids = store.patient_ids(None, 1000).await.unwrap();
            let mut events = Vec::new();
            for id in &ids {
                for e in store.events(*id, EventFilter::default()).await.unwrap() {
                    events.push((e.id, e.body.kind(), e.recorded_at));
                }
            }
            (ids, events)
        })
    };
    let (ids_a, events_a) = fingerprint(&a.0);
    let (ids_b, events_b) = fingerprint(&b.0);
    assert_eq!(ids_a.len(), 60);
    assert_eq!(ids_a, ids_b);
    assert_eq!(events_a, events_b);
    assert!(events_a.len() > 60 * 8, "realistic courses, not stubs: {} events", events_a.len());
    // Another seed, another population.
    let c = temp();
    ok(&sammen(&c.0, None, &["generate", "--patients", "60", "--seed", "8"]));
    assert_ne!(fingerprint(&c.0).0, ids_a);
    // The same seed twice into one database is refused whole, with a reason.
    assert!(err(&sammen(&a.0, None, &["generate", "--patients", "60", "--seed", "7"])).contains("another --seed"));
    assert!(ok(&sammen(&a.0, None, &["audit", "verify"])).contains("intact"));
}

#[test]
fn configuration_is_shown_with_secrets_redacted() {
    let dir = temp();
    let out = ok(&sammen(&dir.0, Some("postgres://sammen:hemmeligt@db.example:5432/sammen"), &["config"]));
    assert!(out.contains("engine       = postgres"), "{out}");
    assert!(out.contains("postgres://sammen:****@db.example:5432/sammen"), "{out}");
    assert!(!out.contains("hemmeligt"));
    let out = ok(&sammen(&dir.0, None, &["config"]));
    assert!(out.contains("engine       = sqlite") && out.contains("sammen.db"), "{out}");
    let message = err(&sammen(&dir.0, Some("mysql://root:hemmeligt@h/db"), &["user", "list"]));
    assert!(message.contains("postgres://") && !message.contains("hemmeligt"), "{message}");
    // --database-url on the command line wins over the environment.
    let out = ok(&Command::new(BIN)
        .args(["--database-url", "postgres://a@b/c", "config"])
        .env("DATABASE_URL", "postgres://x@y/z")
        .output()
        .unwrap());
    assert!(out.contains("postgres://a@b/c"), "{out}");
}

#[test]
fn serve_demo_answers_on_a_real_port_and_stops_gracefully() {
    let dir = temp();
    let mut child = Command::new(BIN)
        .args(["serve", "--demo", "--listen", "127.0.0.1:0"])
        .env("SAMMEN_DATA_DIR", &dir.0)
        .env_remove("DATABASE_URL")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut addr = String::new();
    let mut line = String::new();
    while stderr.read_line(&mut line).unwrap() > 0 {
        if let Some(rest) = line.split("listening on http://").nth(1) {
            addr = rest.split_whitespace().next().unwrap().to_string();
            break;
        }
        line.clear();
    }
    assert!(!addr.is_empty(), "the server printed its address");
    let mut stream = std::net::TcpStream::connect(&addr).unwrap();
    stream.write_all(b"GET /healthz HTTP/1.1\r\nHost: sammen\r\nConnection: close\r\n\r\n").unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.contains("\"engine\":\"sqlite\"") && response.contains("\"schema_version\":8"), "{response}");

    Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    let status = child.wait().unwrap();
    assert!(status.success(), "stopped cleanly on SIGTERM: {status:?}");
    let mut stdout = String::new();
    child.stdout.take().unwrap().read_to_string(&mut stdout).unwrap();
    assert!(stdout.contains("Demo logins") && stdout.contains("spine.doctor"), "{stdout}");
}

#[test]
fn a_crash_mid_write_leaves_log_projections_and_audit_consistent() {
    let dir = temp();
    ok(&sammen(&dir.0, None, &["demo"]));
    let mut child = Command::new(BIN)
        .args(["generate", "--patients", "20000", "--seed", "11"])
        .env("SAMMEN_DATA_DIR", &dir.0)
        .env_remove("DATABASE_URL")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Let it write some batches, then pull the plug (SIGKILL: no clean shutdown).
    let db = dir.0.join("sammen.db");
    let rt = tokio::runtime::Runtime::new().unwrap();
    let patients = || {
        rt.block_on(async {
            use sammen_store::Store;
            sammen_store_sqlite::open(&db).await.unwrap().count_patients().await.unwrap()
        })
    };
    let started = std::time::Instant::now();
    while patients() < 500 && started.elapsed().as_secs() < 60 {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let written = patients();
    assert!((500..20_002).contains(&written), "{written}");
    let out = ok(&sammen(&dir.0, None, &["rebuild-projections"]));
    assert!(out.contains(" 0 differed"), "{out}");
    let out = ok(&sammen(&dir.0, None, &["audit", "verify"]));
    assert!(out.contains("intact"), "{out}");
}
