//! The ABHA enrolment flow: its transactions, steps and the functions each route calls.

use actix_web::http::StatusCode;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::accounts::{AbhaAccount, DOMAIN};
use crate::checks::{self, mask};
use crate::clock::{Millis, SECOND};
use crate::error::{ApiError, ApiResult, Checked, Rule};
use crate::fixtures::{Person, PHOTO};
use crate::flow::{self, Guard};
use crate::otp::Otp;
use crate::shared::Shared;
use crate::store::Store;

/// The consent code enrol/byAadhaar requires.
pub const CONSENT_CODE: &str = "abha-enrollment";
/// The consent version enrol/byAadhaar requires.
pub const CONSENT_VERSION: &str = "1.4";
/// Lifetime of the user token (`X-token`) issued at enrolment, in seconds.
pub const TOKEN_SECONDS: i64 = 1800;
/// Lifetime of the refresh token issued with it, in seconds.
pub const REFRESH_SECONDS: i64 = 1_296_000;

/// The steps of this flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    AadhaarOtpSent,
    Enrolled,
    AddressCreated,
}

impl flow::Step for Step {
    fn describe(self) -> &'static str {
        match self {
            Step::AadhaarOtpSent => "Aadhaar OTP sent, not yet enrolled",
            Step::Enrolled => "enrolled",
            Step::AddressCreated => "ABHA address created (the enrolment is complete)",
        }
    }
}

/// What a pending verification OTP verifies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Contact {
    /// A mobile number.
    Mobile(String),
    /// An e-mail address.
    Email(String),
}

impl Contact {
    fn scope(&self) -> &'static str {
        match self {
            Contact::Mobile(_) => "mobile-verify",
            Contact::Email(_) => "email-verify",
        }
    }
}

/// One enrolment, keyed by `txnId`.
pub struct AbhaTxn {
    person: usize,
    step: Step,
    otp: Otp,
    /// The contact a verification OTP was sent to and not yet verified.
    pending: Option<Contact>,
    abha_number: Option<String>,
}

impl flow::Txn for AbhaTxn {
    type Step = Step;
    const RESTART: &'static str = "start the enrolment again";
    fn step(&self) -> Step {
        self.step
    }
    fn locked(&self) -> bool {
        self.otp.locked()
    }
}

/// ABHA's enrolments and the user tokens they issued.
pub struct AbhaState {
    txns: Store<AbhaTxn>,
    /// User tokens (the X-token) → ABHA number.
    pub(super) tokens: Store<String>,
}

impl Default for AbhaState {
    fn default() -> Self {
        AbhaState { txns: Store::default(), tokens: Store::with_ttl(TOKEN_SECONDS * SECOND) }
    }
}

impl AbhaState {
    /// No enrolments, no tokens.
    pub fn reset(&self) {
        self.txns.clear();
        self.tokens.clear();
    }

    /// Drops expired enrolments and tokens; returns how many.
    pub fn sweep(&self, now: Millis) -> usize {
        self.txns.sweep(now) + self.tokens.sweep(now)
    }

    /// Live enrolments.
    pub fn live(&self) -> usize {
        self.txns.len()
    }
}

/// ABHA answers an unknown or expired transaction with 401.
fn unauthorized_txn(mut e: ApiError) -> ApiError {
    if matches!(e.rule, "txn-unknown" | "txn-expired") {
        e.status = StatusCode::UNAUTHORIZED;
    }
    e
}

/// One step of the enrolment `id`; see [`flow`]. ABHA answers an unknown or expired
/// transaction with 401.
fn advance<R>(
    sh: &Shared,
    abha: &AbhaState,
    id: Uuid,
    field: &str,
    allowed: &[Step],
    action: &str,
    f: impl FnOnce(&mut AbhaTxn, Millis) -> ApiResult<R>,
) -> ApiResult<R> {
    let now = sh.clock.now();
    abha.txns.advance(id, now, Guard { field, allowed, action }, |txn| f(txn, now)).map_err(unauthorized_txn)
}

// ---- the flow --------------------------------------------------------------------------------

/// Sends the Aadhaar OTP for enrolment, or resends it when `resend` names the transaction.
pub fn request_aadhaar_otp(
    sh: &Shared,
    abha: &AbhaState,
    aadhaar: &str,
    resend: Option<Uuid>,
) -> ApiResult<Value> {
    let index = sh.fixtures.person(aadhaar).ok_or_else(|| {
        ApiError::rule(
            "loginId",
            "aadhaar-unknown",
            "no person with this Aadhaar in the sandbox fixtures (GET /_sandbox/fixtures lists them)",
        )
    })?;
    let person = &sh.fixtures.people[index];
    let now = sh.clock.now();
    let (id, otp) = match resend {
        Some(id) => {
            let otp = advance(
                sh,
                abha,
                id,
                "txnId",
                &[Step::AadhaarOtpSent],
                "resending the Aadhaar OTP",
                |txn, now| {
                    if txn.person != index {
                        return Err(ApiError::rule(
                            "loginId",
                            "txn-mismatch",
                            "this transaction is for another Aadhaar",
                        ));
                    }
                    txn.otp.resend(now, "txnId")?;
                    Ok(txn.otp.clone())
                },
            )?;
            (id, otp)
        }
        None => {
            let otp = Otp::new(&person.otp, &person.mobile, now);
            let txn = AbhaTxn {
                person: index,
                step: Step::AadhaarOtpSent,
                otp: otp.clone(),
                pending: None,
                abha_number: None,
            };
            (abha.txns.insert(txn, now), otp)
        }
    };
    sh.outbox.send(id, &otp, "abha-aadhaar-otp");
    Ok(json!({
        "txnId": id,
        "message": format!("OTP is sent to Aadhaar registered mobile number ending with {}", mask(&person.mobile, 4)),
    }))
}

/// Enrols with the Aadhaar OTP. The answer's `ABHAProfile.mobile` is the mobile given when it is
/// the Aadhaar-linked one; otherwise the account keeps its own, so the client knows to verify the
/// new one by OTP.
pub fn enrol(
    sh: &Shared,
    abha: &AbhaState,
    id: Uuid,
    otp: &str,
    otp_field: &str,
    mobile: &str,
) -> ApiResult<Value> {
    let (index, account, is_new) =
        advance(sh, abha, id, "txnId", &[Step::AadhaarOtpSent], "enrolment", |txn, now| {
            txn.otp.verify(otp, now, otp_field)?;
            let (account, is_new) = sh.accounts.enrol(txn.person, &sh.fixtures.people[txn.person]);
            txn.abha_number = Some(account.abha_number.clone());
            txn.step = Step::Enrolled;
            Ok((txn.person, account, is_new))
        })?;
    let person = &sh.fixtures.people[index];
    let token = issue_token(sh, abha, &account.abha_number);
    let mut profile = profile_json(person, &account);
    profile["mobile"] = json!(if mobile == person.mobile { mobile } else { account.mobile.as_str() });
    Ok(json!({
        "message": if is_new { "Account created successfully" } else { "This account already exist" },
        "txnId": id,
        "tokens": {
            "token": token,
            "expiresIn": TOKEN_SECONDS,
            "refreshToken": format!("sbx-refresh.{}", Uuid::new_v4().simple()),
            "refreshExpiresIn": REFRESH_SECONDS,
        },
        "ABHAProfile": profile,
        "isNew": is_new,
    }))
}

/// Sends (or, for the same contact, resends after 60 s) an OTP verifying a mobile or e-mail.
pub fn request_contact_otp(
    sh: &Shared,
    abha: &AbhaState,
    id: Uuid,
    contact: Contact,
    field: &str,
) -> ApiResult<Value> {
    let (otp, to) = advance(
        sh,
        abha,
        id,
        "txnId",
        &[Step::Enrolled, Step::AddressCreated],
        "verifying a mobile or e-mail",
        |txn, now| {
            let to = match &contact {
                Contact::Mobile(m) | Contact::Email(m) => m.clone(),
            };
            if txn.pending.as_ref() == Some(&contact) {
                txn.otp.resend(now, field)?;
            } else {
                let code = sh.fixtures.people[txn.person].otp.clone();
                txn.otp.reissue(&code, &to, now);
                txn.pending = Some(contact.clone());
            }
            Ok((txn.otp.clone(), to))
        },
    )?;
    sh.outbox.send(
        id,
        &otp,
        if matches!(contact, Contact::Mobile(_)) { "abha-mobile-otp" } else { "abha-email-otp" },
    );
    Ok(json!({"txnId": id, "message": format!("OTP sent to {}", mask(&to, 4))}))
}

/// Verifies a mobile or e-mail OTP. A wrong or expired OTP is answered 200 with
/// `authResult: "failure"` (as ABDM does), still counted; the fifth wrong one locks.
pub fn verify_contact_otp(
    sh: &Shared,
    abha: &AbhaState,
    id: Uuid,
    otp: &str,
    otp_field: &str,
    scope: &str,
) -> ApiResult<Value> {
    let outcome = advance(
        sh,
        abha,
        id,
        "txnId",
        &[Step::Enrolled, Step::AddressCreated],
        "verifying an OTP",
        |txn, now| {
            let Some(contact) = txn.pending.clone() else {
                return Err(ApiError::rule("txnId", "step-order", "no mobile or e-mail OTP was requested"));
            };
            if contact.scope() != scope {
                return Err(ApiError::bad(
                    "scope",
                    "scope",
                    format!("the pending OTP is for {}, not {scope}", contact.scope()),
                ));
            }
            match txn.otp.verify(otp, now, otp_field) {
                Ok(()) => {
                    txn.pending = None;
                    Ok(Ok((contact, txn.abha_number.clone().unwrap_or_default())))
                }
                Err(e) if e.status == StatusCode::UNPROCESSABLE_ENTITY => Ok(Err(e)),
                Err(e) => Err(e),
            }
        },
    )?;
    match outcome {
        Ok((contact, number)) => {
            let message = match &contact {
                Contact::Mobile(m) => {
                    sh.accounts.update(&number, |a| a.mobile = m.clone());
                    "Mobile Number linked successfully."
                }
                Contact::Email(e) => {
                    sh.accounts.update(&number, |a| a.email = Some(e.clone()));
                    "Email address linked successfully."
                }
            };
            Ok(
                json!({"txnId": id, "authResult": "success", "message": message, "accounts": [{"ABHANumber": number}]}),
            )
        }
        Err(e) => Ok(json!({
            "txnId": id,
            "authResult": "failure",
            "message": "Please enter a valid OTP. Entered OTP is either expired or incorrect.",
            "field": e.field,
            "rule": e.rule,
            "detail": e.message,
        })),
    }
}

/// Free ABHA address suggestions (local parts) from the person's name and birth date.
pub fn suggestions(sh: &Shared, abha: &AbhaState, id: Uuid, field: &str) -> ApiResult<Vec<String>> {
    let index =
        advance(sh, abha, id, field, &[Step::Enrolled], "asking for ABHA address suggestions", |txn, _| {
            Ok(txn.person)
        })?;
    let p = &sh.fixtures.people[index];
    // Name parts of ASCII letters and digits, cut so that every candidate fits the 18-character
    // rule; a name with none (another script) falls back to a neutral stem.
    let clean = |s: &str, n: usize| {
        s.chars().filter(char::is_ascii_alphanumeric).take(n).collect::<String>().to_lowercase()
    };
    let (mut first, last) = (clean(&p.first_name, 7), clean(&p.last_name, 5));
    if first.is_empty() {
        first = "abha".into();
    }
    let year = p.year_of_birth.to_string();
    let yy = year.get(2..).unwrap_or_default();
    let dd = format!("{:02}", p.day_of_birth.unwrap_or(1));
    let mm = format!("{:02}", p.month_of_birth.unwrap_or(1));
    let candidates = [
        format!("{first}.{last}{yy}"),
        format!("{first}{last}{year}"),
        format!("{first}_{last}{dd}"),
        format!("{last}.{first}{dd}{mm}"),
        format!("{first}{last}{dd}{mm}"),
    ];
    let mut out = Vec::new();
    for c in candidates.into_iter().chain((1..1000).map(|n| format!("{first}.{yy}{n:03}"))) {
        if out.len() == 5 {
            break;
        }
        if check_v3_address(&c).is_ok()
            && !sh.accounts.address_taken(&format!("{c}{DOMAIN}"))
            && !out.contains(&c)
        {
            out.push(c);
        }
    }
    Ok(out)
}

/// Creates the chosen ABHA address (a local part, v3 rule) and makes it preferred.
pub fn create_address(
    sh: &Shared,
    abha: &AbhaState,
    id: Uuid,
    local: &str,
    preferred: bool,
) -> ApiResult<Value> {
    check_v3_address(local).bad("abhaAddress")?;
    let address = format!("{local}{DOMAIN}");
    let number = advance(sh, abha, id, "txnId", &[Step::Enrolled], "creating an ABHA address", |txn, _| {
        let number = txn.abha_number.clone().unwrap_or_default();
        if !sh.accounts.add_address(&number, &address, preferred) {
            return Err(ApiError::rule(
                "abhaAddress",
                "abha-address-taken",
                format!("{address} is already taken"),
            ));
        }
        txn.step = Step::AddressCreated;
        Ok(number)
    })?;
    let preferred_address = sh.accounts.by_number(&number).and_then(|a| a.preferred).unwrap_or(address);
    Ok(json!({"txnId": id, "healthIdNumber": number, "preferredAbhaAddress": preferred_address}))
}

/// The ABHA v3 address rule: 8–18 characters, letters and digits with at most one `.` and one
/// `_`, neither first nor last, not 14 digits alone; the local part only (no `@sbx`).
pub fn check_v3_address(local: &str) -> Result<(), Rule> {
    let fail = |why: &str| Err(Rule::new("abha-address-policy", format!("{local:?}: {why}")));
    if local.contains('@') {
        return fail("give the local part only, without the @sbx domain");
    }
    if !(8..=18).contains(&local.len()) {
        return fail("must be 8 to 18 characters");
    }
    if !local.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_') {
        return fail("only letters, digits, one '.' and one '_' are allowed");
    }
    if local.matches('.').count() > 1 || local.matches('_').count() > 1 {
        return fail("at most one '.' and one '_'");
    }
    if local.starts_with(['.', '_']) || local.ends_with(['.', '_']) {
        return fail("must not start or end with '.' or '_'");
    }
    if local.contains("._") || local.contains("_.") {
        return fail("'.' and '_' must not be next to each other");
    }
    if local.len() == 14 && checks::all_digits(local) {
        return fail("the ABHA address cannot consist of a 14-digit number exclusively");
    }
    Ok(())
}

fn issue_token(sh: &Shared, abha: &AbhaState, abha_number: &str) -> String {
    let id = abha.tokens.insert(abha_number.to_string(), sh.clock.now());
    format!("sbx-abha.{}", id.simple())
}

/// The ABHA profile in the names ABHA v3 (and the Carestack SDK's `ABHAProfile`) use: names are
/// strings, `""` when absent, never null.
pub fn profile_json(p: &Person, a: &AbhaAccount) -> Value {
    let day = p.day_of_birth.unwrap_or(1);
    let month = p.month_of_birth.unwrap_or(1);
    json!({
        "firstName": p.first_name,
        "middleName": p.middle_name,
        "lastName": p.last_name,
        "name": p.name,
        "dob": format!("{day:02}-{month:02}-{}", p.year_of_birth),
        "yearOfBirth": p.year_of_birth.to_string(),
        "monthOfBirth": p.month_of_birth.map(|m| format!("{m:02}")).unwrap_or_default(),
        "dayOfBirth": p.day_of_birth.map(|d| format!("{d:02}")).unwrap_or_default(),
        "gender": p.gender,
        "photo": PHOTO,
        "mobile": a.mobile,
        "email": a.email.clone().unwrap_or_default(),
        "phrAddress": a.addresses,
        "preferredAddress": a.preferred.clone().unwrap_or_default(),
        "address": p.address.line,
        "districtCode": p.address.district_code,
        "districtName": p.address.district,
        "stateCode": p.address.state_code,
        "stateName": p.address.state,
        "pinCode": p.address.pincode,
        "abhaType": "STANDARD",
        "ABHANumber": a.abha_number,
        "abhaStatus": "ACTIVE",
    })
}

#[cfg(test)]
mod tests {
    use super::check_v3_address;

    #[test]
    fn v3_address_rule() {
        for ok in ["asha.verma90", "asha_verma.90", "ashaverma", "a1234567890123x"] {
            assert!(check_v3_address(ok).is_ok(), "{ok}");
        }
        for bad in [
            "short",
            "asha..verma",
            "asha.ve.rma",
            ".ashaverma",
            "ashaverma_",
            "asha-verma",
            "91234567890129",
            "asha._verma",
            "asha@sbx",
            "averyveryverylongaddress",
        ] {
            assert!(check_v3_address(bad).is_err(), "{bad}");
        }
    }
}
