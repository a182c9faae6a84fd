//! The one flow guard. Every flow (HPR registration, ABHA enrolment, PHR address creation, the
//! gateway's user auth) is a state machine keyed by its transaction id, and every step of every
//! flow goes through [`Store::advance`]: the transaction exists, has not expired, is not locked by
//! wrong OTPs, is at one of the steps the action is allowed from; only then does the step's own
//! code run, in the same visit to the store, and move it on. A step that must refuse (a wrong OTP,
//! a taken name) refuses inside that visit, so no handler goes back to the store a second time.

use uuid::Uuid;

use crate::clock::Millis;
use crate::error::{ApiError, ApiResult};
use crate::store::Store;

/// A position in a flow, described for error messages.
pub trait Step: Copy + PartialEq {
    /// Where the transaction is and what comes next: `"Aadhaar OTP sent (verify it next)"`.
    fn describe(self) -> &'static str;
}

/// A transaction of a flow: the step it is at, and whether wrong OTPs have locked it.
pub trait Txn {
    /// The flow's steps.
    type Step: Step;
    /// How to start again once locked: `"start again with generateOtp"`.
    const RESTART: &'static str;
    /// The step the transaction is at.
    fn step(&self) -> Self::Step;
    /// Whether too many wrong OTPs have locked it.
    fn locked(&self) -> bool {
        false
    }
}

/// What a step needs: the request field that carries the transaction id, the steps the action is
/// allowed from, and the action in words (`"verifying the Aadhaar OTP"`).
#[derive(Debug, Clone, Copy)]
pub struct Guard<'a, S> {
    /// The request field holding the transaction id (`txnId`, `transactionId`).
    pub field: &'a str,
    /// The steps the action may be taken from.
    pub allowed: &'a [S],
    /// The action, for messages.
    pub action: &'a str,
}

impl<S: Step> Guard<'_, S> {
    /// Refuses a transaction that is locked or at a step the action is not allowed from.
    pub fn check<T: Txn<Step = S>>(&self, txn: &T) -> ApiResult<()> {
        if txn.locked() {
            return Err(ApiError::too_many(
                self.field,
                "otp-locked",
                format!("too many wrong OTPs; the transaction is locked, {}", T::RESTART),
            ));
        }
        if self.allowed.contains(&txn.step()) {
            return Ok(());
        }
        let needs: Vec<&str> = self.allowed.iter().map(|s| s.describe()).collect();
        Err(ApiError::rule(
            self.field,
            "step-order",
            format!(
                "{action} is not allowed now: the transaction is at '{}', {action} needs '{}'",
                txn.step().describe(),
                needs.join("' or '"),
                action = self.action,
            ),
        ))
    }
}

impl<T: Txn> Store<T> {
    /// One step of a flow: guards the transaction (see the module doc), then runs `f` on it. The
    /// transaction's lifetime is renewed when `f` succeeds.
    pub fn advance<R>(
        &self,
        id: Uuid,
        now: Millis,
        guard: Guard<'_, T::Step>,
        f: impl FnOnce(&mut T) -> ApiResult<R>,
    ) -> ApiResult<R> {
        self.step(id, guard.field, now, |txn| {
            guard.check(txn)?;
            f(txn)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Clone, Copy, PartialEq)]
    enum S {
        A,
        B,
    }

    impl Step for S {
        fn describe(self) -> &'static str {
            match self {
                S::A => "at A",
                S::B => "at B",
            }
        }
    }

    struct T {
        step: S,
        locked: bool,
    }

    impl Txn for T {
        type Step = S;
        const RESTART: &'static str = "start again";
        fn step(&self) -> S {
            self.step
        }
        fn locked(&self) -> bool {
            self.locked
        }
    }

    #[test]
    fn the_guard_checks_lock_then_step_then_runs_the_step() {
        let store = Store::default();
        let id = store.insert(T { step: S::A, locked: false }, 0);
        let to_b = Guard { field: "txnId", allowed: &[S::A], action: "moving to B" };
        store
            .advance(id, 1, to_b, |t| {
                t.step = S::B;
                Ok(())
            })
            .unwrap();
        let e = store.advance(id, 2, to_b, |_| Ok(())).unwrap_err();
        assert_eq!((e.rule, e.status.as_u16()), ("step-order", 422));
        assert!(e.message.contains("is at 'at B'") && e.message.contains("needs 'at A'"), "{}", e.message);
        store.update(id, |t| t.locked = true);
        let any = Guard { field: "txnId", allowed: &[S::A, S::B], action: "anything" };
        let e = store.advance(id, 3, any, |_| Ok(())).unwrap_err();
        assert_eq!((e.rule, e.status.as_u16()), ("otp-locked", 429));
        assert!(e.message.ends_with("start again"));
        let e = store.advance(Uuid::new_v4(), 3, any, |_| Ok(())).unwrap_err();
        assert_eq!(e.rule, "txn-unknown");
    }
}
