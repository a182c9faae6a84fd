//! # abdm-conformance: the documented ABDM test cases, run step by step
//!
//! Scenario files in `scenarios/` (one per official checklist) describe exchanges between the
//! client, the gateway and a HIP. This crate loads them and runs them against the fake gateway,
//! a real gateway, a real HIP or a client's recorded traffic, reporting pass/fail per step.
