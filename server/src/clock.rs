//! The virtual clock every rule reads: real time plus an offset that the control API can move
//! forward (`POST /_sandbox/clock/advance`), so OTP expiry and the 60 s resend rule can be tested
//! without waiting.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use chrono::{DateTime, SecondsFormat, Utc};

/// Milliseconds since the Unix epoch, in virtual time.
pub type Millis = i64;

/// One second in [`Millis`].
pub const SECOND: Millis = 1_000;
/// One minute in [`Millis`].
pub const MINUTE: Millis = 60 * SECOND;

/// One sandbox's virtual clock. Clones share the same time (the journal and the flows hold one).
#[derive(Debug, Default, Clone)]
pub struct Clock {
    offset: Arc<AtomicI64>,
}

impl Clock {
    /// Now, in virtual time.
    pub fn now(&self) -> Millis {
        let real = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0);
        real + self.offset.load(Ordering::Relaxed)
    }

    /// Moves virtual time forward; returns the new offset.
    pub fn advance(&self, by: Millis) -> Millis {
        self.offset.fetch_add(by, Ordering::Relaxed) + by
    }

    /// How far virtual time is ahead of real time.
    pub fn offset(&self) -> Millis {
        self.offset.load(Ordering::Relaxed)
    }

    /// Virtual time back to real time.
    pub fn reset(&self) {
        self.offset.store(0, Ordering::Relaxed);
    }
}

/// ISO-8601 UTC with milliseconds, as ABDM writes timestamps: `2026-11-26T10:00:00.000Z`.
pub fn iso(at: Millis) -> String {
    DateTime::<Utc>::from_timestamp_millis(at)
        .unwrap_or_default()
        .to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// A date-time read as UTC: RFC 3339 with `Z` or an offset, or without a zone (as the gateway
/// writes its own timestamps), in milliseconds.
pub fn parse_utc(ts: &str) -> Option<Millis> {
    if let Ok(t) = DateTime::parse_from_rfc3339(ts) {
        return Some(t.timestamp_millis());
    }
    chrono::NaiveDateTime::parse_from_str(ts, "%Y-%m-%dT%H:%M:%S%.f")
        .ok()
        .map(|t| t.and_utc().timestamp_millis())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advance_moves_now_forward() {
        let clock = Clock::default();
        let before = clock.now();
        clock.advance(61 * SECOND);
        assert!(clock.now() - before >= 61 * SECOND);
        clock.reset();
        assert_eq!(clock.offset(), 0);
    }

    #[test]
    fn iso_format() {
        assert_eq!(iso(0), "1970-01-01T00:00:00.000Z");
    }
}
