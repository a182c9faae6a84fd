//! The organization look-ups: Health Facility Registry master data and the LGD directory, both
//! shipped as data (`fixtures/carestack/masters.json`, `fixtures/carestack/lgd.json`) and
//! compiled in. Registering a facility resolves its fields against the same tables, so what the
//! look-ups list is exactly what registration accepts.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use actix_web::{web, HttpResponse, Scope};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::common::{not_found, param, Query};
use crate::body::JsonBody;
use crate::error::{ApiError, ApiResult};

/// A code and its display value.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Coded {
    /// The code.
    pub code: String,
    /// What it stands for.
    pub value: String,
}

/// A facility type, with the ownerships and systems of medicine it exists for.
#[derive(Debug, Clone, Deserialize)]
struct FacilityType {
    code: String,
    value: String,
    ownership: Vec<String>,
    systems: Vec<String>,
}

/// `fixtures/carestack/masters.json`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Masters {
    master_types: Vec<serde_json::Value>,
    master_data: BTreeMap<String, Vec<Coded>>,
    owner_subtypes: BTreeMap<String, Vec<Coded>>,
    facility_types: Vec<FacilityType>,
    facility_subtypes: BTreeMap<String, Vec<Coded>>,
    specialities: BTreeMap<String, Vec<Coded>>,
}

/// A sub-district of the LGD directory.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SubDistrict {
    /// LGD code.
    pub code: String,
    /// Name.
    pub name: String,
}

/// A district of the LGD directory.
#[derive(Debug, Clone, Deserialize)]
pub struct District {
    /// LGD code.
    pub code: String,
    /// Name.
    pub name: String,
    lat: f64,
    lng: f64,
    subdistricts: Vec<SubDistrict>,
}

/// A state or union territory of the LGD directory.
#[derive(Debug, Clone, Deserialize)]
pub struct State {
    /// LGD code.
    pub code: String,
    /// Name.
    pub name: String,
    districts: Vec<District>,
}

#[derive(Debug, Deserialize)]
struct Lgd {
    states: Vec<State>,
}

static MASTERS: LazyLock<Masters> = LazyLock::new(|| {
    serde_json::from_str(include_str!("../../../fixtures/carestack/masters.json"))
        .expect("fixtures/carestack/masters.json is valid")
});
static LGD: LazyLock<Lgd> = LazyLock::new(|| {
    serde_json::from_str(include_str!("../../../fixtures/carestack/lgd.json"))
        .expect("fixtures/carestack/lgd.json is valid")
});

/// The look-up routes.
pub fn routes(scope: Scope) -> Scope {
    scope
        .route("/master-types", web::get().to(master_types))
        .route("/master-data/{type}", web::get().to(master_data))
        .route("/lgd-states", web::get().to(lgd_states))
        .route("/lgd-subdistricts", web::get().to(lgd_subdistricts))
        .route("/latlongs", web::get().to(latlongs))
        .route("/facility-type", web::post().to(facility_types))
        .route("/owner-subtype", web::post().to(owner_subtypes))
        .route("/specialities", web::post().to(specialities))
        .route("/facility-subtypes", web::post().to(facility_subtypes))
}

/// The entry of `list` whose code or value is `given` (ignoring case), or 400 naming `field` with
/// the codes there are.
pub fn resolve<'a>(field: &str, given: &str, list: &'a [Coded]) -> ApiResult<&'a Coded> {
    list.iter()
        .find(|c| c.code.eq_ignore_ascii_case(given) || c.value.eq_ignore_ascii_case(given))
        .ok_or_else(|| {
            let codes: Vec<String> = list.iter().map(|c| format!("{} ({})", c.code, c.value)).collect();
            ApiError::bad(field, "master-data", format!("{given:?} is not one of {}", codes.join(", ")))
        })
}

/// The values of a master type (`OWNERSHIP`, `MEDICINE_SYSTEM`, ...).
pub fn data(kind: &str) -> &'static [Coded] {
    MASTERS.master_data.get(kind).map(Vec::as_slice).unwrap_or_default()
}

/// The owner sub-types of an ownership code.
pub fn owner_subtypes_of(ownership: &str) -> &'static [Coded] {
    MASTERS.owner_subtypes.get(ownership).map(Vec::as_slice).unwrap_or_default()
}

/// The facility types that exist for an ownership and, when given, a system of medicine.
pub fn facility_types_for(ownership: &str, system: Option<&str>) -> Vec<Coded> {
    MASTERS
        .facility_types
        .iter()
        .filter(|t| {
            t.ownership.iter().any(|o| o == ownership)
                && system.is_none_or(|s| t.systems.iter().any(|x| x == s))
        })
        .map(|t| Coded { code: t.code.clone(), value: t.value.clone() })
        .collect()
}

/// The sub-types of a facility type.
pub fn facility_subtypes_of(facility_type: &str) -> &'static [Coded] {
    MASTERS.facility_subtypes.get(facility_type).map(Vec::as_slice).unwrap_or_default()
}

/// The specialities of a system of medicine.
pub fn specialities_of(system: &str) -> &'static [Coded] {
    MASTERS.specialities.get(system).map(Vec::as_slice).unwrap_or_default()
}

/// A state by LGD code or name.
pub fn state(field: &str, given: &str) -> ApiResult<&'static State> {
    LGD.states.iter().find(|s| s.code == given || s.name.eq_ignore_ascii_case(given)).ok_or_else(|| {
        ApiError::bad(
            field,
            "lgd-state",
            format!("{given:?} is not an LGD state code or name (GET /lgd-states)"),
        )
    })
}

/// A district of a state by LGD code or name.
pub fn district<'a>(field: &str, state: &'a State, given: &str) -> ApiResult<&'a District> {
    state.districts.iter().find(|d| d.code == given || d.name.eq_ignore_ascii_case(given)).ok_or_else(|| {
        ApiError::bad(
            field,
            "lgd-district",
            format!("{given:?} is not a district of {} (GET /lgd-states)", state.name),
        )
    })
}

/// A sub-district of a district by LGD code or name.
pub fn subdistrict<'a>(field: &str, district: &'a District, given: &str) -> ApiResult<&'a SubDistrict> {
    district.subdistricts.iter().find(|s| s.code == given || s.name.eq_ignore_ascii_case(given)).ok_or_else(
        || {
            let why = format!(
                "{given:?} is not a sub-district of {} (GET /lgd-subdistricts?districtCode={})",
                district.name, district.code
            );
            ApiError::bad(field, "lgd-subdistrict", why)
        },
    )
}

/// `GET /master-types` → `{masterTypes: [{type, desc}]}`.
async fn master_types() -> HttpResponse {
    HttpResponse::Ok().json(json!({"masterTypes": MASTERS.master_types}))
}

/// `GET /master-data/{type}` → `{type, data: [{code, value}]}`; 404 for a type not listed.
async fn master_data(path: web::Path<String>) -> ApiResult<HttpResponse> {
    let kind = path.into_inner();
    let data: Vec<Coded> = if kind == "FACILITY_TYPE" {
        MASTERS
            .facility_types
            .iter()
            .map(|t| Coded { code: t.code.clone(), value: t.value.clone() })
            .collect()
    } else {
        MASTERS.master_data.get(&kind).cloned().ok_or_else(|| {
            not_found("type", "master-type", format!("{kind:?} is not a master type (GET /master-types)"))
        })?
    };
    Ok(HttpResponse::Ok().json(json!({"type": kind, "data": data})))
}

/// `GET /lgd-states` → `[{code, name, districts: [{code, name}]}]`.
async fn lgd_states() -> HttpResponse {
    let states: Vec<serde_json::Value> = LGD
        .states
        .iter()
        .map(|s| {
            let districts: Vec<_> =
                s.districts.iter().map(|d| json!({"code": d.code, "name": d.name})).collect();
            json!({"code": s.code, "name": s.name, "districts": districts})
        })
        .collect();
    HttpResponse::Ok().json(states)
}

/// `GET /lgd-subdistricts?districtCode=` → `[{code, name}]`.
async fn lgd_subdistricts(q: Query) -> ApiResult<HttpResponse> {
    let code = param(&q, "districtCode")
        .ok_or_else(|| ApiError::bad("districtCode", "required", "query parameter is required"))?;
    let district = LGD
        .states
        .iter()
        .flat_map(|s| &s.districts)
        .find(|d| d.code == code)
        .ok_or_else(|| not_found("districtCode", "lgd-district", format!("no LGD district {code}")))?;
    Ok(HttpResponse::Ok().json(&district.subdistricts))
}

/// `GET /latlongs?address=` → `{lat, lng}` of the district (else the state) the address names.
async fn latlongs(q: Query) -> ApiResult<HttpResponse> {
    let address = param(&q, "address")
        .ok_or_else(|| ApiError::bad("address", "required", "query parameter is required"))?;
    let text = address.to_lowercase();
    let names = |name: &str| text.contains(&name.to_lowercase());
    let districts = LGD.states.iter().flat_map(|s| &s.districts);
    let hit = districts
        .filter(|d| names(&d.name))
        .max_by_key(|d| d.name.len())
        .or_else(|| LGD.states.iter().filter(|s| names(&s.name)).find_map(|s| s.districts.first()));
    let d = hit.ok_or_else(|| {
        not_found(
            "address",
            "location",
            format!("{address:?} names no district or state of the LGD directory"),
        )
    })?;
    Ok(HttpResponse::Ok().json(json!({"lat": d.lat, "lng": d.lng})))
}

/// `POST /facility-type {ownershipCode, systemOfMedicineCode?}` → the facility types for them.
async fn facility_types(body: JsonBody) -> ApiResult<HttpResponse> {
    let ownership = resolve("ownershipCode", body.str("ownershipCode")?, data("OWNERSHIP"))?;
    let system = body
        .opt_str("systemOfMedicineCode")?
        .map(|s| resolve("systemOfMedicineCode", s, data("MEDICINE_SYSTEM")))
        .transpose()?;
    let list = facility_types_for(&ownership.code, system.map(|s| s.code.as_str()));
    Ok(HttpResponse::Ok().json(json!({"type": "facilityType", "data": list})))
}

/// `POST /owner-subtype {ownershipCode, ownerSubtypeCode?}` → its owner sub-types (or the one).
async fn owner_subtypes(body: JsonBody) -> ApiResult<HttpResponse> {
    let ownership = resolve("ownershipCode", body.str("ownershipCode")?, data("OWNERSHIP"))?;
    let all = owner_subtypes_of(&ownership.code);
    let list: Vec<&Coded> = match body.opt_str("ownerSubtypeCode")? {
        Some(s) => vec![resolve("ownerSubtypeCode", s, all)?],
        None => all.iter().collect(),
    };
    Ok(HttpResponse::Ok().json(json!({"type": "ownerSubtype", "data": list})))
}

/// `POST /specialities {systemOfMedicineCode}` → its specialities.
async fn specialities(body: JsonBody) -> ApiResult<HttpResponse> {
    let system = resolve("systemOfMedicineCode", body.str("systemOfMedicineCode")?, data("MEDICINE_SYSTEM"))?;
    Ok(HttpResponse::Ok().json(json!({"type": "specialities", "data": specialities_of(&system.code)})))
}

/// `POST /facility-subtypes {facilityTypeCode}` → its sub-types.
async fn facility_subtypes(body: JsonBody) -> ApiResult<HttpResponse> {
    let all: Vec<Coded> = MASTERS
        .facility_types
        .iter()
        .map(|t| Coded { code: t.code.clone(), value: t.value.clone() })
        .collect();
    let kind = resolve("facilityTypeCode", body.str("facilityTypeCode")?, &all)?;
    Ok(HttpResponse::Ok().json(json!({"type": "facilitySubType", "data": facility_subtypes_of(&kind.code)})))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_tables_load_and_resolve() {
        assert_eq!(LGD.states.len(), 36);
        let up = state("s", "9").unwrap();
        assert_eq!(district("d", up, "Lucknow").unwrap().code, "162");
        assert_eq!(resolve("o", "private", data("OWNERSHIP")).unwrap().code, "P");
        assert!(!facility_types_for("P", Some("M")).is_empty());
        for t in &MASTERS.facility_types {
            assert!(!facility_subtypes_of(&t.code).is_empty(), "{} has sub-types", t.code);
        }
    }
}
