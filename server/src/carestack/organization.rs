//! `Organization`: facility registration as the Health Facility Registry takes it. Every coded
//! field resolves against the master data and the LGD directory ([`super::masters`]), by code or
//! by value: ownership and its sub-type, the facility type for that ownership and system of
//! medicine and its sub-type, each speciality of its system, the status and service type; the
//! state, district and sub-district. A registered facility gets an HFR-style id, `IN` followed by
//! its state's LGD code and eight digits, and can then link documents as a HIP.
//!
//! `register-facility` and `update-facility` answer `{"response": "<message>"}`: the SDK reads
//! that key and fails on anything else.

use actix_web::{web, HttpResponse, Scope};
use serde_json::{json, Value};
use uuid::Uuid;

use super::common::{self, not_found, param, Query, PAGE_SIZE};
use super::masters::{self, resolve};
use super::CarestackState;
use crate::body::{JsonBody, Obj};
use crate::clock::iso;
use crate::error::{ApiError, ApiResult};
use crate::shared::Shared;

/// The Organization routes.
pub fn routes(scope: Scope) -> Scope {
    scope
        .route("/register-facility", web::post().to(register))
        .route("/facilities/", web::get().to(list))
        .route("/facilities", web::get().to(list))
        .route("/facilities/{idType}/{term}", web::get().to(by_id))
        .route("/update-facility", web::put().to(update))
        .route("/facility/{id}", web::delete().to(delete))
        .route("/search-facility", web::post().to(search))
}

/// A string of `min..=max` characters.
fn length(o: &Obj, key: &str, min: usize, max: usize) -> ApiResult<String> {
    let v = o.str(key)?;
    let n = v.chars().count();
    if n < min || n > max {
        return Err(ApiError::bad(&o.name(key), "length", format!("{min} to {max} characters, got {n}")));
    }
    Ok(v.to_string())
}

/// A `{"value", "name"}` attachment.
fn attachment(o: &Obj, key: &str) -> ApiResult<()> {
    let a = o.obj(key)?;
    a.str("value")?;
    a.str("name")?;
    Ok(())
}

/// An array of objects, at least `min`.
fn objects<'a>(o: &Obj<'a>, key: &str, min: usize) -> ApiResult<Vec<Obj<'a>>> {
    let name = o.name(key);
    let Some(Value::Array(items)) = o.raw(key) else {
        return Err(ApiError::bad(&name, "type", "must be an array"));
    };
    if items.len() < min {
        return Err(ApiError::bad(&name, "required", format!("at least {min} item(s)")));
    }
    items
        .iter()
        .enumerate()
        .map(|(i, v)| match v {
            Value::Object(m) => Ok(Obj::at(m, format!("{name}[{i}]"))),
            _ => Err(ApiError::bad(&format!("{name}[{i}]"), "type", "must be an object")),
        })
        .collect()
}

/// `"lat, lng"` as two numbers in range.
fn lat_long(field: &str, text: &str) -> ApiResult<(f64, f64)> {
    let parsed = text
        .split_once(',')
        .and_then(|(a, b)| Some((a.trim().parse::<f64>().ok()?, b.trim().parse::<f64>().ok()?)));
    parsed
        .filter(|(lat, lng)| (-90.0..=90.0).contains(lat) && (-180.0..=180.0).contains(lng))
        .ok_or_else(|| ApiError::bad(field, "lat-long", format!("{text:?} is not \"latitude, longitude\"")))
}

/// Checks a registration; what it resolved to (codes and names), for search and for the record.
fn check(body: &JsonBody) -> ApiResult<Value> {
    let basic = body.obj("basicInformation")?;
    length(&basic, "facilityName", 1, 200)?;
    basic.opt_str("region")?;
    length(&basic, "addressLine1", 5, 50)?;
    length(&basic, "addressLine2", 5, 50)?;
    let state = masters::state(&basic.name("state"), basic.str("state")?)?;
    let district = masters::district(&basic.name("district"), state, basic.str("district")?)?;
    let sub = masters::subdistrict(&basic.name("subDistrict"), district, basic.str("subDistrict")?)?;
    let city = basic.str("city")?;
    common::one_of(&basic.name("country"), basic.str("country")?, &["India"], false)?;
    common::pincode(&basic.name("pincode"), basic.str("pincode")?)?;
    let points = basic.strings("latLongs")?;
    let Some(first) = points.first() else {
        return Err(ApiError::bad(
            &basic.name("latLongs"),
            "required",
            "at least one \"latitude, longitude\"",
        ));
    };
    for (i, p) in points.iter().enumerate() {
        lat_long(&format!("{}[{i}]", basic.name("latLongs")), p)?;
    }
    let (lat, lng) = lat_long(&basic.name("latLongs"), first)?;
    let contact = body.obj("contactInformation")?;
    let mobile = contact.str("mobileNumber")?;
    let digits: String = mobile.chars().filter(char::is_ascii_digit).collect();
    if !(10..=15).contains(&digits.len())
        || mobile.chars().any(|c| !(c.is_ascii_digit() || "+-. ".contains(c)))
    {
        return Err(ApiError::bad(
            &contact.name("mobileNumber"),
            "mobile-format",
            "a phone number, +country code optional",
        ));
    }
    common::email(&contact.name("email"), contact.str("email")?)?;
    for key in ["landline", "stdcode", "websiteLink"] {
        contact.str(key)?;
    }
    let docs = body.obj("uploadDocuments")?;
    attachment(&docs, "boardPhoto")?;
    attachment(&docs, "buildingPhoto")?;
    for proof in objects(&body.root(), "addAddressProof", 1)? {
        resolve(
            &proof.name("addressProofType"),
            proof.str("addressProofType")?,
            masters::data("ADDRESS_PROOF_TYPE"),
        )?;
        attachment(&proof, "addressProofAttachment")?;
    }
    for timing in objects(&body.root(), "facilityTimings", 1)? {
        timing.str("timings")?;
        for shift in objects(&timing, "shifts", 0)? {
            shift.str("start")?;
            shift.str("end")?;
        }
    }
    let details = body.obj("facilityDetails")?;
    let ownership =
        resolve(&details.name("ownershipType"), details.str("ownershipType")?, masters::data("OWNERSHIP"))?;
    let subtypes = masters::owner_subtypes_of(&ownership.code);
    resolve(&details.name("ownershipSubType"), details.str("ownershipSubType")?, subtypes)?;
    let status = resolve(&details.name("status"), details.str("status")?, masters::data("FACILITY_STATUS"))?;
    let som = body.obj("systemOfMedicine")?;
    let mut system = None;
    for s in objects(&som, "specialities", 1)? {
        let code = resolve(
            &s.name("systemofMedicineCode"),
            s.str("systemofMedicineCode")?,
            masters::data("MEDICINE_SYSTEM"),
        )?;
        for (i, sp) in s.strings("specialities")?.iter().enumerate() {
            resolve(&format!("{}[{i}]", s.name("specialities")), sp, masters::specialities_of(&code.code))?;
        }
        system.get_or_insert(code);
    }
    let system =
        system.ok_or_else(|| ApiError::bad("systemOfMedicine.specialities", "required", "at least one"))?;
    let types = masters::facility_types_for(&ownership.code, Some(&system.code));
    let kind = resolve(&som.name("facilityType"), som.str("facilityType")?, &types)?;
    if let Some(sub) = som.opt_str("facilitySubType")? {
        resolve(&som.name("facilitySubType"), sub, masters::facility_subtypes_of(&kind.code))?;
    }
    if let Some(service) = som.opt_str("serviceType")? {
        resolve(&som.name("serviceType"), service, masters::data("SERVICE_TYPE"))?;
    }
    let inv = body.obj("facilityInventory")?;
    for key in ["totalNumberOfVentilators", "totalNumberOfBeds"] {
        if inv.opt_uint(key)?.is_none_or(|n| n == 0) {
            return Err(ApiError::bad(&inv.name(key), "range", "a whole number above 0"));
        }
    }
    for key in [
        "hasDialysisCenter",
        "hasPharmacy",
        "hasBloodBank",
        "hasCathLab",
        "hasDiagnosticLab",
        "hasImagingCenter",
    ] {
        common::one_of(&inv.name(key), inv.str(key)?, &["Yes", "No"], true)?;
    }
    for s in objects(&inv, "servicesByImagingCenter", 0)? {
        if let Some(service) = s.opt_str("service")? {
            resolve(&s.name("service"), service, masters::data("IMAGING_SERVICE"))?;
        }
        s.opt_uint("count")?
            .ok_or_else(|| ApiError::bad(&s.name("count"), "required", "a whole number ≥ 0"))?;
    }
    body.str("accountId")?;
    Ok(json!({"facilityStatus": status.value, "ownership": ownership.value, "ownershipCode": ownership.code,
        "systemOfMedicineCode": system.code, "systemOfMedicine": system.value, "facilityTypeCode": kind.code,
        "facilityType": kind.value, "stateName": state.name, "stateLGDCode": state.code, "districtName": district.name,
        "districtLGDCode": district.code, "subDistrictName": sub.name, "subDistrictLGDCode": sub.code,
        "villageCityTownLGDCode": "", "villageCityTownName": city, "latitude": lat.to_string(), "longitude": lng.to_string()}))
}

/// A facility id not used yet: `IN`, the state's LGD code in two digits, eight digits.
fn facility_id(sh: &Shared, cs: &CarestackState, state: &str) -> String {
    loop {
        let id = format!("IN{:0>2}{:08}", state, 20_000_000 + rand::random::<u32>() % 80_000_000);
        if cs.organizations.get(&id).is_none() && !sh.fixtures.facilities.iter().any(|f| f.hip_id == id) {
            return id;
        }
    }
}

/// `POST /register-facility` → 201 `{"response": "organization created successfully: facilityId IN..."}`.
async fn register(
    sh: web::Data<Shared>,
    cs: web::Data<CarestackState>,
    body: JsonBody,
) -> ApiResult<HttpResponse> {
    let resolved = check(&body)?;
    let state = resolved["stateLGDCode"].as_str().unwrap_or("0").to_string();
    let id = facility_id(&sh, &cs, &state);
    let mut org = body.0.clone();
    let basic = &org["basicInformation"];
    let (name, pincode) = (basic["facilityName"].clone(), basic["pincode"].clone());
    let address = format!(
        "{}, {}, {}",
        basic["addressLine1"].as_str().unwrap_or(""),
        basic["addressLine2"].as_str().unwrap_or(""),
        basic["city"].as_str().unwrap_or("")
    );
    let mut summary = resolved;
    summary["facilityId"] = json!(id);
    summary["facilityName"] = name.clone();
    summary["address"] = json!(address);
    summary["pincode"] = pincode.clone();
    org.insert("facilityId".into(), json!(id));
    org.insert("id".into(), json!(Uuid::new_v4().to_string()));
    org.insert("summary".into(), summary);
    org.insert("registeredAt".into(), json!(iso(sh.clock.now())));
    let same = |v: &Value| {
        let b = &v["basicInformation"];
        b["pincode"] == pincode
            && b["facilityName"].as_str().zip(name.as_str()).is_some_and(|(a, b)| a.eq_ignore_ascii_case(b))
    };
    cs.organizations.insert_unless(&id, Value::Object(org), same).map_err(|other| {
        let why = format!("facility {other} has this name at this pincode already");
        common::conflict("basicInformation.facilityName", "facility-exists", why)
    })?;
    Ok(HttpResponse::Created()
        .json(json!({"response": format!("organization created successfully: facilityId {id}")})))
}

/// `GET /facilities/[?nextPage=]` → `{message, data, nextPageLink, totalNumberOfRecords}`.
async fn list(cs: web::Data<CarestackState>, q: Query) -> ApiResult<HttpResponse> {
    let all = cs.organizations.all();
    let total = all.len();
    let (items, next) = common::page(all, param(&q, "nextPage"), PAGE_SIZE)?;
    Ok(HttpResponse::Ok().json(json!({"message": "Facilities Fetched", "data": items, "nextPageLink": next,
        "totalNumberOfRecords": total})))
}

/// A registered facility by its facility id or its internal id.
pub fn find(cs: &CarestackState, id: &str) -> Option<Value> {
    cs.organizations.get(id).or_else(|| cs.organizations.find(|o| o["id"] == id))
}

/// `GET /facilities/{accountId|facilityId|id}/{term}` → `"Facility Found !!!"` (by facility id or
/// id) or `"Records Found!!"` (by account), with the facilities; 404 when none.
async fn by_id(cs: web::Data<CarestackState>, path: web::Path<(String, String)>) -> ApiResult<HttpResponse> {
    let (kind, term) = path.into_inner();
    let (message, found): (&str, Vec<Value>) = match kind.as_str() {
        "facilityId" => ("Facility Found !!!", cs.organizations.get(&term).into_iter().collect()),
        "id" => {
            ("Facility Found !!!", cs.organizations.find(|o| o["id"] == term.as_str()).into_iter().collect())
        }
        "accountId" => (
            "Records Found!!",
            cs.organizations.all().into_iter().filter(|o| o["accountId"] == term.as_str()).collect(),
        ),
        other => {
            return Err(ApiError::bad(
                "idType",
                "enum",
                format!("{other:?} is not one of accountId, facilityId, id"),
            ))
        }
    };
    if found.is_empty() {
        return Err(not_found(&kind, "facility-unknown", format!("no facility with {kind} {term}")));
    }
    Ok(HttpResponse::Ok()
        .json(json!({"message": message, "totalNumberOfRecords": found.len(), "data": found,
        "nextPageLink": null})))
}

/// `PUT /update-facility {spocName, id, spocId, consentManagerName?, consentManagerId?}` →
/// `{"response": "organization updated successfully"}`.
async fn update(
    sh: web::Data<Shared>,
    cs: web::Data<CarestackState>,
    body: JsonBody,
) -> ApiResult<HttpResponse> {
    let id = body.str("id")?;
    let spoc = (body.str("spocName")?, body.str("spocId")?);
    let cm = (body.opt_str("consentManagerName")?, body.opt_str("consentManagerId")?);
    let org =
        find(&cs, id).ok_or_else(|| not_found("id", "facility-unknown", format!("no facility {id}")))?;
    let key = org["facilityId"].as_str().unwrap_or("").to_string();
    let now = iso(sh.clock.now());
    cs.organizations.update(&key, |o| {
        o["spocName"] = json!(spoc.0);
        o["spocId"] = json!(spoc.1);
        o["consentManagerName"] = json!(cm.0);
        o["consentManagerId"] = json!(cm.1);
        o["updatedAt"] = json!(now);
    });
    Ok(HttpResponse::Ok().json(json!({"response": "organization updated successfully"})))
}

/// `DELETE /facility/{id}` (facility id or id).
async fn delete(cs: web::Data<CarestackState>, path: web::Path<String>) -> ApiResult<HttpResponse> {
    let org =
        find(&cs, &path).ok_or_else(|| not_found("id", "facility-unknown", format!("no facility {path}")))?;
    cs.organizations.remove(org["facilityId"].as_str().unwrap_or(""));
    Ok(HttpResponse::Ok().json(json!({"message": "organization deleted successfully"})))
}

/// `POST /search-facility` → `{facilities, message, totalFacilities, numberOfPages}`.
async fn search(cs: web::Data<CarestackState>, body: JsonBody) -> ApiResult<HttpResponse> {
    let page = body
        .opt_uint("page")?
        .filter(|p| *p >= 1)
        .ok_or_else(|| ApiError::bad("page", "range", "a page number from 1"))?;
    let per = body
        .opt_uint("resultsPerPage")?
        .filter(|n| (1..=100).contains(n))
        .ok_or_else(|| ApiError::bad("resultsPerPage", "range", "1 to 100"))?;
    if let Some(p) = body.opt_str("pincode")? {
        common::pincode("pincode", p)?;
    }
    let name = body.opt_str("facilityName")?;
    if name.is_some_and(|n| !(3..=200).contains(&n.chars().count())) {
        return Err(ApiError::bad("facilityName", "length", "3 to 200 characters"));
    }
    let ownership = body
        .opt_str("ownershipCode")?
        .map(|o| resolve("ownershipCode", o, masters::data("OWNERSHIP")).map(|c| c.code.clone()))
        .transpose()?;
    let wanted = [
        ("stateLGDCode", body.opt_str("stateLGDCode")?),
        ("districtLGDCode", body.opt_str("districtLGDCode")?),
        ("subDistrictLGDCode", body.opt_str("subDistrictLGDCode")?),
        ("pincode", body.opt_str("pincode")?),
        ("facilityId", body.opt_str("facilityId")?),
        ("ownershipCode", ownership.as_deref()),
    ];
    let found: Vec<Value> = cs
        .organizations
        .all()
        .into_iter()
        .map(|o| o["summary"].clone())
        .filter(|s| wanted.iter().all(|(k, v)| v.is_none_or(|v| s[*k] == v)))
        .filter(|s| {
            name.is_none_or(|n| {
                s["facilityName"].as_str().is_some_and(|f| f.to_lowercase().contains(&n.to_lowercase()))
            })
        })
        .collect();
    let total = found.len();
    let per = per as usize;
    let skip = (page as usize).saturating_sub(1).saturating_mul(per);
    let facilities: Vec<Value> = found.into_iter().skip(skip).take(per).collect();
    Ok(HttpResponse::Ok().json(json!({"facilities": facilities, "message": "Facilities Fetched",
        "totalFacilities": total, "numberOfPages": total.div_ceil(per)})))
}
