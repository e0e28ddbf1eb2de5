//! Shared by the HTTP tests: a fresh database on either engine, a small world of
//! organisations and professionals, and calls through the router in-process.
#![allow(dead_code)]

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use axum::Router;
use http_body_util::BodyExt;
use serde_json::{json, Value};
use std::sync::Arc;
use time::macros::datetime;

use tower::ServiceExt;

use sammen_app::ids::RandomIds;
use sammen_app::Sammen;
use sammen_domain::clock::ManualClock;
use sammen_domain::directory::UserKind;
use sammen_domain::vocab::{Profession, Sector};
use sammen_store::Store;

/// A fresh store and what keeps it alive.
pub enum Db {
    Sqlite(std::path::PathBuf),
    Postgres(#[allow(dead_code)] Box<sammen_store_postgres::TestDatabase>),
}

impl Drop for Db {
    fn drop(&mut self) {
        if let Db::Sqlite(dir) = self {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

pub async fn sqlite() -> Option<(Arc<dyn Store>, Db)> {
    let dir = sammen_store_sqlite::test_dir();
    let store = sammen_store_sqlite::open(&dir.join("t.db")).await.unwrap();
    Some((Arc::new(store), Db::Sqlite(dir)))
}

pub async fn postgres() -> Option<(Arc<dyn Store>, Db)> {
    let db = sammen_store_postgres::TestDatabase::create().await?;
    Some((db.store.clone(), Db::Postgres(Box::new(db))))
}

#[macro_export]
macro_rules! on_both_engines {
    ($($name:ident),* $(,)?) => {
        mod sqlite_engine {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let Some((store, _db)) = super::common::sqlite().await else { return };
                    super::$name(super::common::World::new(store).await).await;
                }
            )*
        }
        mod postgres_engine {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let Some((store, _db)) = super::common::postgres().await else { return };
                    super::$name(super::common::World::new(store).await).await;
                }
            )*
        }
    };
}

/// Two organisations, a GP, a physiotherapist (not on the team), and tokens.
pub struct World {
    pub app: Sammen,
    pub router: Router,
    pub clock: Arc<ManualClock>,
    pub gp: String,
    pub physio: String,
    pub physio_org: String,
}

impl World {
    pub async fn new(store: Arc<dyn Store>) -> World {
        let clock = Arc::new(ManualClock::new(datetime!(2026-03-01 09:00 UTC)));
        let app = Sammen::new(store, clock.clone(), Arc::new(RandomIds));
        let gp_org = app
            .add_organisation("Lægerne i Kildegade", Sector::GeneralPractice, Some("425031000016001"))
            .await
            .unwrap();
        let physio_org = app.add_organisation("Fysioterapeuterne", Sector::PrivatePractice, None).await.unwrap();
        app.add_user(
            "gp",
            "Mette Holm",
            UserKind::Professional { profession: Profession::GeneralPractitioner, org: gp_org.id },
        )
        .await
        .unwrap();
        app.add_user(
            "physio",
            "Jonas Friis",
            UserKind::Professional { profession: Profession::Physiotherapist, org: physio_org.id },
        )
        .await
        .unwrap();
        let (_, gp) = app.issue_token("gp", None).await.unwrap();
        let (_, physio) = app.issue_token("physio", None).await.unwrap();
        let router = sammen_http::app(sammen_http::AppState::new(app.clone()));
        World { app, router, clock, gp, physio, physio_org: physio_org.id.to_string() }
    }

    pub async fn call(
        &self,
        method: Method,
        uri: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut req = Request::builder().method(method).uri(uri);
        if let Some(t) = token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        let body = match body {
            Some(v) => {
                req = req.header("content-type", "application/json");
                Body::from(v.to_string())
            }
            None => Body::empty(),
        };
        self.raw(req.body(body).unwrap()).await
    }

    pub async fn raw(&self, req: Request<Body>) -> (StatusCode, Value) {
        let (status, _, value) = self.raw_with_headers(req).await;
        (status, value)
    }

    /// The answer's status, headers and body (`Null` when empty).
    pub async fn raw_with_headers(&self, req: Request<Body>) -> (StatusCode, axum::http::HeaderMap, Value) {
        let res = self.router.clone().oneshot(req).await.unwrap();
        let status = res.status();
        assert_eq!(res.headers()["cache-control"], "no-store");
        assert!(res.headers().contains_key("x-request-id"));
        let (parts, body) = res.into_parts();
        let bytes = body.collect().await.unwrap().to_bytes();
        let value = if bytes.is_empty() { Value::Null } else { serde_json::from_slice(&bytes).unwrap() };
        (status, parts.headers, value)
    }

    pub async fn get(&self, uri: &str, token: &str) -> (StatusCode, Value) {
        self.call(Method::GET, uri, Some(token), None).await
    }

    pub async fn post(&self, uri: &str, token: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::POST, uri, Some(token), Some(body)).await
    }

    /// Registers Jens and opens his course as the GP; returns (patient, course) ids.
    pub async fn patient_with_course(&self) -> (String, String) {
        let (s, p) = self.post("/api/patients", &self.gp, json!({"cpr": "120479-1437", "name": "Jens Madsen"})).await;
        assert_eq!(s, StatusCode::CREATED, "{p}");
        let patient = p["id"].as_str().unwrap().to_string();
        let (s, c) = self
            .post(
                &format!("/api/patients/{patient}/courses"),
                &self.gp,
                json!({"title": "Lændesmerter", "reason": "Akutte lændesmerter", "started_on": "2026-02-20"}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{c}");
        (patient, c["id"].as_str().unwrap().to_string())
    }

    /// Adds a professional in a new organisation of `sector`; returns (token, org id).
    pub async fn professional(&self, login: &str, sector: Sector, profession: Profession) -> (String, String) {
        let org = self.app.add_organisation(&format!("Org {login}"), sector, None).await.unwrap();
        self.app.add_user(login, login, UserKind::Professional { profession, org: org.id }).await.unwrap();
        let (_, token) = self.app.issue_token(login, None).await.unwrap();
        (token, org.id.to_string())
    }

    pub async fn version_of_course(&self, patient: &str, course: &str, token: &str) -> u64 {
        self.get(&format!("/api/patients/{patient}/courses/{course}"), token).await.1["version"].as_u64().unwrap()
    }

    /// The GP puts an organisation on the course's care team.
    pub async fn join(&self, patient: &str, course: &str, org: &str) {
        let v = self.version_of_course(patient, course, &self.gp).await;
        let body = json!({"expected_version": v, "change": {"kind": "join_care_team",
            "member": {"type": "organisation", "org": org}, "role": "team"}});
        let (s, r) = self.post(&format!("/api/patients/{patient}/courses/{course}/events"), &self.gp, body).await;
        assert_eq!(s, StatusCode::CREATED, "{r}");
    }

    /// A change to who may see the patient's data, at the current version.
    pub async fn sharing(&self, token: &str, patient: &str, change: Value) -> (StatusCode, Value) {
        let (_, current) = self.get(&format!("/api/patients/{patient}/sharing"), &self.gp).await;
        let body = json!({"expected_version": current["version"], "change": change});
        self.post(&format!("/api/patients/{patient}/sharing"), token, body).await
    }

    pub async fn audit_count(&self) -> u64 {
        self.app.store().audit_head().await.unwrap().seq
    }
}

pub fn note(version: u64, title: &str) -> Value {
    json!({
        "expected_version": version,
        "change": {"kind": "record_entry", "entry_type": "assessment", "category": "clinical_findings",
                   "title": title, "text": "Ingen røde flag.", "occurred_on": "2026-03-01"}
    })
}

pub fn json_req(uri: &str, token: &str, body: &str) -> Request<Body> {
    Request::post(uri)
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()))
        .unwrap()
}
