//! HPR registration's transactions, steps and accounts.

use dashmap::{DashMap, DashSet};
use uuid::Uuid;

use crate::body::JsonBody;
use crate::checks::{self};
use crate::clock::Millis;
use crate::error::{ApiError, ApiResult, Rule};
use crate::fixtures::{Fixtures, Professional};
use crate::flow::{self, Guard};
use crate::otp::Otp;
use crate::persist::{kind, Log};
use crate::shared::Shared;
use crate::store::Store;

/// The domain of every HPR ID.
pub const DOMAIN: &str = "@hpr.abdm";
/// The `idType` verifyOTP takes.
pub const ID_TYPE: &str = "hpr_id";

/// The steps of this flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    AadhaarOtpSent,
    AadhaarVerified,
    NoAccount,
    MobileOtpSent,
    MobileVerified,
    /// The flow has ended: the account existed, or it was created.
    Done,
}

impl flow::Step for Step {
    fn describe(self) -> &'static str {
        match self {
            Step::AadhaarOtpSent => "Aadhaar OTP sent (verify it next)",
            Step::AadhaarVerified => "Aadhaar verified (check for an account next)",
            Step::NoAccount => "no HPR account (verify the mobile next)",
            Step::MobileOtpSent => "mobile OTP sent (verify it next)",
            Step::MobileVerified => "mobile verified (suggestions or create next)",
            Step::Done => "flow ended",
        }
    }
}

/// One registration, keyed by `txnId`.
pub struct HprTxn {
    pub(super) professional: usize,
    pub(super) step: Step,
    pub(super) otp: Otp,
    /// The verified communication mobile, once known.
    pub(super) mobile: Option<String>,
}

impl flow::Txn for HprTxn {
    type Step = Step;
    const RESTART: &'static str = "start again with generateOtp";
    fn step(&self) -> Step {
        self.step
    }
    fn locked(&self) -> bool {
        self.otp.locked()
    }
}

/// An HPR account: from the fixtures or created through the flow.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HprAccount {
    /// `71-NNNN-NNNN-NNNN`.
    pub hpr_id_number: String,
    /// `name@hpr.abdm`.
    pub hpr_id: String,
    pub(super) category_id: u32,
    pub(super) sub_category_id: u32,
    pub(super) category_name: String,
    pub(super) category_sub_name: String,
}

/// HPR's transactions and accounts.
pub struct HprState {
    pub(super) txns: Store<HprTxn>,
    /// Accounts by the professional's Aadhaar.
    pub(super) accounts: DashMap<String, HprAccount>,
    /// Taken HPR ID usernames (lower case, without the domain) → Aadhaar.
    pub(super) taken: DashMap<String, String>,
    /// HPR ID numbers in use.
    pub(super) numbers: DashSet<String>,
    /// Where created accounts are kept (`serve --state`).
    log: Log,
}

impl HprState {
    /// The accounts of the fixtures and those kept in `log`, no transactions.
    pub fn new(fixtures: &Fixtures, log: Log) -> Self {
        let state = HprState {
            txns: Store::default(),
            accounts: DashMap::new(),
            taken: DashMap::new(),
            numbers: DashSet::new(),
            log,
        };
        state.reset(fixtures);
        for (aadhaar, account) in state.log.load::<HprAccount>(kind::HPR_ACCOUNT) {
            state.taken.insert(username(&account.hpr_id).to_lowercase(), aadhaar.clone());
            state.numbers.insert(account.hpr_id_number.clone());
            state.accounts.insert(aadhaar, account);
        }
        state
    }

    /// Back to the fixtures' accounts, no transactions.
    pub fn reset(&self, fixtures: &Fixtures) {
        self.txns.clear();
        self.accounts.clear();
        self.taken.clear();
        self.numbers.clear();
        for p in &fixtures.professionals {
            if let (Some(number), Some(id)) = (&p.hpr_id_number, &p.hpr_id) {
                self.taken.insert(username(id).to_lowercase(), p.aadhaar.clone());
                self.numbers.insert(number.clone());
                self.accounts.insert(
                    p.aadhaar.clone(),
                    HprAccount {
                        hpr_id_number: number.clone(),
                        hpr_id: id.clone(),
                        category_id: p.category_id,
                        sub_category_id: p.sub_category_id,
                        category_name: p.category_name.clone(),
                        category_sub_name: p.category_sub_name.clone(),
                    },
                );
            }
        }
    }

    /// Drops expired transactions; returns how many.
    pub fn sweep(&self, now: Millis) -> usize {
        self.txns.sweep(now)
    }

    /// Live transactions.
    pub fn live(&self) -> usize {
        self.txns.len()
    }

    /// Creates `p`'s account under the username `lower`, minting its number: the username is
    /// claimed first, then the account, each atomically, so two racing creates cannot both win.
    pub(super) fn claim(
        &self,
        p: &Professional,
        lower: &str,
        mut account: HprAccount,
    ) -> ApiResult<HprAccount> {
        match self.taken.entry(lower.to_string()) {
            dashmap::Entry::Occupied(_) => {
                return Err(ApiError::rule(
                    "hprId",
                    "hpr-id-taken",
                    format!("{lower}{DOMAIN} is already taken; ask for suggestions"),
                ))
            }
            dashmap::Entry::Vacant(v) => {
                v.insert(p.aadhaar.clone());
            }
        }
        match self.accounts.entry(p.aadhaar.clone()) {
            dashmap::Entry::Occupied(_) => {
                self.taken.remove(lower);
                Err(ApiError::rule(
                    "txnId",
                    "hpr-account-exists",
                    "this professional already has an HPR account",
                ))
            }
            dashmap::Entry::Vacant(v) => {
                account.hpr_id_number = mint_number(self);
                v.insert(account.clone());
                self.log.put(kind::HPR_ACCOUNT, &p.aadhaar, &account);
                Ok(account)
            }
        }
    }

    /// The current account of a professional, if any (fixture or created).
    pub fn account(&self, aadhaar: &str) -> Option<HprAccount> {
        self.accounts.get(aadhaar).map(|a| a.clone())
    }
}

/// `kavita.rao@hpr.abdm` → `kavita.rao`.
pub(super) fn username(hpr_id: &str) -> &str {
    hpr_id.strip_suffix(DOMAIN).unwrap_or(hpr_id)
}

/// The HPR ID username rule: 3–64 characters of letters, digits, `.`, `_` and `-`, starting with
/// a letter or digit.
pub fn check_username(name: &str) -> Result<(), Rule> {
    let ok_len = (3..=64).contains(&name.len());
    let ok_chars = name.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
    let ok_start = name.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric());
    if ok_len && ok_chars && ok_start {
        Ok(())
    } else {
        Err(Rule::new(
            "hpr-id-format",
            format!("{name:?} breaks the HPR ID rule: 3-64 characters of letters, digits, '.', '_' or '-', starting with a letter or digit"),
        ))
    }
}

pub(super) fn token() -> String {
    format!("hpr.{}", Uuid::new_v4().simple())
}

/// One step of the flow on the transaction named by the body's `txnId`; see [`flow`].
pub(super) fn advance<R>(
    hpr: &HprState,
    sh: &Shared,
    body: &JsonBody,
    allowed: &[Step],
    action: &str,
    f: impl FnOnce(&mut HprTxn, Millis) -> ApiResult<R>,
) -> ApiResult<(Uuid, R)> {
    let id = body.txn_id("txnId")?;
    let now = sh.clock.now();
    let out = hpr.txns.advance(id, now, Guard { field: "txnId", allowed, action }, |txn| f(txn, now))?;
    Ok((id, out))
}

/// A fresh 14-digit HPR ID number, `71-NNNN-NNNN-NNNN`, not used by any account.
fn mint_number(hpr: &HprState) -> String {
    loop {
        let n: u64 = rand::random::<u64>() % 1_000_000_000_000;
        let number = checks::dashed14(&format!("71{n:012}"));
        if hpr.numbers.insert(number.clone()) {
            return number;
        }
    }
}
