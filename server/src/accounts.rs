//! ABHA accounts: the people of the fixtures who already have an ABHA number, and those enrolled
//! since. ABHA enrolment creates them, the PHR service adds ABHA addresses to them, and the gateway
//! finds people by address. Addresses are unique across all accounts (case-insensitive).

use dashmap::{DashMap, Entry};
use serde::{Deserialize, Serialize};

use crate::checks;
use crate::fixtures::{Fixtures, Person};
use crate::persist::{kind, Log};

/// The sandbox's ABHA address domain.
pub const DOMAIN: &str = "@sbx";

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AbhaAccount {
    /// Index of the person in the fixtures.
    pub person: usize,
    /// `NN-NNNN-NNNN-NNNN`.
    pub abha_number: String,
    /// Full addresses, `name@sbx`, oldest first.
    pub addresses: Vec<String>,
    pub preferred: Option<String>,
    /// The communication mobile: the Aadhaar-linked one, or one verified since.
    pub mobile: String,
    pub email: Option<String>,
    /// The PHR login password, once set.
    pub password: Option<String>,
}

#[derive(Default)]
pub struct Accounts {
    /// By the ABHA number's 14 digits.
    by_number: DashMap<String, AbhaAccount>,
    /// Aadhaar → 14 digits.
    by_aadhaar: DashMap<String, String>,
    /// Lower-case full address → 14 digits.
    by_address: DashMap<String, String>,
    /// Where created and changed accounts are kept (`serve --state`).
    log: Log,
}

/// The 14 digits of an ABHA number given dashed or not; `None` when it is not 14 digits.
pub fn digits14(number: &str) -> Option<String> {
    let d: String = number.chars().filter(|c| *c != '-').collect();
    (d.len() == 14 && checks::all_digits(&d)).then_some(d)
}

impl Accounts {
    /// The fixtures' accounts, then those kept in `log` (created or changed since).
    pub fn kept(fixtures: &Fixtures, log: Log) -> Self {
        let accounts = Accounts { log, ..Accounts::default() };
        accounts.reset(fixtures);
        for (key, account) in accounts.log.load::<AbhaAccount>(kind::ABHA_ACCOUNT) {
            let Some(person) = fixtures.people.get(account.person) else { continue };
            if let Some(old) = accounts.by_number.get(&key) {
                for a in &old.addresses {
                    accounts.by_address.remove(&a.to_lowercase());
                }
            }
            for a in &account.addresses {
                accounts.by_address.insert(a.to_lowercase(), key.clone());
            }
            accounts.by_aadhaar.insert(person.aadhaar.clone(), key.clone());
            accounts.by_number.insert(key, account);
        }
        accounts
    }

    /// Writes an account to the state file, after a change.
    fn save(&self, key: &str) {
        if let Some(account) = self.by_number.get(key) {
            self.log.put(kind::ABHA_ACCOUNT, key, &*account);
        }
    }

    /// Back to the fixtures' accounts (the state file is forgotten by the caller).
    pub fn reset(&self, fixtures: &Fixtures) {
        self.by_number.clear();
        self.by_aadhaar.clear();
        self.by_address.clear();
        for (i, p) in fixtures.people.iter().enumerate() {
            let Some(number) = &p.abha_number else { continue };
            let key = digits14(number).unwrap_or_default();
            for a in &p.abha_addresses {
                self.by_address.insert(a.to_lowercase(), key.clone());
            }
            self.by_aadhaar.insert(p.aadhaar.clone(), key.clone());
            self.by_number.insert(
                key,
                AbhaAccount {
                    person: i,
                    abha_number: number.clone(),
                    addresses: p.abha_addresses.clone(),
                    preferred: p.abha_addresses.first().cloned(),
                    mobile: p.mobile.clone(),
                    email: Some(p.email.clone()).filter(|e| !e.is_empty()),
                    password: None,
                },
            );
        }
    }

    pub fn by_number(&self, number: &str) -> Option<AbhaAccount> {
        self.by_number.get(&digits14(number)?).map(|a| a.clone())
    }

    pub fn by_aadhaar(&self, aadhaar: &str) -> Option<AbhaAccount> {
        let key = self.by_aadhaar.get(aadhaar)?.clone();
        self.by_number.get(&key).map(|a| a.clone())
    }

    pub fn by_address(&self, address: &str) -> Option<AbhaAccount> {
        let key = self.by_address.get(&address.to_lowercase())?.clone();
        self.by_number.get(&key).map(|a| a.clone())
    }

    pub fn address_taken(&self, address: &str) -> bool {
        self.by_address.contains_key(&address.to_lowercase())
    }

    /// The account of an Aadhaar holder, created (with a fresh ABHA number and the default
    /// address `<14 digits>@sbx`) when there is none; `true` when it was created.
    pub fn enrol(&self, person_index: usize, person: &Person) -> (AbhaAccount, bool) {
        if let Some(existing) = self.by_aadhaar(&person.aadhaar) {
            return (existing, false);
        }
        let key = loop {
            let key = mint_abha_digits();
            if let Entry::Vacant(v) = self.by_number.entry(key.clone()) {
                let default_address = format!("{key}{DOMAIN}");
                v.insert(AbhaAccount {
                    person: person_index,
                    abha_number: checks::dashed14(&key),
                    addresses: vec![default_address.clone()],
                    preferred: Some(default_address.clone()),
                    mobile: person.mobile.clone(),
                    email: None,
                    password: None,
                });
                self.by_address.insert(default_address, key.clone());
                break key;
            }
        };
        // Two enrolments of one Aadhaar racing: the first to register wins, the other's number
        // is withdrawn.
        match self.by_aadhaar.entry(person.aadhaar.clone()) {
            Entry::Vacant(v) => {
                v.insert(key.clone());
                self.save(&key);
                (self.by_number.get(&key).map(|a| a.clone()).expect("just inserted"), true)
            }
            Entry::Occupied(o) => {
                let winner = o.get().clone();
                drop(o);
                if let Some((_, lost)) = self.by_number.remove(&key) {
                    for a in lost.addresses {
                        self.by_address.remove(&a.to_lowercase());
                    }
                }
                (self.by_number.get(&winner).map(|a| a.clone()).expect("registered"), false)
            }
        }
    }

    /// Claims `address` (full, `name@sbx`) for the account; `false` when it is taken.
    pub fn add_address(&self, number: &str, address: &str, preferred: bool) -> bool {
        let Some(key) = digits14(number) else { return false };
        match self.by_address.entry(address.to_lowercase()) {
            Entry::Occupied(_) => false,
            Entry::Vacant(v) => {
                v.insert(key.clone());
                if let Some(mut account) = self.by_number.get_mut(&key) {
                    account.addresses.push(address.to_string());
                    if preferred {
                        account.preferred = Some(address.to_string());
                    }
                }
                self.save(&key);
                true
            }
        }
    }

    /// Changes an account in place.
    pub fn update(&self, number: &str, f: impl FnOnce(&mut AbhaAccount)) {
        if let Some(key) = digits14(number) {
            if let Some(mut account) = self.by_number.get_mut(&key) {
                f(&mut account);
            }
            self.save(&key);
        }
    }
}

/// A fresh 14-digit ABHA number starting with 91, with a valid Luhn check digit as the sandbox's
/// are.
fn mint_abha_digits() -> String {
    let body = format!("91{:011}", rand::random::<u64>() % 100_000_000_000);
    (0..10u8)
        .map(|d| format!("{body}{d}"))
        .find(|n| checks::luhn_valid(n))
        .expect("one check digit always fits")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minted_numbers_are_luhn_valid() {
        for _ in 0..100 {
            let n = mint_abha_digits();
            assert!(n.len() == 14 && n.starts_with("91") && checks::luhn_valid(&n), "{n}");
        }
    }

    #[test]
    fn enrolment_and_addresses() {
        let f = Fixtures::default_set();
        let accounts = Accounts::default();
        accounts.reset(&f);
        let (existing, created) = accounts.enrol(0, &f.people[0]);
        assert!(!created && existing.abha_number == "91-2345-6789-0129");
        let new = f.people.iter().position(|p| p.abha_number.is_none()).unwrap();
        let (account, created) = accounts.enrol(new, &f.people[new]);
        assert!(created);
        assert_eq!(accounts.enrol(new, &f.people[new]).0.abha_number, account.abha_number);
        assert!(accounts.address_taken(&account.addresses[0]));
        assert!(accounts.add_address(&account.abha_number, "sunil.das79@sbx", true));
        assert!(!accounts.add_address(&account.abha_number, "Sunil.Das79@sbx", false));
        assert_eq!(
            accounts.by_address("SUNIL.das79@sbx").unwrap().preferred.as_deref(),
            Some("sunil.das79@sbx")
        );
    }
}
