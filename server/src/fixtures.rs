//! Test identities, facilities and credentials. The default set (`fixtures/default.json` in the
//! repository) is compiled in; `serve --fixtures FILE` replaces it. Loading checks every
//! identifier against the rules the sandbox enforces, so a fixture can never be unusable.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

use crate::checks;
pub use crate::records::Record;

/// The compiled-in default fixtures (`fixtures/default.json`).
pub const DEFAULT_FIXTURES: &str = include_str!("../../fixtures/default.json");

/// A 1×1 PNG standing in for the Aadhaar KYC photograph in every family's answers.
pub const PHOTO: &str =
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII=";

/// The identities, facilities and credentials a sandbox serves.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Fixtures {
    #[serde(default, rename = "_comment", skip_serializing)]
    /// A free-text note at the top of the file (`_comment`).
    pub comment: Option<String>,
    /// People: patients with (or about to get) an ABHA number.
    pub people: Vec<Person>,
    /// Healthcare professionals, for HPR registration.
    pub professionals: Vec<Professional>,
    /// Facilities: HIPs with their gateway client credentials.
    pub facilities: Vec<Facility>,
    /// The Carestack API keys.
    pub carestack: CarestackFixture,
    /// Aadhaar → index in `people` or `professionals`, built on load.
    #[serde(skip)]
    by_aadhaar: std::collections::HashMap<String, Holder>,
    /// The records' bundle texts, by file name, read on load.
    #[serde(skip)]
    pub bundles: crate::records::Bundles,
}

/// Who holds an Aadhaar number in the fixtures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Holder {
    Person(usize),
    Professional(usize),
}

/// A person's address.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Address {
    /// Street address.
    pub line: String,
    /// District name.
    pub district: String,
    /// LGD district code.
    pub district_code: String,
    /// State name.
    pub state: String,
    /// LGD state code.
    pub state_code: String,
    /// Six-digit pincode.
    pub pincode: String,
}

/// A person (a patient).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Person {
    /// Aadhaar number (12 digits, Verhoeff-valid).
    pub aadhaar: String,
    /// Mobile number (10 digits).
    pub mobile: String,
    /// `None` until the person enrols for an ABHA (enrolment mints one).
    pub abha_number: Option<String>,
    /// ABHA addresses (`name@sbx`).
    pub abha_addresses: Vec<String>,
    /// Full name.
    pub name: String,
    /// First name.
    pub first_name: String,
    /// Middle name (may be empty).
    pub middle_name: String,
    /// Last name.
    pub last_name: String,
    /// `M`, `F` or `O`.
    pub gender: String,
    /// Year of birth.
    pub year_of_birth: u16,
    /// Month of birth, when known.
    pub month_of_birth: Option<u8>,
    /// Day of birth, when known.
    pub day_of_birth: Option<u8>,
    /// E-mail address.
    pub email: String,
    /// Postal address.
    pub address: Address,
    /// The scripted OTP every OTP to this identity carries.
    pub otp: String,
    /// What the person does with a consent request an HIU sends.
    #[serde(default)]
    pub consent_decision: ConsentDecision,
    /// The care contexts the fixture HIPs hold for the person.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub records: Vec<Record>,
}

/// How clients' own credentials are taken.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Credentials {
    /// A gateway client id the fixtures do not know is accepted with any non-empty secret (its
    /// HIP and HIU ids are those it registers through the bridge services), and any non-empty
    /// Carestack API key: a client moves from the live sandbox by changing its base URL only. A
    /// client id the fixtures know still needs its own secret.
    #[default]
    Open,
    /// Only the fixtures' client ids, secrets and API keys: for testing how a client handles
    /// wrong credentials.
    Fixtures,
}

impl std::str::FromStr for Credentials {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "open" => Ok(Credentials::Open),
            "fixtures" => Ok(Credentials::Fixtures),
            other => Err(format!("{other:?}: use open or fixtures")),
        }
    }
}

/// A person's scripted answer to every consent request.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ConsentDecision {
    /// Grants, a moment after the request.
    #[default]
    Grant,
    /// Denies, a moment after the request.
    Deny,
    /// Waits for `POST /_sandbox/consent-requests/{id}/grant` or `/deny`.
    Ask,
}

/// A healthcare professional.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Professional {
    /// Aadhaar number (12 digits, Verhoeff-valid).
    pub aadhaar: String,
    /// The mobile number linked to the Aadhaar (where the Aadhaar OTP goes).
    pub aadhaar_mobile: String,
    /// The mobile number the professional gives; when it differs from `aadhaar_mobile`,
    /// demographic auth fails and the mobile must be verified by OTP.
    pub mobile: String,
    /// Full name.
    pub name: String,
    /// First name.
    pub first_name: String,
    /// Middle name (may be empty).
    pub middle_name: String,
    /// Last name.
    pub last_name: String,
    /// `M`, `F` or `O`.
    pub gender: String,
    /// `dd-mm-yyyy`, as the Aadhaar KYC gives it.
    pub birth_date: String,
    /// E-mail address.
    pub email: String,
    /// KYC address part.
    pub care_of: String,
    /// KYC address part.
    pub house: String,
    /// KYC address part.
    pub street: String,
    /// KYC address part.
    pub locality: String,
    /// KYC address part.
    pub village_town_city: String,
    /// KYC address part.
    pub sub_dist: String,
    /// District name.
    pub district: String,
    /// LGD district code.
    pub district_code: String,
    /// State name.
    pub state: String,
    /// LGD state code.
    pub state_code: String,
    /// KYC address part.
    pub post_office: String,
    /// Six-digit pincode.
    pub pincode: String,
    /// The scripted OTP every OTP to this identity carries.
    pub otp: String,
    /// `null` when the professional has no HPR account yet.
    pub hpr_id_number: Option<String>,
    /// The HPR ID (`name@hpr.abdm`), when an account exists.
    pub hpr_id: Option<String>,
    /// HPR category code.
    pub category_id: u32,
    /// HPR sub-category code.
    pub sub_category_id: u32,
    /// HPR category name.
    pub category_name: String,
    /// HPR sub-category name.
    pub category_sub_name: String,
}

impl Professional {
    /// The one-line address as Aadhaar KYC returns it.
    pub fn address(&self) -> String {
        [
            &self.care_of,
            &self.house,
            &self.street,
            &self.locality,
            &self.village_town_city,
            &self.district,
            &self.state,
        ]
        .iter()
        .filter(|s| !s.is_empty())
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .join(", ")
    }

    /// (day, month, year) of `birth_date`.
    pub fn birth(&self) -> (String, String, String) {
        let mut parts = self.birth_date.split('-').map(str::to_string);
        let d = parts.next().unwrap_or_default();
        let m = parts.next().unwrap_or_default();
        let y = parts.next().unwrap_or_default();
        (d, m, y)
    }
}

/// A facility (a HIP) and its gateway client.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Facility {
    /// The HIP id (`IN...`).
    pub hip_id: String,
    /// Full name.
    pub name: String,
    /// Counter codes for QR codes.
    pub counters: Vec<String>,
    /// Gateway client id.
    pub client_id: String,
    /// Gateway client secret.
    pub client_secret: String,
    /// `HIP`, `HIU` or both; a HIP only when absent.
    #[serde(default = "hip_only")]
    pub roles: Vec<String>,
}

fn hip_only() -> Vec<String> {
    vec!["HIP".into()]
}

impl Facility {
    /// Whether the facility plays `role` (`HIP` or `HIU`).
    pub fn is(&self, role: &str) -> bool {
        self.roles.iter().any(|r| r == role)
    }
}

/// Carestack's credentials.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CarestackFixture {
    /// API keys the Carestack routes accept as `Authorization: Bearer <key>`.
    pub api_keys: Vec<String>,
}

impl Fixtures {
    /// The compiled-in defaults.
    pub fn default_set() -> Fixtures {
        Fixtures::parse(DEFAULT_FIXTURES).expect("the compiled-in fixtures are valid")
    }

    /// Reads and checks a fixtures file.
    pub fn load(path: &std::path::Path) -> Result<Fixtures, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        Fixtures::parse_in(&text, path.parent()).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// Parses and checks fixtures JSON: Verhoeff-valid Aadhaar, Luhn-valid ABHA numbers,
    /// 10-digit mobiles, 6-digit OTPs, no Aadhaar twice.
    pub fn parse(text: &str) -> Result<Fixtures, String> {
        Fixtures::parse_in(text, None)
    }

    /// [`Fixtures::parse`], reading record bundles from `dir/records/` when given.
    fn parse_in(text: &str, dir: Option<&std::path::Path>) -> Result<Fixtures, String> {
        let mut f: Fixtures = serde_json::from_str(text).map_err(|e| e.to_string())?;
        f.validate()?;
        let records = f.people.iter().enumerate().flat_map(|(i, p)| {
            p.records.iter().enumerate().map(move |(j, r)| (format!("people[{i}].records[{j}]"), r))
        });
        f.bundles = crate::records::load(records, dir)?;
        let people = f.people.iter().enumerate().map(|(i, p)| (p.aadhaar.clone(), Holder::Person(i)));
        let pros =
            f.professionals.iter().enumerate().map(|(i, p)| (p.aadhaar.clone(), Holder::Professional(i)));
        f.by_aadhaar = people.chain(pros).collect();
        Ok(f)
    }

    /// The index of the person with this Aadhaar.
    pub fn person(&self, aadhaar: &str) -> Option<usize> {
        match self.by_aadhaar.get(aadhaar) {
            Some(Holder::Person(i)) => Some(*i),
            _ => None,
        }
    }

    /// The index of the healthcare professional with this Aadhaar.
    pub fn professional(&self, aadhaar: &str) -> Option<usize> {
        match self.by_aadhaar.get(aadhaar) {
            Some(Holder::Professional(i)) => Some(*i),
            _ => None,
        }
    }

    fn validate(&self) -> Result<(), String> {
        let mut aadhaars = HashSet::new();
        let rule =
            |what: String, r: Result<(), crate::error::Rule>| r.map_err(|e| format!("{what}: {}", e.message));
        for (i, p) in self.people.iter().enumerate() {
            let at = |f: &str| format!("people[{i}].{f}");
            rule(at("aadhaar"), checks::aadhaar(&p.aadhaar))?;
            rule(at("mobile"), checks::mobile(&p.mobile))?;
            rule(at("otp"), checks::otp(&p.otp))?;
            rule(at("address.pincode"), checks::pincode(&p.address.pincode))?;
            if let Some(n) = &p.abha_number {
                if !checks::luhn_valid(n) || checks::dashed14(n) != *n {
                    return Err(format!(
                        "{}: must be NN-NNNN-NNNN-NNNN with a valid Luhn check digit",
                        at("abhaNumber")
                    ));
                }
            } else if !p.abha_addresses.is_empty() {
                return Err(format!(
                    "{}: a person without an ABHA number has no addresses",
                    at("abhaAddresses")
                ));
            }
            for a in &p.abha_addresses {
                if !a.ends_with("@sbx") {
                    return Err(format!("{}: {a:?} must end in @sbx", at("abhaAddresses")));
                }
            }
            if !["M", "F", "O", "U"].contains(&p.gender.as_str()) {
                return Err(format!("{}: must be M, F, O or U", at("gender")));
            }
            if !aadhaars.insert(p.aadhaar.clone()) {
                return Err(format!("{}: used twice", at("aadhaar")));
            }
        }
        for (i, p) in self.professionals.iter().enumerate() {
            let at = |f: &str| format!("professionals[{i}].{f}");
            rule(at("aadhaar"), checks::aadhaar(&p.aadhaar))?;
            rule(at("aadhaarMobile"), checks::mobile(&p.aadhaar_mobile))?;
            rule(at("mobile"), checks::mobile(&p.mobile))?;
            rule(at("otp"), checks::otp(&p.otp))?;
            rule(at("pincode"), checks::pincode(&p.pincode))?;
            if !aadhaars.insert(p.aadhaar.clone()) {
                return Err(format!("{}: used twice", at("aadhaar")));
            }
            let (d, m, y) = p.birth();
            if chrono::NaiveDate::from_ymd_opt(
                y.parse().unwrap_or(0),
                m.parse().unwrap_or(0),
                d.parse().unwrap_or(0),
            )
            .is_none()
            {
                return Err(format!("{}: must be a date dd-mm-yyyy", at("birthDate")));
            }
            if p.hpr_id_number.is_some() != p.hpr_id.is_some() {
                return Err(format!("{}: hprIdNumber and hprId go together", at("hprId")));
            }
        }
        for (i, f) in self.facilities.iter().enumerate() {
            if f.roles.is_empty() || f.roles.iter().any(|r| r != "HIP" && r != "HIU") {
                return Err(format!("facilities[{i}].roles: must be HIP, HIU or both"));
            }
        }
        for (i, p) in self.people.iter().enumerate() {
            if !p.records.is_empty() && p.abha_addresses.is_empty() {
                return Err(format!(
                    "people[{i}].records: a person without an ABHA address has no linked records"
                ));
            }
            for (j, r) in p.records.iter().enumerate() {
                if !self.facilities.iter().any(|f| f.hip_id == r.hip_id && f.is("HIP")) {
                    return Err(format!("people[{i}].records[{j}].hipId: {} is not a fixture HIP", r.hip_id));
                }
            }
        }
        if self.carestack.api_keys.iter().any(|k| k.trim().is_empty()) {
            return Err("carestack.apiKeys: keys must not be empty".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_set_loads_and_covers_the_cases() {
        let f = Fixtures::default_set();
        assert!(f.people.len() >= 3 && f.facilities.len() >= 2);
        assert!(f.professionals.iter().any(|p| p.hpr_id_number.is_some()));
        assert!(f.professionals.iter().any(|p| p.hpr_id_number.is_none() && p.mobile == p.aadhaar_mobile));
        assert!(f.professionals.iter().any(|p| p.hpr_id_number.is_none() && p.mobile != p.aadhaar_mobile));
    }

    #[test]
    fn a_bad_identifier_is_refused_with_its_place() {
        let text = DEFAULT_FIXTURES.replacen("234567890127", "234567890128", 1);
        let err = Fixtures::parse(&text).unwrap_err();
        assert!(err.contains("people[0].aadhaar") && err.contains("Verhoeff"), "{err}");
    }
}
