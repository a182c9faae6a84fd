//! ABHA v3 enrolment by Aadhaar OTP (`/abha/api/v3/...`) and the profile it yields. The flow
//! functions ([`enrol`]) take decrypted, checked values; the v3 handlers ([`v3`]) and the
//! Carestack ABHA routes ([`crate::carestack`]) only parse their own request shapes into them.
//!
//! ```text
//! request/otp (abha-enrol, Aadhaar) ─▶ enrol/byAadhaar ─┬─▶ enrol/suggestion ─▶ enrol/abha-address
//!   (same call with the txnId: resend)                  └─▶ request/otp (mobile-verify | email-verify)
//!                                                             ─▶ auth/byAbdm ─▶ (back to suggestions)
//! ```
//!
//! Every encrypted field (Aadhaar, mobile, e-mail as `loginId`; every `otpValue`) is RSA-OAEP
//! SHA-1 with the key served at `GET /abha/api/v3/profile/public/certificate`.

pub mod enrol;
pub mod v3;
