//! Process metrics in the Prometheus text format.
//!
//! A handful of counters kept with atomics; the exposition format is simple enough that a
//! metrics library would add more than it saves.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Debug, Default)]
pub struct Metrics {
    pub earns: AtomicU64,
    pub earn_replays: AtomicU64,
    pub redemptions: AtomicU64,
    pub reversals: AtomicU64,
    pub messages_sent: AtomicU64,
    pub messages_failed: AtomicU64,
    pub messages_retried: AtomicU64,
    pub messages_suppressed: AtomicU64,
    pub segments_sent: AtomicU64,
    pub inbound_messages: AtomicU64,
}

impl Metrics {
    pub fn inc(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub fn render(&self) -> String {
        let rows: [(&str, &str, &AtomicU64); 10] = [
            ("loyalty_earns_total", "Earns credited", &self.earns),
            (
                "loyalty_earn_replays_total",
                "Earn requests answered from the idempotency record",
                &self.earn_replays,
            ),
            (
                "loyalty_redemptions_total",
                "Redemptions",
                &self.redemptions,
            ),
            (
                "loyalty_reversals_total",
                "Reversals (refunds)",
                &self.reversals,
            ),
            (
                "loyalty_messages_sent_total",
                "Texts accepted by the provider",
                &self.messages_sent,
            ),
            (
                "loyalty_messages_failed_total",
                "Texts given up on",
                &self.messages_failed,
            ),
            (
                "loyalty_messages_retried_total",
                "Send attempts scheduled for retry",
                &self.messages_retried,
            ),
            (
                "loyalty_messages_suppressed_total",
                "Texts not sent because of the member's status",
                &self.messages_suppressed,
            ),
            (
                "loyalty_segments_sent_total",
                "SMS segments sent",
                &self.segments_sent,
            ),
            (
                "loyalty_inbound_messages_total",
                "Inbound texts processed",
                &self.inbound_messages,
            ),
        ];
        let mut out = String::new();
        for (name, help, counter) in rows {
            let _ = writeln!(out, "# HELP {name} {help}");
            let _ = writeln!(out, "# TYPE {name} counter");
            let _ = writeln!(out, "{name} {}", counter.load(Ordering::Relaxed));
        }
        out
    }
}
