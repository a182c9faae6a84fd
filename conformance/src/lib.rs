//! # abdm-conformance: the documented ABDM test cases, run step by step
//!
//! Scenario files in `scenarios/` (one per official checklist) describe exchanges between the
//! client, the gateway, a HIP and a HIU, row by row of the checklist they come from. This crate loads
//! them ([`scenario`]), runs them against the embedded fake gateway, a running one or a real
//! sandbox ([`run`]), and reports pass/fail per step on the terminal, as JSON, JUnit XML or one
//! HTML page mirroring the checklist sheet ([`report`]).
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let scenarios = abdm_conformance::scenario::load_dir("scenarios".as_ref()).map_err(|e| format!("{e:?}"))?;
//! let sandbox = abdm_server::Sandbox::start(abdm_server::Config::default()).await?;
//! let target = abdm_conformance::embedded_target(&sandbox);
//! let report = abdm_conformance::run::run_against_gateway(&scenarios, &target).await?;
//! // Coloured on a terminal; plain in a pipe, a file or with NO_COLOR set.
//! abdm_conformance::report::write_terminal(&report, std::io::stdout(), true)?;
//! # Ok(()) }
//! ```
//!
//! A step that fails carries each failed expectation as a [`run::Failure`]: its kind (status,
//! equals, capture, inbound_missing, ...), what was expected, what arrived, and the scenario file
//! with the lines of the step and of the expectation. The JSON, JUnit and HTML reports carry
//! those fields; the terminal prints one `file:line: message` per failure.

#![warn(missing_docs)]

pub mod crypto;
pub mod report;
pub mod run;
pub mod scenario;

use serde_json::json;

/// The target for a sandbox started in this process: its URL, the first facility's gateway
/// credentials, the Carestack API key and its fixtures.
pub fn embedded_target(sandbox: &abdm_server::Sandbox) -> run::Target {
    sandbox_target(sandbox.url(), sandbox.fixtures(), "embedded sandbox")
}

/// The target for a sandbox reachable at `base` whose fixtures are `fixtures`: the first
/// facility's credentials (`clientId`, `clientSecret`, `hipId`), and those of the first facility
/// that is a HIU and not a HIP (`hiuClientId`, `hiuClientSecret`, `hiuId`).
pub fn sandbox_target(base: String, fixtures: &abdm_server::Fixtures, name: &str) -> run::Target {
    let facility = fixtures.facilities.first();
    let fixture = serde_json::to_value(fixtures).unwrap_or_default();
    let hiu = hiu_facility(&fixture);
    run::Target {
        name: format!("{name} at {base}"),
        values: json!({
            "clientId": facility.map(|f| f.client_id.clone()),
            "clientSecret": facility.map(|f| f.client_secret.clone()),
            "hipId": facility.map(|f| f.hip_id.clone()),
            "hiuClientId": hiu["clientId"],
            "hiuClientSecret": hiu["clientSecret"],
            "hiuId": hiu["hipId"],
            "apiKey": fixtures.carestack.api_keys.first(),
            "base": base,
        }),
        fixture,
        base,
        sandbox: true,
        mode: run::Mode::Gateway,
        hip_url: None,
        patience: 1.0,
    }
}

/// The first facility whose roles name HIU but not HIP (its HIU id is its `hipId`), as the
/// fixtures serialise it; null when there is none. A facility without `roles` is a HIP.
fn hiu_facility(fixture: &serde_json::Value) -> serde_json::Value {
    let facilities = fixture["facilities"].as_array().cloned().unwrap_or_default();
    let has = |f: &serde_json::Value, role: &str| {
        f["roles"].as_array().is_some_and(|roles| roles.iter().any(|r| r == role))
    };
    facilities.into_iter().find(|f| has(f, "HIU") && !has(f, "HIP")).unwrap_or_default()
}
