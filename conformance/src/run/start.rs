//! Starting a target that its own test harness drives (a HIU asked to request consent): at a
//! `start` step the runner runs the harness's command with `sh -c`, the sandbox's URLs, the
//! target's credentials and the step's values in its environment, and waits for it. Its traffic
//! is then found in the journal by the steps that follow.

use std::process::Stdio;

use serde_json::{json, Map, Value};

use super::exchange::{excerpt, template_failure, Exchange, Halt};
use super::failure::{Failure, FailureKind};
use super::{Harness, Mode, Target};
use crate::scenario::template::{render_str, text, Vars};
use crate::scenario::Step;

/// The environment the runner always gives: the sandbox's URLs, and the credentials and id of
/// the role under test (the HIU's in HIU mode), with its own URL.
fn base_env(target: &Target) -> Vec<(String, String)> {
    let v = &target.values;
    let value = |k: &str| v[k].as_str().unwrap_or_default().to_string();
    let mut env = vec![
        ("SANDBOX_URL".to_string(), target.base.clone()),
        ("GATEWAY_URL".to_string(), format!("{}/gateway", target.base)),
        ("HIECM_URL".to_string(), format!("{}/api/hiecm", target.base)),
    ];
    let own_url = target.hip_url.clone().unwrap_or_default();
    if target.mode == Mode::Hiu {
        env.push(("CLIENT_ID".into(), value("hiuClientId")));
        env.push(("CLIENT_SECRET".into(), value("hiuClientSecret")));
        env.push(("HIU_ID".into(), value("hiuId")));
        env.push(("HIU_URL".into(), own_url));
    } else {
        env.push(("CLIENT_ID".into(), value("clientId")));
        env.push(("CLIENT_SECRET".into(), value("clientSecret")));
        env.push(("HIP_ID".into(), value("hipId")));
        env.push(("HIP_URL".into(), own_url));
    }
    env
}

/// Runs the start command for `step` and returns it as the exchange: `expect` reads
/// `{exitCode, stdout, stderr}`; a command that cannot run, exits with a failure or runs over the
/// harness's timeout fails the step.
pub(crate) async fn exchange(
    harness: Option<&Harness>,
    target: &Target,
    step: &Step,
    vars: &Vars,
) -> Result<Exchange, Halt> {
    let Some(harness) = harness else {
        let why =
            "the target is started by its harness, and no start command was given (check --hiu-start CMD)";
        return Err(Failure::plain(FailureKind::Start, "start", why).into());
    };
    let mut added = Map::new();
    for (k, v) in step.start.iter().flat_map(|s| &s.env) {
        let value = render_str(v, vars).map_err(|e| template_failure(&format!("start.env.{k}"), e))?;
        added.insert(k.clone(), Value::String(text(&value)));
    }
    let shown_request = json!({"start": harness.command, "env": added});
    let mut cmd = tokio::process::Command::new("sh");
    cmd.arg("-c").arg(&harness.command).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    cmd.envs(base_env(target));
    cmd.envs(added.iter().map(|(k, v)| (k.clone(), text(v))));
    cmd.kill_on_drop(true);
    let halt = |message: String| Halt {
        failure: Box::new(Failure::plain(FailureKind::Start, "start", message)),
        shown_request: Some(Box::new(shown_request.clone())),
    };
    let child = cmd.spawn().map_err(|e| halt(format!("cannot run `{}`: {e}", harness.command)))?;
    let output = match tokio::time::timeout(harness.timeout, child.wait_with_output()).await {
        Ok(Ok(output)) => output,
        Ok(Err(e)) => return Err(halt(format!("waiting for `{}`: {e}", harness.command))),
        Err(_) => {
            let secs = harness.timeout.as_secs_f64();
            return Err(halt(format!("`{}` ran over {secs} s and was stopped", harness.command)));
        }
    };
    let (stdout, stderr) = (
        String::from_utf8_lossy(&output.stdout).to_string(),
        String::from_utf8_lossy(&output.stderr).to_string(),
    );
    let code = output.status.code();
    let body = json!({"exitCode": code, "stdout": stdout, "stderr": stderr});
    let mut failures = Vec::new();
    if !output.status.success() {
        let said = stderr.trim();
        let said = if said.is_empty() { String::new() } else { format!(": {}", excerpt(&json!(said))) };
        let message = format!("`{}` exited with {}{said}", harness.command, output.status);
        failures.push(
            Failure::plain(FailureKind::Start, "start", message)
                .values(Some("exit code 0".into()), Some(code.map_or("a signal".into(), |c| c.to_string()))),
        );
    }
    Ok(Exchange {
        shown_request,
        shown_response: excerpt(&body),
        sent: body.clone(),
        status: None,
        headers: None,
        body,
        failures,
    })
}
