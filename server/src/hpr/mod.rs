//! HPR ID registration (Healthcare Professional Registry): one state machine served under ABDM's
//! paths (`/hpr/api/v1|v2/registration/aadhaar/...`) and, through [`crate::carestack`], under the
//! Carestack EHR API's paths. Responses carry the union of the field names both clients read
//! (for example `mobile` and `mobileNumber`), so one handler serves both.
//!
//! The flow, keyed by `txnId`:
//!
//! ```text
//! generateOtp ─▶ verifyOTP ─▶ checkHpIdAccountExist ─┬─▶ (account exists: flow ends)
//!                                                    └─▶ demographicAuthViaMobile ─┬─ verified ─────────────┐
//!                                                        generateMobileOTP ◀───────┘ not verified           ▼
//!                                                          └─▶ verifyMobileOTP ─────────▶ hpid/suggestion ─▶ createHprIdWithPreVerified
//! ```
//!
//! [`txn`] holds the transactions and accounts, [`steps`] the steps up to suggestions,
//! [`create`] the last one, [`routes`] the one route table both path sets are built from.

pub mod create;
pub mod routes;
pub mod steps;
pub mod txn;
