//! One-time passwords: the rules every OTP in every flow follows, and the outbox where the fake
//! "sends" them (read back through `GET /_sandbox/outbox`).
//!
//! ABDM's rules as simulated here: an OTP is valid for 10 minutes; it may be resent only 60 s
//! after the last send, at most [`MAX_RESENDS`] times per transaction; a wrong OTP is counted and
//! after [`MAX_WRONG`] wrong tries the transaction is locked and must be started again.

use std::collections::VecDeque;
use std::sync::Mutex;

use serde::Serialize;
use uuid::Uuid;

use crate::clock::{iso, Millis, MINUTE, SECOND};
use crate::error::{ApiError, ApiResult};

pub const OTP_VALIDITY: Millis = 10 * MINUTE;
pub const RESEND_AFTER: Millis = 60 * SECOND;
pub const MAX_WRONG: u32 = 5;
pub const MAX_RESENDS: u32 = 3;

#[derive(Debug, Clone)]
pub struct Otp {
    code: String,
    /// Where it was sent (an unmasked mobile number or e-mail address).
    pub to: String,
    sent_at: Millis,
    resends: u32,
    wrong: u32,
    used: bool,
}

impl Otp {
    pub fn new(code: &str, to: &str, now: Millis) -> Self {
        Otp { code: code.to_string(), to: to.to_string(), sent_at: now, resends: 0, wrong: 0, used: false }
    }

    /// A new OTP in the same transaction (to another contact, or for the next step): the wrong
    /// tries so far still count towards the lock.
    pub fn reissue(&mut self, code: &str, to: &str, now: Millis) {
        let wrong = self.wrong;
        *self = Otp::new(code, to, now);
        self.wrong = wrong;
    }

    /// Whether the transaction holding this OTP is locked by too many wrong tries.
    pub fn locked(&self) -> bool {
        self.wrong >= MAX_WRONG
    }

    /// Checks a submitted OTP. `field` names the request field it came in.
    pub fn verify(&mut self, given: &str, now: Millis, field: &str) -> ApiResult<()> {
        if self.locked() {
            return Err(ApiError::too_many(
                field,
                "otp-locked",
                format!("{MAX_WRONG} wrong OTPs were entered; the transaction is locked, start again"),
            ));
        }
        if self.used {
            return Err(ApiError::rule(field, "otp-used", "this OTP was already used"));
        }
        if now - self.sent_at >= OTP_VALIDITY {
            return Err(ApiError::rule(
                field,
                "otp-expired",
                "the OTP has expired (valid for 10 minutes); request a new one",
            ));
        }
        if given != self.code {
            self.wrong += 1;
            let left = MAX_WRONG - self.wrong;
            return Err(if left == 0 {
                ApiError::too_many(
                    field,
                    "otp-locked",
                    format!("wrong OTP; {MAX_WRONG} wrong OTPs were entered, the transaction is locked"),
                )
            } else {
                ApiError::rule(field, "otp-mismatch", format!("wrong OTP, {left} attempts left"))
            });
        }
        self.used = true;
        Ok(())
    }

    /// A resend of the same OTP: allowed 60 s after the last send, at most `MAX_RESENDS` times.
    pub fn resend(&mut self, now: Millis, field: &str) -> ApiResult<()> {
        if self.locked() {
            return Err(ApiError::too_many(field, "otp-locked", "the transaction is locked, start again"));
        }
        let wait = self.sent_at + RESEND_AFTER - now;
        if wait > 0 {
            return Err(ApiError::too_many(
                field,
                "otp-resend-too-soon",
                format!("an OTP can be resent 60 s after the last one; wait {} s", (wait + 999) / 1000),
            ));
        }
        if self.resends >= MAX_RESENDS {
            return Err(ApiError::too_many(
                field,
                "otp-resend-limit",
                format!("the OTP was already resent {MAX_RESENDS} times; start again"),
            ));
        }
        self.resends += 1;
        self.sent_at = now;
        self.used = false;
        Ok(())
    }
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OutboxMessage {
    pub txn_id: Uuid,
    pub otp: String,
    /// The destination, masked as the SMS gateway's receipt shows it.
    pub to: String,
    pub at: String,
    pub purpose: &'static str,
}

/// The OTP messages the fake "sent", oldest first; bounded so memory stays flat.
pub struct Outbox {
    messages: Mutex<VecDeque<OutboxMessage>>,
    capacity: usize,
}

impl Outbox {
    pub fn new(capacity: usize) -> Self {
        Outbox { messages: Mutex::new(VecDeque::new()), capacity: capacity.max(1) }
    }

    pub fn send(&self, txn_id: Uuid, otp: &Otp, purpose: &'static str) {
        let msg = OutboxMessage {
            txn_id,
            otp: otp.code.clone(),
            to: crate::checks::mask(&otp.to, 4),
            at: iso(otp.sent_at),
            purpose,
        };
        let mut q = self.messages.lock().unwrap_or_else(|e| e.into_inner());
        if q.len() == self.capacity {
            q.pop_front();
        }
        q.push_back(msg);
    }

    pub fn list(&self, txn_id: Option<Uuid>) -> Vec<OutboxMessage> {
        let q = self.messages.lock().unwrap_or_else(|e| e.into_inner());
        q.iter().filter(|m| txn_id.is_none_or(|t| m.txn_id == t)).cloned().collect()
    }

    pub fn clear(&self) {
        self.messages.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrong_otps_lock_after_five() {
        let mut otp = Otp::new("123456", "9876543210", 0);
        for left in (1..MAX_WRONG).rev() {
            let e = otp.verify("000000", 1, "otp").unwrap_err();
            assert_eq!(
                (e.rule, e.message.contains(&format!("{left} attempts left"))),
                ("otp-mismatch", true)
            );
        }
        assert_eq!(otp.verify("000000", 1, "otp").unwrap_err().rule, "otp-locked");
        assert_eq!(otp.verify("123456", 1, "otp").unwrap_err().rule, "otp-locked");
    }

    #[test]
    fn a_reissued_otp_keeps_the_wrong_count() {
        let mut otp = Otp::new("123456", "9876543210", 0);
        for _ in 0..4 {
            let _ = otp.verify("000000", 1, "otp");
        }
        otp.reissue("123456", "9000000000", 2);
        assert_eq!(otp.verify("000000", 3, "otp").unwrap_err().rule, "otp-locked");
    }

    #[test]
    fn expiry_and_resend_timing() {
        let mut otp = Otp::new("123456", "9876543210", 0);
        assert_eq!(otp.resend(59 * SECOND, "txnId").unwrap_err().rule, "otp-resend-too-soon");
        otp.resend(60 * SECOND, "txnId").unwrap();
        assert_eq!(otp.verify("123456", 60 * SECOND + OTP_VALIDITY, "otp").unwrap_err().rule, "otp-expired");
        otp.verify("123456", 61 * SECOND, "otp").unwrap();
        assert_eq!(otp.verify("123456", 62 * SECOND, "otp").unwrap_err().rule, "otp-used");
    }
}
