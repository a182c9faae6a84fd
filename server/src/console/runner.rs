//! The console's runner panel. The conformance runner (`abdm-conformance`) depends on this crate,
//! so the server cannot call it; the binary that has both (`abdm-sandbox serve`) hands the server
//! a [`ScenarioRunner`] through [`crate::Config::runner`]. A run goes against a fresh embedded
//! sandbox of the runner's own, as `abdm-sandbox check` does, so it leaves the state a person is
//! looking at untouched. Without a runner the panel says how to run the checks by hand.

use std::sync::{Arc, Mutex};

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use serde::Serialize;
use serde_json::{json, Value};

use crate::body::JsonBody;
use crate::error::{ApiError, ApiResult};

/// A scenario the runner can run, as the panel lists it.
#[derive(Debug, Clone, Serialize)]
pub struct ScenarioInfo {
    /// Its id (`abdm-sandbox check --scenario ID`).
    pub id: String,
    /// The checklist's name.
    pub title: String,
    /// Its tags.
    pub tags: Vec<String>,
    /// How many steps it has.
    pub steps: usize,
}

/// What a run gave.
#[derive(Debug, Clone, Serialize)]
pub struct RunOutcome {
    /// Every mandatory step passed.
    pub passed: bool,
    /// One line: scenarios and steps passed, failed, skipped, manual.
    pub summary: String,
    /// The HTML report (`abdm-sandbox check --html`).
    #[serde(skip)]
    pub html: String,
}

/// Runs conformance scenarios for the console. Given by the binary through
/// [`crate::Config::runner`].
pub trait ScenarioRunner: Send + Sync + std::fmt::Debug {
    /// The scenarios there are, or why they cannot be read.
    fn scenarios(&self) -> Result<Vec<ScenarioInfo>, String>;
    /// Runs these scenarios (by id) against a sandbox of its own, blocking until they are done.
    fn run(&self, ids: &[String]) -> Result<RunOutcome, String>;
}

/// The last run and the one under way.
#[derive(Default)]
struct Progress {
    running: Option<Vec<String>>,
    last: Option<Finished>,
}

/// A finished run.
struct Finished {
    scenarios: Vec<String>,
    outcome: Result<RunOutcome, String>,
    finished_at: String,
}

/// The runner and its runs, one at a time.
pub struct Runs {
    runner: Option<Arc<dyn ScenarioRunner>>,
    progress: Arc<Mutex<Progress>>,
}

impl Runs {
    /// Runs through `runner`, or none.
    pub fn new(runner: Option<Arc<dyn ScenarioRunner>>) -> Self {
        Runs { runner, progress: Arc::default() }
    }
}

/// What to do without a runner.
const BY_HAND: &str = "abdm-sandbox check --html report.html";

/// `GET /_sandbox/ui/runner`: `{available, scenarios, running, last}`.
pub async fn state(runs: web::Data<Runs>) -> HttpResponse {
    let (running, last) = {
        let p = runs.progress.lock().unwrap_or_else(|e| e.into_inner());
        let last = p.last.as_ref().map(|f| match &f.outcome {
            Ok(o) => json!({"scenarios": f.scenarios, "finishedAt": f.finished_at, "passed": o.passed,
                "summary": o.summary, "report": "/_sandbox/ui/runner/report"}),
            Err(e) => json!({"scenarios": f.scenarios, "finishedAt": f.finished_at, "error": e}),
        });
        (p.running.clone(), last)
    };
    let Some(runner) = runs.runner.clone() else {
        return HttpResponse::Ok()
            .json(json!({"available": false, "byHand": BY_HAND, "running": null, "last": last}));
    };
    let listed = web::block(move || runner.scenarios()).await;
    let (scenarios, error) = match listed {
        Ok(Ok(s)) => (json!(s), Value::Null),
        Ok(Err(e)) => (json!([]), json!(e)),
        Err(e) => (json!([]), json!(e.to_string())),
    };
    HttpResponse::Ok().json(json!({"available": true, "scenarios": scenarios, "error": error,
        "running": running, "last": last, "byHand": BY_HAND}))
}

/// `POST /_sandbox/ui/runner/run {"scenarios": [id]}` → 202, the run going on in the background.
pub async fn run(runs: web::Data<Runs>, body: JsonBody) -> ApiResult<HttpResponse> {
    let runner = runs.runner.clone().ok_or_else(|| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "no-runner",
            format!("scenarios: this server has no runner; run `{BY_HAND}`"),
        )
        .field("scenarios")
    })?;
    let ids: Vec<String> = body.root().strings("scenarios")?.into_iter().map(str::to_string).collect();
    if ids.is_empty() {
        return Err(ApiError::bad("scenarios", "required", "name at least one scenario"));
    }
    {
        let mut p = runs.progress.lock().unwrap_or_else(|e| e.into_inner());
        if p.running.is_some() {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "run-under-way",
                "scenarios: a run is under way",
            )
            .field("scenarios"));
        }
        p.running = Some(ids.clone());
    }
    let progress = runs.progress.clone();
    let started = ids.clone();
    // Its own thread: the runner blocks, and starts a sandbox and a runtime of its own.
    std::thread::spawn(move || {
        let outcome = runner.run(&ids);
        let mut p = progress.lock().unwrap_or_else(|e| e.into_inner());
        p.running = None;
        p.last = Some(Finished {
            scenarios: ids,
            outcome,
            finished_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        });
    });
    Ok(HttpResponse::Accepted().json(json!({"running": started})))
}

/// `GET /_sandbox/ui/runner/report`: the last run's HTML report.
pub async fn report(runs: web::Data<Runs>) -> ApiResult<HttpResponse> {
    let p = runs.progress.lock().unwrap_or_else(|e| e.into_inner());
    match p.last.as_ref().map(|f| &f.outcome) {
        Some(Ok(o)) => Ok(HttpResponse::Ok().content_type("text/html; charset=utf-8").body(o.html.clone())),
        _ => Err(ApiError::new(StatusCode::NOT_FOUND, "no-report", "report: no run has finished yet")
            .field("report")),
    }
}
