//! Wall-clock time, behind a handle that tests can move forward.
//!
//! Reward codes expire after days and receipts after months; tests cannot wait that long, and
//! must never sleep. Every timestamp the service writes comes from a [`Clock`], which is the
//! system clock plus an offset that only tests change.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use chrono::{DateTime, TimeZone, Utc};

#[derive(Debug, Clone)]
pub struct Clock {
    offset_ms: Arc<AtomicI64>,
    /// The instant (Unix ms) the clock stands at when a test froze it, else [`RUNNING`].
    frozen_ms: Arc<AtomicI64>,
}

const RUNNING: i64 = i64::MIN;

impl Default for Clock {
    fn default() -> Self {
        Self {
            offset_ms: Arc::default(),
            frozen_ms: Arc::new(AtomicI64::new(RUNNING)),
        }
    }
}

impl Clock {
    pub fn now(&self) -> DateTime<Utc> {
        let offset = chrono::Duration::milliseconds(self.offset_ms.load(Ordering::Relaxed));
        match self.frozen_ms.load(Ordering::Relaxed) {
            RUNNING => Utc::now() + offset,
            at => Utc.timestamp_millis_opt(at).single().unwrap_or_default() + offset,
        }
    }

    /// Sets this clock (and every clone of it) to `at`, which then advances in real time
    /// (or stands there, when frozen).
    pub fn set(&self, at: DateTime<Utc>) {
        let offset = match self.frozen_ms.load(Ordering::Relaxed) {
            RUNNING => {
                // Rounded up, so that the clock never reads a moment before `at`.
                let micros = (at - Utc::now()).num_microseconds().unwrap_or(i64::MAX);
                micros.div_euclid(1000) + i64::from(micros.rem_euclid(1000) != 0)
            }
            frozen => at.timestamp_millis() - frozen,
        };
        self.offset_ms.store(offset, Ordering::Relaxed);
    }

    /// Moves this clock (and every clone of it) forward.
    pub fn advance(&self, by: chrono::Duration) {
        self.offset_ms
            .fetch_add(by.num_milliseconds(), Ordering::Relaxed);
    }

    /// Stops this clock (and every clone of it) where it is: from now on only
    /// [`Clock::advance`] and [`Clock::set`] move it, so a test that takes long under load
    /// sees no time pass.
    pub fn freeze(&self) {
        let now = Utc::now().timestamp_millis();
        let _ = self
            .frozen_ms
            .compare_exchange(RUNNING, now, Ordering::Relaxed, Ordering::Relaxed);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_frozen_clock_moves_only_when_told_and_clones_share_it() {
        let clock = Clock::default();
        let copy = clock.clone();
        clock.freeze();
        // A running clock reads a later moment at every call (nanoseconds apart).
        let at = copy.now();
        assert_eq!(clock.now(), at, "frozen");
        copy.advance(chrono::Duration::seconds(12));
        assert_eq!(clock.now(), at + chrono::Duration::seconds(12));
        let later = at + chrono::Duration::days(3);
        clock.set(later);
        assert_eq!(copy.now(), later);
    }
}
