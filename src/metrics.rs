//! Process metrics, recorded through the `metrics` facade and exposed by its Prometheus exporter
//! at `GET /metrics`.
//!
//! Every application owns its recorder instead of installing a process-wide one: two gateways
//! in one process (the test suite runs dozens) keep their own figures, and nothing depends on
//! which one started first. Handles are looked up in the recorder's registry by name and
//! labels, so a label set costs one hash lookup per update.
//!
//! What is counted where it happens: HTTP requests (by route template, method and status, with
//! a latency histogram), Redis calls (latency by operation, errors by kind), sends (by provider
//! and outcome), waits for the shared send rate, inbound texts by command. What is a state of
//! Redis (queue depths, dead letters) is read when Prometheus scrapes, see
//! [`crate::routes::health`].

use std::time::Duration;

use metrics::{Key, Label, Level, Metadata, Recorder, Unit};
use metrics_exporter_prometheus::{
    Matcher, PrometheusBuilder, PrometheusHandle, PrometheusRecorder,
};

/// Buckets for request and Redis latencies: 0.25 ms to 10 s.
const LATENCY_BUCKETS: [f64; 14] = [
    0.000_25, 0.000_5, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

const METADATA: Metadata<'static> = Metadata::new(module_path!(), Level::INFO, None);

/// What became of one send attempt, as a label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendOutcome {
    Sent,
    /// A transient failure; another attempt is scheduled.
    Retry,
    /// Given up on after the last retry.
    Dead,
    /// The provider refused it for good (bad number, template error, no sending number).
    Failed,
    /// The carrier says the recipient opted out.
    OptedOut,
    /// Not attempted: the member's status forbids it.
    Suppressed,
}

impl SendOutcome {
    fn as_str(self) -> &'static str {
        match self {
            Self::Sent => "sent",
            Self::Retry => "retry",
            Self::Dead => "dead",
            Self::Failed => "failed",
            Self::OptedOut => "opted_out",
            Self::Suppressed => "suppressed",
        }
    }
}

/// How a Redis call failed, as a label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RedisFailure {
    /// Down, too slow, or not serving yet (the caller answered 503).
    Unavailable,
    /// An error reply or an unreadable answer.
    Unexpected,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Counter,
    Gauge,
    Histogram,
}

/// Every metric the gateway exposes, with its help text (`docs/grafana-dashboard.json` charts
/// each one; a test holds the two together).
pub const CATALOGUE: &[(&str, Kind, &str)] = &[
    (
        "loyalty_http_requests_total",
        Kind::Counter,
        "HTTP requests answered, by route template, method and status",
    ),
    (
        "loyalty_http_request_duration_seconds",
        Kind::Histogram,
        "HTTP request latency, by route template and method",
    ),
    ("loyalty_earns_total", Kind::Counter, "Earns credited"),
    (
        "loyalty_earn_replays_total",
        Kind::Counter,
        "Earn requests answered from the idempotency record",
    ),
    ("loyalty_redemptions_total", Kind::Counter, "Redemptions"),
    (
        "loyalty_reversals_total",
        Kind::Counter,
        "Reversals (refunds)",
    ),
    (
        "loyalty_sends_total",
        Kind::Counter,
        "Outbound texts handled, by provider and outcome",
    ),
    (
        "loyalty_segments_sent_total",
        Kind::Counter,
        "SMS segments accepted by the provider",
    ),
    (
        "loyalty_send_rate_wait_duration_seconds",
        Kind::Histogram,
        "How long sends waited for their slot of the shared send rate",
    ),
    (
        "loyalty_send_rate_deferrals_total",
        Kind::Counter,
        "Sends put back because their slot of the shared send rate was too far away",
    ),
    (
        "loyalty_send_slots_missed_total",
        Kind::Counter,
        "Sends that took a new slot of the shared send rate because the process was held up past theirs",
    ),
    (
        "loyalty_inbound_messages_total",
        Kind::Counter,
        "Inbound texts processed, by command",
    ),
    (
        "loyalty_inbound_ignored_total",
        Kind::Counter,
        "Inbound texts ignored, by reason",
    ),
    (
        "loyalty_redis_call_duration_seconds",
        Kind::Histogram,
        "Redis call latency (a script's name, command or pipeline)",
    ),
    (
        "loyalty_redis_errors_total",
        Kind::Counter,
        "Failed Redis calls, by operation and kind",
    ),
    (
        "loyalty_redis_up",
        Kind::Gauge,
        "1 when Redis answered the last scrape",
    ),
    (
        "loyalty_outbox_depth",
        Kind::Gauge,
        "Texts in the outbox stream, not yet finished",
    ),
    (
        "loyalty_outbox_delayed",
        Kind::Gauge,
        "Texts waiting for a retry, quiet hours or their send slot",
    ),
    (
        "loyalty_outbox_dead_letters",
        Kind::Gauge,
        "Texts given up on, waiting for a requeue",
    ),
    (
        "loyalty_automations_due",
        Kind::Gauge,
        "Automation triggers scheduled",
    ),
    (
        "loyalty_webhook_queue_depth",
        Kind::Gauge,
        "Events waiting for delivery, by endpoint",
    ),
    (
        "loyalty_webhook_delayed",
        Kind::Gauge,
        "Events waiting for a retry, by endpoint",
    ),
    (
        "loyalty_webhook_dead_letters",
        Kind::Gauge,
        "Events given up on, by endpoint",
    ),
];

pub struct Metrics {
    recorder: PrometheusRecorder,
    handle: PrometheusHandle,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

/// `name` with `labels`, the key a handle is registered under.
fn key(name: &'static str, labels: &[(&'static str, &str)]) -> Key {
    let labels: Vec<Label> = labels
        .iter()
        .map(|(k, v)| Label::new(*k, (*v).to_owned()))
        .collect();
    Key::from_parts(name, labels)
}

impl Metrics {
    pub fn new() -> Self {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(
                Matcher::Suffix("_duration_seconds".into()),
                &LATENCY_BUCKETS,
            )
            .expect("the latency buckets are not empty")
            .build_recorder();
        let handle = recorder.handle();
        let metrics = Self { recorder, handle };
        metrics.describe();
        metrics
    }

    fn describe(&self) {
        for &(name, kind, help) in CATALOGUE {
            let unit = name.ends_with("_seconds").then_some(Unit::Seconds);
            match kind {
                Kind::Counter => self
                    .recorder
                    .describe_counter(name.into(), unit, help.into()),
                Kind::Gauge => self.recorder.describe_gauge(name.into(), unit, help.into()),
                Kind::Histogram => self
                    .recorder
                    .describe_histogram(name.into(), unit, help.into()),
            }
        }
    }

    fn count(&self, name: &'static str, labels: &[(&'static str, &str)], n: u64) {
        self.recorder
            .register_counter(&key(name, labels), &METADATA)
            .increment(n);
    }

    fn observe(&self, name: &'static str, labels: &[(&'static str, &str)], took: Duration) {
        self.recorder
            .register_histogram(&key(name, labels), &METADATA)
            .record(took.as_secs_f64());
    }

    /// Sets a gauge read from Redis at scrape time.
    pub fn set(&self, name: &'static str, labels: &[(&'static str, &str)], value: f64) {
        self.recorder
            .register_gauge(&key(name, labels), &METADATA)
            .set(value);
    }

    /// One answered HTTP request; `route` is the matched template (`/v1/members/{phone}`), so
    /// phone numbers never become label values.
    pub fn http_request(&self, route: &str, method: &str, status: u16, took: Duration) {
        let status = status.to_string();
        self.count(
            "loyalty_http_requests_total",
            &[("route", route), ("method", method), ("status", &status)],
            1,
        );
        self.observe(
            "loyalty_http_request_duration_seconds",
            &[("route", route), ("method", method)],
            took,
        );
    }

    pub fn earn(&self, replay: bool) {
        let name = if replay {
            "loyalty_earn_replays_total"
        } else {
            "loyalty_earns_total"
        };
        self.count(name, &[], 1);
    }

    pub fn redemption(&self) {
        self.count("loyalty_redemptions_total", &[], 1);
    }

    pub fn reversal(&self) {
        self.count("loyalty_reversals_total", &[], 1);
    }

    /// One send attempt's outcome; `segments` counts only when the provider took the text.
    pub fn send(&self, provider: &str, outcome: SendOutcome, segments: u32) {
        self.count(
            "loyalty_sends_total",
            &[("provider", provider), ("outcome", outcome.as_str())],
            1,
        );
        if outcome == SendOutcome::Sent {
            self.count(
                "loyalty_segments_sent_total",
                &[("provider", provider)],
                u64::from(segments),
            );
        }
    }

    /// A send waited `wait` for its slot of the shared send rate (zero: it did not wait).
    pub fn send_rate_wait(&self, wait: Duration) {
        self.observe("loyalty_send_rate_wait_duration_seconds", &[], wait);
    }

    /// A send was put back because its slot of the shared send rate was too far away.
    pub fn send_rate_deferral(&self) {
        self.count("loyalty_send_rate_deferrals_total", &[], 1);
    }

    /// A send took a new slot of the shared send rate: the process was held up past its own.
    pub fn send_slot_missed(&self) {
        self.count("loyalty_send_slots_missed_total", &[], 1);
    }

    pub fn inbound(&self, command: &str) {
        self.count("loyalty_inbound_messages_total", &[("command", command)], 1);
    }

    pub fn inbound_ignored(&self, reason: &str) {
        self.count("loyalty_inbound_ignored_total", &[("reason", reason)], 1);
    }

    /// One Redis call: its latency, and its failure if it failed.
    pub fn redis_call(&self, op: &'static str, took: Duration, failure: Option<RedisFailure>) {
        self.observe("loyalty_redis_call_duration_seconds", &[("op", op)], took);
        if let Some(failure) = failure {
            let kind = match failure {
                RedisFailure::Unavailable => "unavailable",
                RedisFailure::Unexpected => "unexpected",
            };
            self.count(
                "loyalty_redis_errors_total",
                &[("op", op), ("kind", kind)],
                1,
            );
        }
    }

    /// The Prometheus text exposition of everything recorded.
    pub fn render(&self) -> String {
        self.handle.run_upkeep();
        self.handle.render()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The metric names a PromQL expression uses, histogram series folded into their metric.
    fn names_in(expr: &str) -> Vec<String> {
        let re = regex::Regex::new(r"loyalty_[a-z0-9_]+").unwrap();
        re.find_iter(expr)
            .map(|m| {
                let name = m.as_str();
                ["_bucket", "_count", "_sum"]
                    .iter()
                    .find_map(|suffix| name.strip_suffix(suffix))
                    .unwrap_or(name)
                    .to_owned()
            })
            .collect()
    }

    #[test]
    fn the_grafana_dashboard_charts_every_metric_and_only_metrics_that_exist() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/grafana-dashboard.json");
        let dashboard: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let mut used = std::collections::BTreeSet::new();
        for panel in dashboard["panels"].as_array().unwrap() {
            for target in panel["targets"].as_array().unwrap() {
                used.extend(names_in(target["expr"].as_str().unwrap()));
            }
        }
        let known: std::collections::BTreeSet<String> = CATALOGUE
            .iter()
            .map(|(name, ..)| (*name).to_owned())
            .collect();
        let unknown: Vec<_> = used.difference(&known).collect();
        let uncharted: Vec<_> = known.difference(&used).collect();
        assert!(
            unknown.is_empty(),
            "the dashboard uses unknown metrics: {unknown:?}"
        );
        assert!(uncharted.is_empty(), "no panel charts: {uncharted:?}");
    }

    #[test]
    fn a_recorded_metric_is_exposed_with_its_help_and_type() {
        let metrics = Metrics::new();
        metrics.send("twilio", SendOutcome::Sent, 2);
        metrics.http_request("/v1/earn", "POST", 200, Duration::from_millis(3));
        let text = metrics.render();
        assert!(
            text.contains("# TYPE loyalty_sends_total counter"),
            "{text}"
        );
        assert!(
            text.contains("# HELP loyalty_sends_total Outbound texts handled"),
            "{text}"
        );
        assert!(
            text.contains(r#"loyalty_segments_sent_total{provider="twilio"} 2"#),
            "{text}"
        );
        // 3 ms falls in the 5 ms bucket and not in the 2 ms one.
        assert!(
            text.contains(
                r#"loyalty_http_request_duration_seconds_bucket{route="/v1/earn",method="POST",le="0.005"} 1"#
            ),
            "{text}"
        );
        assert!(
            text.contains(
                r#"loyalty_http_request_duration_seconds_bucket{route="/v1/earn",method="POST",le="0.002"} 0"#
            ),
            "{text}"
        );
    }
}
