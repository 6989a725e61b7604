//! Configuration: a TOML file, overridden key by key from `LOYALTY__SECTION__KEY` variables.
//!
//! Loading happens in two steps. [`RawSettings`] mirrors the file (what serde can check); then
//! [`RawSettings::validate`] turns it into [`Settings`], checking what serde cannot: that numbers
//! are valid phone numbers, that API keys name existing programs and locations, that no number is
//! owned by two programs. Every message names the offending key and value, so an operator can fix
//! the file without reading code. Secrets are `SecretString` and never appear in `Debug` output.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use crate::domain::{keyword, LocationId, Multiplier, PhoneNumber, ProgramId, Region, RewardId};

/// The file used when neither `--config` nor `$LOYALTY_CONFIG` names one.
pub const DEFAULT_CONFIG_PATH: &str = "config/default.toml";
/// The shipped default, built into the binary so it runs from any directory.
pub const EMBEDDED_DEFAULT: &str = include_str!("../config/default.toml");

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read configuration {path}: {message}")]
    Read { path: String, message: String },
    /// A key with a wrong, missing or unknown value. `message` starts with the key's path
    /// (`programs[0].welcome_points: ...`); the display adds the environment variable that can
    /// set the key, when there is one.
    #[error("invalid configuration in {origin}: {message}{}", env_hint(.message, .from_env))]
    Invalid {
        origin: String,
        message: String,
        /// The value came from this environment variable.
        from_env: Option<String>,
    },
}

fn invalid(message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        origin: "the configuration".into(),
        message: message.into(),
        from_env: None,
    }
}

impl ConfigError {
    fn with_origin(self, new_origin: &str) -> Self {
        match self {
            Self::Invalid {
                message, from_env, ..
            } => Self::Invalid {
                origin: new_origin.to_owned(),
                message,
                from_env,
            },
            other => other,
        }
    }
}

/// The environment variable that sets `key` (`sms.twilio.auth_token` →
/// `LOYALTY__SMS__TWILIO__AUTH_TOKEN`); none for keys inside lists (`programs[0].name`).
pub fn env_var_for(key: &str) -> Option<String> {
    let valid = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.');
    valid.then(|| format!("LOYALTY__{}", key.replace('.', "__").to_ascii_uppercase()))
}

/// ` (from LOYALTY__X)` when the value came from the environment, else ` (or set LOYALTY__X)`
/// when the key at the start of `message` can be set from the environment.
fn env_hint(message: &str, from_env: &Option<String>) -> String {
    if let Some(var) = from_env {
        return format!(" (the value comes from {var})");
    }
    let key = message.split(':').next().unwrap_or("");
    match env_var_for(key) {
        Some(var) if key.contains('.') => format!(" (in the file, or with {var})"),
        _ => String::new(),
    }
}

/// `programs[0]tenders[0]multiplier` (the config crate) and `programs.0.welcome_point` (serde)
/// both become `programs[0].tenders[0].multiplier`, the one path syntax of every message.
fn key_path(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len() + 4);
    for part in raw.split('.').filter(|p| !p.is_empty()) {
        if part.chars().all(|c| c.is_ascii_digit()) {
            out.push_str(&format!("[{part}]"));
            continue;
        }
        let mut rest = part;
        while !rest.is_empty() {
            let (name, tail) = rest.split_at(rest.find('[').unwrap_or(rest.len()));
            if !name.is_empty() {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(name);
            }
            let close = tail.find(']').map(|i| i + 1).unwrap_or(tail.len());
            out.push_str(&tail[..close]);
            rest = &tail[close..];
        }
    }
    out
}

fn join_key(parent: &str, child: &str) -> String {
    match (parent.is_empty(), child.is_empty()) {
        (true, _) => child.to_owned(),
        (_, true) => parent.to_owned(),
        _ => format!("{parent}.{child}"),
    }
}

/// The closest of `candidates` to `word`, when it is close enough to be a likely typo.
fn closest<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    candidates
        .iter()
        .map(|c| (strsim::jaro_winkler(word, c), *c))
        .filter(|(score, _)| *score > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}

/// The words between backticks in serde's messages (`unknown field `x`, expected one of `a`, `b``).
fn backticked(message: &str) -> Vec<&str> {
    message.split('`').skip(1).step_by(2).collect()
}

/// A config-crate error as a message that starts with the key's path.
fn explain(error: &config::ConfigError, key: &str) -> String {
    use config::ConfigError as E;
    match error {
        E::At {
            error,
            key: Some(inner),
            ..
        } => explain(error, &join_key(key, &key_path(inner))),
        E::At { error, .. } => explain(error, key),
        E::Type {
            unexpected,
            expected,
            key: inner,
            ..
        } => {
            let key = join_key(key, &key_path(inner.as_deref().unwrap_or("")));
            format!("{key}: {unexpected} is not {expected}")
        }
        E::Message(message) if message.starts_with("unknown field") => {
            let words = backticked(message);
            let (unknown, valid) = words
                .split_first()
                .map(|(u, v)| (*u, v))
                .unwrap_or(("", &[]));
            let full = join_key(key, unknown);
            match closest(unknown, valid) {
                Some(best) => format!("{full}: unknown key; did you mean {}?", join_key(key, best)),
                None if valid.is_empty() => format!("{full}: unknown key"),
                None => format!(
                    "{full}: unknown key; the keys here are {}",
                    valid.join(", ")
                ),
            }
        }
        E::Message(message) if message.starts_with("missing field") => {
            let field = backticked(message).first().copied().unwrap_or("");
            format!("{}: required", join_key(key, field))
        }
        E::NotFound(missing) => format!("{}: required", join_key(key, &key_path(missing))),
        E::Message(message) if !key.is_empty() => format!("{key}: {message}"),
        other => other.to_string(),
    }
}

// ---------------------------------------------------------------------------------------------
// The file as written.

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSettings {
    #[serde(default)]
    pub server: ServerSettings,
    #[serde(default)]
    pub redis: RedisSettings,
    #[serde(default)]
    pub sms: SmsSettings,
    #[serde(default)]
    pub templates: TemplateSettings,
    #[serde(default)]
    pub ledger: LedgerSettings,
    #[serde(default)]
    pub log: LogSettings,
    #[serde(default)]
    pub programs: Vec<RawProgram>,
    #[serde(default)]
    pub api_keys: Vec<RawApiKey>,
}

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
}

impl Default for ServerSettings {
    fn default() -> Self {
        Self {
            bind: "127.0.0.1:8080".into(),
            public_url: "http://127.0.0.1:8080".into(),
            body_limit: 64 * 1024,
            shutdown_timeout_secs: 30,
        }
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
}

impl Default for RedisSettings {
    fn default() -> Self {
        Self {
            url: SecretString::from("redis://127.0.0.1:6379/0"),
            key_prefix: "loyalty".into(),
            embedded: false,
            data_dir: PathBuf::from("data"),
            timeout_ms: 2000,
        }
    }
}

impl RedisSettings {
    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms)
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

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawProgram {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub numbers: Vec<String>,
    #[serde(default = "default_country")]
    pub country: String,
    #[serde(default = "default_timezone")]
    pub timezone: String,
    #[serde(default = "default_locale")]
    pub locale: String,
    #[serde(default)]
    pub help_contact: String,
    #[serde(default)]
    pub join_keywords: Vec<String>,
    #[serde(default)]
    pub welcome_points: i64,
    #[serde(default = "default_points_per_unit")]
    pub points_per_unit: u32,
    #[serde(default = "default_currency")]
    pub currency: String,
    #[serde(default)]
    pub tenders: Vec<RawTender>,
    #[serde(default)]
    pub tiers: Vec<RawTier>,
    #[serde(default)]
    pub rewards: Vec<RawReward>,
    #[serde(default)]
    pub locations: Vec<RawLocation>,
}

fn default_country() -> String {
    "US".into()
}
fn default_timezone() -> String {
    "America/New_York".into()
}
fn default_locale() -> String {
    "en".into()
}
fn default_points_per_unit() -> u32 {
    1
}
fn default_currency() -> String {
    "USD".into()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTender {
    pub name: String,
    pub multiplier: f64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTier {
    pub name: String,
    #[serde(default)]
    pub min_lifetime_points: i64,
    #[serde(default = "one")]
    pub multiplier: f64,
}

fn one() -> f64 {
    1.0
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawReward {
    pub id: String,
    pub points: i64,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub auto_issue: bool,
    #[serde(default = "default_valid_days")]
    pub valid_days: u32,
}

fn default_valid_days() -> u32 {
    90
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLocation {
    pub id: String,
    #[serde(default)]
    pub name: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawApiKey {
    pub name: String,
    pub sha256: String,
    pub program: String,
    pub scopes: Vec<String>,
    #[serde(default)]
    pub locations: Option<Vec<String>>,
}

// ---------------------------------------------------------------------------------------------
// The validated form the rest of the service uses.

#[derive(Debug, Clone)]
pub struct Settings {
    pub server: ServerSettings,
    pub redis: RedisSettings,
    pub sms: SmsSettings,
    pub templates: TemplateSettings,
    pub ledger: LedgerSettings,
    pub log: LogSettings,
    pub programs: Vec<Program>,
    /// Shared with every authenticated request (no per-request copy of scopes and locations).
    pub api_keys: Vec<std::sync::Arc<ApiKeyEntry>>,
}

#[derive(Debug, Clone)]
pub struct Program {
    pub id: ProgramId,
    pub name: String,
    /// Inbound numbers; the first one sends.
    pub numbers: Vec<PhoneNumber>,
    pub region: Region,
    pub timezone: chrono_tz::Tz,
    pub locale: String,
    pub help_contact: String,
    /// Join keywords, normalised as inbound texts are (`domain::keyword`).
    pub join_keywords: Vec<String>,
    pub welcome_points: i64,
    pub points_per_unit: u32,
    pub currency: String,
    pub tenders: BTreeMap<String, Multiplier>,
    /// Sorted by `min_lifetime_points`, the first always starting at 0.
    pub tiers: Vec<Tier>,
    pub rewards: Vec<Reward>,
    pub locations: Vec<Location>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Tier {
    pub name: String,
    pub min_lifetime_points: i64,
    pub multiplier: Multiplier,
}

#[derive(Debug, Clone)]
pub struct Reward {
    pub id: RewardId,
    pub points: i64,
    pub description: String,
    pub auto_issue: bool,
    pub valid_days: u32,
}

#[derive(Debug, Clone)]
pub struct Location {
    pub id: LocationId,
    pub name: String,
}

impl Program {
    pub fn sending_number(&self) -> Option<&PhoneNumber> {
        self.numbers.first()
    }

    pub fn location(&self, id: &LocationId) -> Option<&Location> {
        self.locations.iter().find(|l| &l.id == id)
    }

    pub fn reward(&self, id: &RewardId) -> Option<&Reward> {
        self.rewards.iter().find(|r| &r.id == id)
    }

    /// What a customer reads for the reward with this stored id (the id itself when it is no
    /// longer in the catalogue).
    pub fn reward_description(&self, id: &str) -> String {
        RewardId::parse(id)
            .ok()
            .and_then(|id| self.reward(&id))
            .map(|r| r.description.clone())
            .unwrap_or_else(|| id.to_owned())
    }

    /// The tier a member with `lifetime_points` is in.
    pub fn tier_for(&self, lifetime_points: i64) -> &Tier {
        self.tiers
            .iter()
            .rev()
            .find(|t| lifetime_points >= t.min_lifetime_points)
            .unwrap_or(&self.tiers[0])
    }

    /// The cheapest reward the member cannot afford yet, and how many points it still needs.
    pub fn next_reward(&self, balance: i64) -> Option<(&Reward, i64)> {
        self.rewards
            .iter()
            .filter(|r| r.points > balance)
            .min_by_key(|r| r.points)
            .map(|r| (r, r.points - balance.max(0)))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scope {
    Pos,
    Marketing,
    Admin,
}

impl Scope {
    fn parse(s: &str) -> Option<Self> {
        match s {
            "pos" => Some(Self::Pos),
            "marketing" => Some(Self::Marketing),
            "admin" => Some(Self::Admin),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pos => "pos",
            Self::Marketing => "marketing",
            Self::Admin => "admin",
        }
    }
}

#[derive(Debug, Clone)]
pub struct ApiKeyEntry {
    pub name: String,
    pub sha256: [u8; 32],
    pub program: ProgramId,
    pub scopes: HashSet<Scope>,
    /// `None`: every location of the program.
    pub locations: Option<HashSet<LocationId>>,
}

// ---------------------------------------------------------------------------------------------
// Loading.

/// Which file to read: `--config`, else `$LOYALTY_CONFIG`, else `config/default.toml`, else the
/// copy of it built into the binary.
pub fn resolve_path(cli: Option<&Path>) -> Option<PathBuf> {
    if let Some(path) = cli {
        return Some(path.to_owned());
    }
    if let Some(path) = std::env::var_os("LOYALTY_CONFIG").filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(path));
    }
    let default = PathBuf::from(DEFAULT_CONFIG_PATH);
    default.exists().then_some(default)
}

/// Reads the file (or the embedded default), applies `LOYALTY__…` overrides and validates.
pub fn load(cli: Option<&Path>) -> Result<Settings, ConfigError> {
    let path = resolve_path(cli);
    let source = match &path {
        Some(path) => std::fs::read_to_string(path).map_err(|e| ConfigError::Read {
            path: path.display().to_string(),
            message: e.to_string(),
        })?,
        None => EMBEDDED_DEFAULT.to_owned(),
    };
    let origin = path
        .as_ref()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| "built-in default".into());
    let env: Vec<(String, String)> = std::env::vars().collect();
    load_from_str(&source, &origin, env)?
        .validate()
        .map_err(|e| e.with_origin(&origin))
}

/// Parses `source` with overrides from `env` (`LOYALTY__SERVER__BIND=...`).
pub fn load_from_str(
    source: &str,
    origin: &str,
    env: impl IntoIterator<Item = (String, String)>,
) -> Result<RawSettings, ConfigError> {
    let overrides: HashMap<String, String> = env
        .into_iter()
        .filter(|(k, _)| k.starts_with("LOYALTY__"))
        .collect();
    let env_overrides = overrides.clone();
    let built = config::Config::builder()
        .add_source(config::File::from_str(source, config::FileFormat::Toml))
        .add_source(
            config::Environment::with_prefix("LOYALTY")
                .prefix_separator("__")
                .separator("__")
                .try_parsing(true)
                .list_separator(",")
                .with_list_parse_key("sms.retry_schedule_secs")
                .source(Some(env_overrides)),
        )
        .build()
        .map_err(|e| ConfigError::Read {
            path: origin.to_owned(),
            message: e.to_string(),
        })?;
    built.try_deserialize().map_err(|e| {
        let message = explain(&e, "");
        let key = message.split(':').next().unwrap_or("");
        let from_env = env_var_for(key).filter(|var| overrides.contains_key(var));
        ConfigError::Invalid {
            origin: origin.to_owned(),
            message,
            from_env,
        }
    })
}

impl RawSettings {
    pub fn validate(self) -> Result<Settings, ConfigError> {
        validate_server(&self.server)?;
        validate_redis(&self.redis)?;
        validate_sms(&self.sms)?;
        let programs = self
            .programs
            .into_iter()
            .enumerate()
            .map(|(i, p)| validate_program(i, p))
            .collect::<Result<Vec<_>, _>>()?;
        if programs.is_empty() {
            return Err(invalid("at least one [[programs]] entry is required"));
        }
        let mut seen_ids = HashSet::new();
        let mut owners: HashMap<&PhoneNumber, &ProgramId> = HashMap::new();
        for program in &programs {
            if !seen_ids.insert(&program.id) {
                return Err(invalid(format!(
                    "programs: id {:?} is used twice",
                    program.id.as_str()
                )));
            }
            for number in &program.numbers {
                if let Some(other) = owners.insert(number, &program.id) {
                    return Err(invalid(format!(
                        "programs: number {number} belongs to both {other:?} and {:?}",
                        program.id.as_str()
                    )));
                }
            }
        }
        let api_keys = self
            .api_keys
            .into_iter()
            .enumerate()
            .map(|(i, k)| validate_api_key(i, k, &programs).map(std::sync::Arc::new))
            .collect::<Result<Vec<_>, _>>()?;
        let mut hashes = HashSet::new();
        for key in &api_keys {
            if !hashes.insert(key.sha256) {
                return Err(invalid(format!(
                    "api_keys: the key {:?} has the same sha256 as another key",
                    key.name
                )));
            }
        }
        Ok(Settings {
            server: self.server,
            redis: self.redis,
            sms: self.sms,
            templates: self.templates,
            ledger: self.ledger,
            log: self.log,
            programs,
            api_keys,
        })
    }
}

fn validate_server(server: &ServerSettings) -> Result<(), ConfigError> {
    if server.bind.parse::<std::net::SocketAddr>().is_err() {
        return Err(invalid(format!(
            "server.bind: {:?} is not an address like 127.0.0.1:8080",
            server.bind
        )));
    }
    let url = reqwest::Url::parse(&server.public_url).map_err(|_| {
        invalid(format!(
            "server.public_url: {:?} is not a URL",
            server.public_url
        ))
    })?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(invalid(format!(
            "server.public_url: {:?} must be http or https",
            server.public_url
        )));
    }
    if server.body_limit < 1024 {
        return Err(invalid("server.body_limit: must be at least 1024 bytes"));
    }
    Ok(())
}

fn validate_redis(redis: &RedisSettings) -> Result<(), ConfigError> {
    let url = redis.url.expose_secret();
    if !(url.starts_with("redis://")
        || url.starts_with("rediss://")
        || url.starts_with("unix://")
        || url.starts_with("redis+unix://"))
    {
        return Err(invalid(
            "redis.url: must start with redis://, rediss:// or unix://",
        ));
    }
    if redis.key_prefix.is_empty()
        || redis.key_prefix.contains(['{', '}', ' '])
        || redis.key_prefix.len() > 64
    {
        return Err(invalid(format!(
            "redis.key_prefix: {:?} must be 1-64 characters without braces or spaces",
            redis.key_prefix
        )));
    }
    if redis.timeout_ms == 0 {
        return Err(invalid("redis.timeout_ms: must be greater than 0"));
    }
    Ok(())
}

fn validate_sms(sms: &SmsSettings) -> Result<(), ConfigError> {
    if !(sms.messages_per_second.is_finite() && sms.messages_per_second > 0.0) {
        return Err(invalid(format!(
            "sms.messages_per_second: {} must be greater than 0",
            sms.messages_per_second
        )));
    }
    if sms.burst == 0 {
        return Err(invalid("sms.burst: must be at least 1"));
    }
    if sms.max_segments == 0 || sms.max_segments > 10 {
        return Err(invalid(format!(
            "sms.max_segments: {} must be between 1 and 10 (Twilio's 1,600-character limit)",
            sms.max_segments
        )));
    }
    if sms.visibility_timeout_ms <= sms.http_timeout_ms {
        return Err(invalid(format!(
            "sms.visibility_timeout_ms ({}) must be longer than sms.http_timeout_ms ({}), \
             or a slow send would be delivered twice",
            sms.visibility_timeout_ms, sms.http_timeout_ms
        )));
    }
    if sms.inbound_per_minute == 0 {
        return Err(invalid("sms.inbound_per_minute: must be at least 1"));
    }
    if !sms.telnyx.public_key.trim().is_empty()
        && crate::inbound::signature::telnyx_public_key(&sms.telnyx.public_key).is_none()
    {
        return Err(invalid(
            "sms.telnyx.public_key: must be the base64 Ed25519 public key from the Telnyx portal",
        ));
    }
    if sms.max_in_flight == 0 {
        return Err(invalid("sms.max_in_flight: must be at least 1"));
    }
    match sms.provider {
        ProviderKind::Console => {}
        ProviderKind::Twilio => {
            if !sms.twilio.account_sid.starts_with("AC") {
                return Err(invalid(format!(
                    "sms.twilio.account_sid: {:?} must start with AC when sms.provider = \"twilio\"",
                    sms.twilio.account_sid
                )));
            }
            if !sms.twilio.webhook_enabled() {
                return Err(invalid(
                    "sms.twilio.auth_token: required when sms.provider = \"twilio\"",
                ));
            }
            reqwest::Url::parse(&sms.twilio.base_url).map_err(|_| {
                invalid(format!(
                    "sms.twilio.base_url: {:?} is not a URL",
                    sms.twilio.base_url
                ))
            })?;
        }
        ProviderKind::Telnyx => {
            if sms.telnyx.api_key.expose_secret().is_empty() {
                return Err(invalid(
                    "sms.telnyx.api_key: required when sms.provider = \"telnyx\"",
                ));
            }
            reqwest::Url::parse(&sms.telnyx.base_url).map_err(|_| {
                invalid(format!(
                    "sms.telnyx.base_url: {:?} is not a URL",
                    sms.telnyx.base_url
                ))
            })?;
        }
    }
    Ok(())
}

fn validate_program(index: usize, raw: RawProgram) -> Result<Program, ConfigError> {
    let at = |field: &str| format!("programs[{index}].{field}");
    let id = ProgramId::parse(&raw.id).map_err(|e| invalid(format!("{}: {e}", at("id"))))?;
    if raw.name.trim().is_empty() {
        return Err(invalid(format!("{}: must not be empty", at("name"))));
    }
    let region =
        Region::parse(&raw.country).map_err(|e| invalid(format!("{}: {e}", at("country"))))?;
    let timezone: chrono_tz::Tz = raw.timezone.parse().map_err(|_| {
        invalid(format!(
            "{}: {:?} is not an IANA time zone like America/New_York",
            at("timezone"),
            raw.timezone
        ))
    })?;
    if !crate::templates::SHIPPED_LOCALES.contains(&raw.locale.as_str()) {
        return Err(invalid(format!(
            "{}: {:?} is not one of {:?}",
            at("locale"),
            raw.locale,
            crate::templates::SHIPPED_LOCALES
        )));
    }
    let mut numbers = Vec::with_capacity(raw.numbers.len());
    for (i, n) in raw.numbers.iter().enumerate() {
        let number = PhoneNumber::parse_e164(n)
            .map_err(|e| invalid(format!("{}: {e}", at(&format!("numbers[{i}]")))))?;
        if numbers.contains(&number) {
            return Err(invalid(format!(
                "{}: {n:?} is listed twice",
                at(&format!("numbers[{i}]"))
            )));
        }
        numbers.push(number);
    }
    if raw.welcome_points < 0 {
        return Err(invalid(format!(
            "{}: {} must not be negative",
            at("welcome_points"),
            raw.welcome_points
        )));
    }
    if raw.points_per_unit == 0 || raw.points_per_unit > 100 {
        return Err(invalid(format!(
            "{}: {} must be between 1 and 100",
            at("points_per_unit"),
            raw.points_per_unit
        )));
    }
    let mut tenders = BTreeMap::new();
    for (i, t) in raw.tenders.iter().enumerate() {
        let key = at(&format!("tenders[{i}]"));
        if t.name.trim().is_empty() {
            return Err(invalid(format!("{key}.name: must not be empty")));
        }
        let multiplier = Multiplier::from_f64(t.multiplier)
            .map_err(|e| invalid(format!("{key}.multiplier: {e}")))?;
        if tenders.insert(t.name.clone(), multiplier).is_some() {
            return Err(invalid(format!("{key}.name: {:?} is listed twice", t.name)));
        }
    }
    let mut tiers = Vec::with_capacity(raw.tiers.len().max(1));
    for (i, t) in raw.tiers.iter().enumerate() {
        let key = at(&format!("tiers[{i}]"));
        if t.name.trim().is_empty() {
            return Err(invalid(format!("{key}.name: must not be empty")));
        }
        if t.min_lifetime_points < 0 {
            return Err(invalid(format!(
                "{key}.min_lifetime_points: must not be negative"
            )));
        }
        let multiplier = Multiplier::from_f64(t.multiplier)
            .map_err(|e| invalid(format!("{key}.multiplier: {e}")))?;
        tiers.push(Tier {
            name: t.name.clone(),
            min_lifetime_points: t.min_lifetime_points,
            multiplier,
        });
    }
    tiers.sort_by_key(|t| t.min_lifetime_points);
    if tiers.first().is_none_or(|t| t.min_lifetime_points != 0) {
        tiers.insert(
            0,
            Tier {
                name: "member".into(),
                min_lifetime_points: 0,
                multiplier: Multiplier::ONE,
            },
        );
    }
    for pair in tiers.windows(2) {
        if pair[0].min_lifetime_points == pair[1].min_lifetime_points {
            return Err(invalid(format!(
                "{}: tiers {:?} and {:?} start at the same min_lifetime_points",
                at("tiers"),
                pair[0].name,
                pair[1].name
            )));
        }
    }
    let mut rewards: Vec<Reward> = Vec::with_capacity(raw.rewards.len());
    for (i, r) in raw.rewards.into_iter().enumerate() {
        let key = at(&format!("rewards[{i}]"));
        let id = RewardId::parse(&r.id).map_err(|e| invalid(format!("{key}.id: {e}")))?;
        if rewards.iter().any(|x| x.id == id) {
            return Err(invalid(format!("{key}.id: {:?} is listed twice", r.id)));
        }
        if r.points <= 0 {
            return Err(invalid(format!(
                "{key}.points: {} must be greater than 0",
                r.points
            )));
        }
        if r.valid_days == 0 {
            return Err(invalid(format!("{key}.valid_days: must be at least 1")));
        }
        let description = if r.description.trim().is_empty() {
            id.as_str().to_owned()
        } else {
            r.description
        };
        rewards.push(Reward {
            id,
            points: r.points,
            description,
            auto_issue: r.auto_issue,
            valid_days: r.valid_days,
        });
    }
    let mut locations: Vec<Location> = Vec::with_capacity(raw.locations.len());
    for (i, l) in raw.locations.into_iter().enumerate() {
        let key = at(&format!("locations[{i}]"));
        let id = LocationId::parse(&l.id).map_err(|e| invalid(format!("{key}.id: {e}")))?;
        if locations.iter().any(|x| x.id == id) {
            return Err(invalid(format!("{key}.id: {:?} is listed twice", l.id)));
        }
        let name = if l.name.trim().is_empty() {
            id.as_str().to_owned()
        } else {
            l.name
        };
        locations.push(Location { id, name });
    }
    let join_keywords = raw
        .join_keywords
        .iter()
        .map(|k| keyword::normalise(k))
        .collect();
    Ok(Program {
        id,
        name: raw.name,
        numbers,
        region,
        timezone,
        locale: raw.locale,
        help_contact: raw.help_contact,
        join_keywords,
        welcome_points: raw.welcome_points,
        points_per_unit: raw.points_per_unit,
        currency: raw.currency,
        tenders,
        tiers,
        rewards,
        locations,
    })
}

fn validate_api_key(
    index: usize,
    raw: RawApiKey,
    programs: &[Program],
) -> Result<ApiKeyEntry, ConfigError> {
    let at = |field: &str| format!("api_keys[{index}].{field}");
    let mut sha256 = [0u8; 32];
    hex::decode_to_slice(raw.sha256.trim(), &mut sha256).map_err(|_| {
        invalid(format!(
            "{}: must be 64 hex characters (the SHA-256 of the key; see `loyalty-gateway keys new`)",
            at("sha256")
        ))
    })?;
    let program = programs
        .iter()
        .find(|p| p.id.as_str() == raw.program)
        .ok_or_else(|| {
            invalid(format!(
                "{}: {:?} is not a configured program",
                at("program"),
                raw.program
            ))
        })?;
    if raw.scopes.is_empty() {
        return Err(invalid(format!(
            "{}: at least one of pos, marketing, admin",
            at("scopes")
        )));
    }
    let scopes = raw
        .scopes
        .iter()
        .map(|s| {
            Scope::parse(s).ok_or_else(|| {
                invalid(format!(
                    "{}: {s:?} is not one of pos, marketing, admin",
                    at("scopes")
                ))
            })
        })
        .collect::<Result<HashSet<_>, _>>()?;
    let locations = match raw.locations {
        None => None,
        Some(list) => {
            let mut set = HashSet::new();
            for l in list {
                let id = LocationId::parse(&l)
                    .ok()
                    .filter(|id| program.location(id).is_some())
                    .ok_or_else(|| {
                        invalid(format!(
                            "{}: {l:?} is not a location of program {:?}",
                            at("locations"),
                            program.id.as_str()
                        ))
                    })?;
                set.insert(id);
            }
            Some(set)
        }
    };
    Ok(ApiKeyEntry {
        name: raw.name,
        sha256,
        program: program.id.clone(),
        scopes,
        locations,
    })
}

/// Loads without touching the environment (tests, `check`).
pub fn parse_str(source: &str) -> anyhow::Result<Settings> {
    Ok(load_from_str(source, "inline", Vec::new())
        .context("parse")?
        .validate()?)
}
