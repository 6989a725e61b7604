//! The settings sections as the file writes them, with their defaults. They are also the
//! validated settings: [`super::validate`] checks them in place.

use std::path::PathBuf;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[serde(default)]
pub struct ServerSettings {
    pub bind: String,
    pub public_url: String,
    /// Largest accepted JSON body, in bytes.
    pub body_limit: usize,
    /// Seconds to finish in-flight requests after SIGTERM.
    pub shutdown_timeout_secs: u64,
    /// HTTP worker threads; absent: [`ServerSettings::http_workers`] decides.
    pub workers: Option<usize>,
    /// The header a reverse proxy in front writes the client's address into (`X-Real-IP`,
    /// `X-Forwarded-For`: its last address); without it, the connection's own address.
    pub client_ip_header: Option<String>,
}

impl Default for ServerSettings {
    fn default() -> Self {
        Self {
            bind: "127.0.0.1:8080".into(),
            public_url: "http://127.0.0.1:8080".into(),
            body_limit: 64 * 1024,
            shutdown_timeout_secs: 30,
            workers: None,
            client_ip_header: None,
        }
    }
}

impl ServerSettings {
    /// The HTTP worker threads to run: `workers` when set, else half the machine's cores (at
    /// least one).
    ///
    /// Each worker is an event loop serving any number of connections, and most of a
    /// request's time is a wait for Redis: a worker spends about half the CPU per earn that
    /// Redis does, so one keeps up with a Redis (a program's scripts all run on one Redis
    /// node). More workers than that only compete for the cores with Redis, when it runs on
    /// the same machine, and with the outbound workers. On the 2-core bench machine, with Redis and the load generator on
    /// it too, one worker against two (two runs each): 15,800 and 15,600 earns/s at 32
    /// connections against 13,900 and 11,500, p99 4.96 and 4.95 ms against 5.07 and 6.10.
    pub fn http_workers(&self) -> usize {
        self.workers.unwrap_or_else(|| {
            std::thread::available_parallelism().map_or(1, |cores| (cores.get() / 2).max(1))
        })
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[serde(default)]
pub struct RedisSettings {
    /// May carry a password, so it is kept secret.
    pub url: SecretString,
    pub key_prefix: String,
    /// Start a local `redis-server` when nothing answers at `url`.
    pub embedded: bool,
    /// Where the embedded server keeps its append-only file.
    pub data_dir: PathBuf,
    /// Upper bound for any single Redis call made while serving a request.
    pub timeout_ms: u64,
    /// Redis Cluster: the nodes to discover the cluster from (`url` is then ignored). Secret:
    /// the URLs may hold a password.
    pub cluster_nodes: Vec<SecretString>,
    /// An acknowledged write is first confirmed by this many replicas (`WAIT`); 0 does not wait.
    pub min_replicas_acked: u32,
    /// How long to wait for those replicas before answering 503.
    pub replica_ack_timeout_ms: u64,
}

impl Default for RedisSettings {
    fn default() -> Self {
        Self {
            url: SecretString::from("redis://127.0.0.1:6379/0"),
            key_prefix: "loyalty".into(),
            embedded: false,
            data_dir: PathBuf::from("data"),
            timeout_ms: 2000,
            cluster_nodes: Vec::new(),
            min_replicas_acked: 0,
            replica_ack_timeout_ms: 500,
        }
    }
}

impl RedisSettings {
    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms)
    }

    pub fn replica_ack_timeout(&self) -> Duration {
        Duration::from_millis(self.replica_ack_timeout_ms)
    }

    pub fn is_cluster(&self) -> bool {
        !self.cluster_nodes.is_empty()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProviderKind {
    Console,
    Twilio,
    Telnyx,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[serde(default)]
pub struct SmsSettings {
    pub provider: ProviderKind,
    /// Segments per second per sending number.
    pub messages_per_second: f64,
    pub burst: u32,
    /// `check` fails when a template can exceed this many segments.
    pub max_segments: u32,
    /// Replace look-alike characters (curly quotes, dashes, NBSP) with GSM-7 ones.
    pub smart_encoding: bool,
    /// Provider HTTP timeout.
    pub http_timeout_ms: u64,
    /// How long a claimed message may stay unacknowledged before another worker takes it over.
    pub visibility_timeout_ms: u64,
    /// Delay before each retry, in seconds; the message is dead-lettered after the last one.
    pub retry_schedule_secs: Vec<u64>,
    /// Most sends in flight per process.
    pub max_in_flight: usize,
    /// Most reply texts a member can cause per hour (STOP confirmations are exempt).
    pub max_replies_per_hour: u32,
    /// Inbound texts processed per phone number per minute (STOP is always processed).
    pub inbound_per_minute: u32,
    /// What one segment costs, in the program's currency: for campaign cost previews.
    pub price_per_segment: rust_decimal::Decimal,
    pub twilio: TwilioSettings,
    pub telnyx: TelnyxSettings,
}

impl Default for SmsSettings {
    fn default() -> Self {
        Self {
            provider: ProviderKind::Console,
            messages_per_second: 1.0,
            burst: 1,
            max_segments: 3,
            smart_encoding: true,
            http_timeout_ms: 10_000,
            visibility_timeout_ms: 30_000,
            retry_schedule_secs: vec![5, 30, 120, 600, 1800, 3600],
            max_in_flight: 16,
            max_replies_per_hour: 10,
            inbound_per_minute: 10,
            price_per_segment: rust_decimal::Decimal::new(83, 4),
            twilio: TwilioSettings::default(),
            telnyx: TelnyxSettings::default(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[serde(default)]
pub struct TwilioSettings {
    pub base_url: String,
    pub account_sid: String,
    pub auth_token: SecretString,
}

impl Default for TwilioSettings {
    fn default() -> Self {
        Self {
            base_url: "https://api.twilio.com".into(),
            account_sid: String::new(),
            auth_token: SecretString::from(""),
        }
    }
}

impl TwilioSettings {
    /// The webhook is live only with a token to check signatures against.
    pub fn webhook_enabled(&self) -> bool {
        !self.auth_token.expose_secret().is_empty()
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[serde(default)]
pub struct TelnyxSettings {
    pub base_url: String,
    pub api_key: SecretString,
    pub public_key: String,
}

impl Default for TelnyxSettings {
    fn default() -> Self {
        Self {
            base_url: "https://api.telnyx.com".into(),
            api_key: SecretString::from(""),
            public_key: String::new(),
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
#[serde(default)]
pub struct TemplateSettings {
    /// Files here override or add to the built-in templates (`{dir}/{locale}/{name}.txt`).
    pub dir: Option<PathBuf>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[serde(default)]
pub struct LedgerSettings {
    /// How long a receipt stays replayable and reversible.
    pub receipt_retention_days: u64,
    /// How long an outbound message record is kept.
    pub message_retention_days: u64,
}

impl Default for LedgerSettings {
    fn default() -> Self {
        Self {
            receipt_retention_days: 400,
            message_retention_days: 30,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// JSON when standard error is not a terminal, human-readable when it is.
    #[default]
    Auto,
    Json,
    Pretty,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[serde(default)]
pub struct LogSettings {
    pub format: LogFormat,
    /// A `tracing` filter (`info`, `loyalty_gateway=debug`); `RUST_LOG` wins when set.
    pub level: String,
}

impl Default for LogSettings {
    fn default() -> Self {
        Self {
            format: LogFormat::Auto,
            level: "info".into(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[serde(default)]
pub struct CampaignSettings {
    /// Marketing texts a member may receive per `cap_window`.
    pub max_per_member: u32,
    pub cap_window: crate::domain::Period,
    /// Every http(s) URL of a campaign body becomes a short tracked link per recipient.
    pub track_links: bool,
    /// A campaign pauses itself when carriers filter more than this share of its texts.
    pub pause_on_filtered_percent: f64,
}

impl Default for CampaignSettings {
    fn default() -> Self {
        Self {
            max_per_member: 1,
            cap_window: crate::domain::Period::from_secs(86_400),
            track_links: false,
            pause_on_filtered_percent: 5.0,
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
#[serde(default)]
pub struct LinkSettings {
    /// Short links are `{base_url}/l/{token}`; default `server.public_url`.
    pub base_url: Option<String>,
}
