//! Insurance plans: `POST /ai/extract/insurance-plan-json` reads a plan document (base64 text)
//! into the SDK's `InsurancePlanBundleJsonProfile`; `POST /generate/bundle/InsurancePlan` turns
//! such a profile into a FHIR `InsurancePlan` bundle (NRCeS profile) with what was checked. The
//! document is read line by line:
//!
//! ```text
//! Plan name: Sandbox Health Secure
//! Plan type: Family Floater
//! Insurer: Sandbox General Insurance
//! Insurer id: IRDAI-123
//! Period: 2025-01-01 to 2025-12-31
//! Sum insured: 500000 INR
//! Coverage: Hospitalisation
//! - Room rent: 5000 INR per day
//! ```
//!
//! A deterministic stand-in for the real service's extraction: every value comes from the text.

use serde_json::{json, Value};
use uuid::Uuid;

use crate::body::{JsonBody, Obj};
use crate::error::{ApiError, ApiResult};

/// `Family Floater` → `family-floater`.
fn slug(s: &str) -> String {
    s.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect::<Vec<_>>()
        .join("-")
}

fn concept(display: &str) -> Value {
    json!({"codesType": {"code": slug(display), "display": display}, "text": display})
}

/// The first number of a text and the word after it (`5000 INR per day` → 5000, `INR`).
fn amount(text: &str) -> Option<(f64, String)> {
    let mut words = text.split_whitespace();
    let n = words.by_ref().find_map(|w| w.replace(',', "").parse::<f64>().ok())?;
    Some((n, words.next().unwrap_or("").to_string()))
}

/// The profile a plan document gives; 422 naming `base64Data` with what it lacks.
pub fn extract(text: &str) -> ApiResult<Value> {
    let field = |name: &str| {
        text.lines()
            .filter_map(|l| l.split_once(':'))
            .find(|(h, _)| h.trim().eq_ignore_ascii_case(name))
            .map(|(_, v)| v.trim().to_string())
            .filter(|v| !v.is_empty())
    };
    let (name, kind, insurer, insurer_id) =
        (field("Plan name"), field("Plan type"), field("Insurer"), field("Insurer id"));
    let period = field("Period").and_then(|p| {
        let (a, b) = p.split_once(" to ")?;
        let ok = |d: &str| {
            chrono::NaiveDate::parse_from_str(d.trim(), "%Y-%m-%d").ok().map(|_| d.trim().to_string())
        };
        Some((ok(a)?, ok(b)?))
    });
    let sum = field("Sum insured").and_then(|s| amount(&s));
    let mut coverage: Vec<Value> = Vec::new();
    for line in text.lines().map(str::trim) {
        if let Some((_, v)) = line.split_once(':').filter(|(h, _)| h.trim().eq_ignore_ascii_case("Coverage"))
        {
            coverage.push(json!({"type": concept(v.trim()), "benefit": []}));
        } else if let (Some(item), Some(c)) = (line.strip_prefix('-'), coverage.last_mut()) {
            let (benefit, limit) =
                item.split_once(':').map(|(b, l)| (b.trim(), l.trim())).unwrap_or((item.trim(), ""));
            let mut b = json!({"type": concept(benefit)});
            if let Some((value, unit)) = amount(limit) {
                b["limit"] = json!([{"value": value, "unit": unit, "text": limit}]);
            }
            if let Some(a) = c["benefit"].as_array_mut() {
                a.push(b);
            }
        }
    }
    let missing: Vec<&str> = [
        (name.is_none(), "a 'Plan name:' line"),
        (kind.is_none(), "a 'Plan type:' line"),
        (period.is_none(), "a 'Period: YYYY-MM-DD to YYYY-MM-DD' line"),
        (
            coverage.iter().all(|c| c["benefit"].as_array().is_none_or(Vec::is_empty)),
            "a 'Coverage:' line with '- benefit' lines",
        ),
    ]
    .into_iter()
    .filter_map(|(m, what)| m.then_some(what))
    .collect();
    if !missing.is_empty() {
        return Err(ApiError::rule(
            "base64Data",
            "insurance-plan",
            format!("the document needs {}", missing.join(", ")),
        ));
    }
    let (start, end) = period.unwrap_or_default();
    let kind = kind.unwrap_or_default();
    let org = insurer.as_ref().map(|n| {
        json!({"id": Uuid::new_v4().to_string(), "name": n, "identifier": insurer_id.clone().unwrap_or_else(|| slug(n)), "type": "Insurance Company"})
    });
    let mut plan = json!({"planType": concept(&kind)});
    if let Some((value, currency)) = sum {
        plan["generalCost"] = json!([{"value": value, "currency": if currency.is_empty() { "INR".to_string() } else { currency }}]);
    }
    Ok(json!({"id": Uuid::new_v4().to_string(), "insurancePlan": {"id": Uuid::new_v4().to_string(),
        "insurancePlanType": concept(&kind), "insurancePlanName": name, "planPeriod": {"start": start, "end": end},
        "insuranceOrganizationReference": org.as_ref().map(|o| format!("Organization/{}", o["id"].as_str().unwrap_or(""))),
        "coverage": coverage, "plans": [plan]}, "insuranceOrganization": org}))
}

/// `{codesType: {code, display}}` of a profile, as a FHIR CodeableConcept.
fn codeable(o: &Obj, key: &str) -> ApiResult<Value> {
    let c = o.obj(key)?.obj("codesType")?;
    Ok(json!({"coding": [{"code": c.str("code")?, "display": c.str("display")?}], "text": c.str("display")?}))
}

fn objects<'a>(o: &Obj<'a>, key: &str) -> ApiResult<Vec<Obj<'a>>> {
    let name = o.name(key);
    match o.raw(key) {
        Some(Value::Array(items)) if !items.is_empty() => items
            .iter()
            .enumerate()
            .map(|(i, v)| {
                v.as_object()
                    .map(|m| Obj::at(m, format!("{name}[{i}]")))
                    .ok_or_else(|| ApiError::bad(&name, "type", "objects only"))
            })
            .collect(),
        _ => Err(ApiError::bad(&name, "required", "a non-empty array")),
    }
}

/// A profile as a FHIR bundle: `{bundle, validation}`; 400 naming what is missing or malformed.
pub fn bundle(body: &JsonBody, now: &str) -> ApiResult<Value> {
    let id = body.str("id")?;
    let p = body.obj("insurancePlan")?;
    let plan_id = p.str("id")?;
    let period = p.obj("planPeriod")?;
    let (start, end) = (period.str("start")?, period.str("end")?);
    let mut issues = Vec::new();
    if end < start {
        issues.push(json!({"severity": "error", "path": "insurancePlan.planPeriod", "message": "end is before start"}));
    }
    let mut coverage = Vec::new();
    for c in objects(&p, "coverage")? {
        let mut benefits = Vec::new();
        for b in objects(&c, "benefit")? {
            let limits: Vec<Value> = match b.raw("limit") {
                Some(Value::Array(ls)) => ls.iter().map(|l| json!({"value": {"value": l["value"], "unit": l["unit"]}, "code": {"text": l["text"]}})).collect(),
                _ => {
                    issues.push(json!({"severity": "warning", "path": b.name("limit"), "message": "a benefit without a limit"}));
                    Vec::new()
                }
            };
            benefits.push(json!({"type": codeable(&b, "type")?, "limit": limits}));
        }
        coverage.push(json!({"type": codeable(&c, "type")?, "benefit": benefits}));
    }
    let mut plans = Vec::new();
    for pl in objects(&p, "plans")? {
        let costs: Vec<Value> = pl
            .raw("generalCost")
            .and_then(Value::as_array)
            .map(|cs| {
                cs.iter().map(|c| json!({"cost": {"value": c["value"], "currency": c["currency"]}})).collect()
            })
            .unwrap_or_default();
        plans.push(json!({"type": codeable(&pl, "planType")?, "generalCost": costs}));
    }
    let org = body
        .root()
        .opt_obj("insuranceOrganization")?
        .map(|o| -> ApiResult<Value> {
            Ok(json!({"resourceType": "Organization", "id": o.str("id")?, "name": o.str("name")?,
            "identifier": [{"system": "https://irdai.gov.in", "value": o.str("identifier")?}],
            "type": [{"text": o.opt_str("type")?.unwrap_or("Insurance Company")}]}))
        })
        .transpose()?;
    let plan = json!({"resourceType": "InsurancePlan", "id": plan_id,
        "meta": {"profile": ["https://nrces.in/ndhm/fhir/r4/StructureDefinition/InsurancePlan"]}, "status": "active",
        "type": [codeable(&p, "insurancePlanType")?], "name": p.str("insurancePlanName")?, "period": {"start": start, "end": end},
        "ownedBy": org.as_ref().map(|o| json!({"reference": format!("urn:uuid:{}", o["id"].as_str().unwrap_or(""))})),
        "coverage": coverage, "plan": plans});
    let mut entries = vec![json!({"fullUrl": format!("urn:uuid:{plan_id}"), "resource": plan})];
    entries.extend(
        org.map(
            |o| json!({"fullUrl": format!("urn:uuid:{}", o["id"].as_str().unwrap_or("")), "resource": o}),
        ),
    );
    let valid = !issues.iter().any(|i| i["severity"] == "error");
    Ok(
        json!({"bundle": {"resourceType": "Bundle", "id": id, "type": "collection", "timestamp": now, "entry": entries},
        "validation": {"valid": valid, "issues": issues, "profile": "https://nrces.in/ndhm/fhir/r4/StructureDefinition/InsurancePlan"}}),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plan_document_round_trips_into_a_bundle() {
        let text = "Plan name: Health Secure\nPlan type: Family Floater\nInsurer: Sandbox General\nPeriod: 2025-01-01 to 2025-12-31\nSum insured: 500000 INR\nCoverage: Hospitalisation\n- Room rent: 5000 INR per day\n";
        let profile = extract(text).unwrap();
        assert_eq!(profile["insurancePlan"]["insurancePlanName"], "Health Secure");
        assert_eq!(profile["insurancePlan"]["coverage"][0]["benefit"][0]["limit"][0]["value"], 5000.0);
        let out = bundle(&JsonBody(profile.as_object().cloned().unwrap()), "2025-01-01T00:00:00Z").unwrap();
        assert_eq!(out["bundle"]["entry"][0]["resource"]["resourceType"], "InsurancePlan");
        assert_eq!(out["validation"]["valid"], true);
        assert_eq!(extract("Plan name: x").unwrap_err().field.as_deref(), Some("base64Data"));
    }
}
