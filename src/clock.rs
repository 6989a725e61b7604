//! Wall-clock time, behind a handle that tests can move forward.
//!
//! Reward codes expire after days and receipts after months; tests cannot wait that long, and
//! must never sleep. Every timestamp the service writes comes from a [`Clock`], which is the
//! system clock plus an offset that only tests change.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use chrono::{DateTime, TimeZone, Utc};

#[derive(Debug, Clone, Default)]
pub struct Clock {
    offset_ms: Arc<AtomicI64>,
}

impl Clock {
    pub fn now(&self) -> DateTime<Utc> {
        Utc::now() + chrono::Duration::milliseconds(self.offset_ms.load(Ordering::Relaxed))
    }

    /// Sets this clock (and every clone of it) to `at`, which then advances in real time.
    pub fn set(&self, at: DateTime<Utc>) {
        // Rounded up, so that the clock never reads a moment before `at`.
        let micros = (at - Utc::now()).num_microseconds().unwrap_or(i64::MAX);
        let offset = micros.div_euclid(1000) + i64::from(micros.rem_euclid(1000) != 0);
        self.offset_ms.store(offset, Ordering::Relaxed);
    }

    /// Moves this clock (and every clone of it) forward.
    pub fn advance(&self, by: chrono::Duration) {
        self.offset_ms
            .fetch_add(by.num_milliseconds(), Ordering::Relaxed);
    }
}

/// Unix milliseconds to RFC 3339 (UTC, millisecond precision).
pub fn rfc3339_from_ms(ms: i64) -> String {
    Utc.timestamp_millis_opt(ms)
        .single()
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .unwrap_or_default()
}

pub fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}
