//! What serde reads: the whole file, and the programs and API keys before they become domain
//! values.

use serde::Deserialize;

use super::sections::*;

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
    pub campaigns: CampaignSettings,
    #[serde(default)]
    pub links: LinkSettings,
    #[serde(default)]
    pub programs: Vec<RawProgram>,
    #[serde(default)]
    pub api_keys: Vec<RawApiKey>,
    #[serde(default)]
    pub dashboard_users: Vec<RawDashboardUser>,
    #[serde(default)]
    pub webhooks: Vec<RawWebhook>,
}

/// `[[dashboard_users]]`: a person who signs in to the dashboard with a name and a password.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDashboardUser {
    pub name: String,
    pub program: String,
    /// `marketing` or `admin`.
    pub scope: String,
    /// An Argon2 PHC string (`loyalty-gateway keys dashboard-user` makes one).
    pub password_hash: String,
}

/// `[[webhooks]]`: an endpoint that receives signed events.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawWebhook {
    /// Names the endpoint's queue; default: derived from the URL.
    #[serde(default)]
    pub id: Option<String>,
    pub url: String,
    /// `whsec_<base64>`.
    pub secret: secrecy::SecretString,
    /// Absent: every event.
    #[serde(default)]
    pub events: Option<Vec<String>>,
    #[serde(default)]
    pub include_phone: bool,
    /// Absent: every program.
    #[serde(default)]
    pub programs: Option<Vec<String>>,
    #[serde(default = "default_webhook_timeout_ms")]
    pub timeout_ms: u64,
    /// Delay before each retry; dead-lettered after the last one.
    #[serde(default = "default_webhook_retries")]
    pub retry_schedule_secs: Vec<u64>,
}

fn default_webhook_timeout_ms() -> u64 {
    10_000
}

/// The Standard Webhooks specification's example schedule: 5 s, 5 min, 30 min, 2 h, 5 h, 10 h.
fn default_webhook_retries() -> Vec<u64> {
    vec![5, 300, 1800, 7200, 18_000, 36_000]
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
    #[serde(default)]
    pub referral: Option<RawReferral>,
    #[serde(default)]
    pub automations: RawAutomations,
    #[serde(default)]
    pub expiry: Option<RawExpiry>,
    /// What one point is worth in the program's currency (a decimal string, "0.01"): the
    /// liability in the stats.
    #[serde(default)]
    pub value_per_point: Option<String>,
}

/// `[programs.expiry]`: points expire this long after they were earned, oldest first.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawExpiry {
    pub points_expire_after: crate::domain::Period,
    #[serde(default)]
    pub reminder_before: Option<crate::domain::Period>,
}

/// `[programs.automations]`: each block turns one automation on.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAutomations {
    #[serde(default)]
    pub near_reward: Option<RawNearReward>,
    #[serde(default)]
    pub reward_expiring: Option<RawRewardExpiring>,
    #[serde(default)]
    pub win_back: Option<RawWinBack>,
    #[serde(default)]
    pub welcome_series: Vec<RawWelcomeStep>,
    #[serde(default)]
    pub birthday: Option<RawBirthday>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawBirthday {
    #[serde(default)]
    pub bonus_points: i64,
    #[serde(default)]
    pub body: Option<String>,
    #[serde(default)]
    pub holdout_percent: f64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawNearReward {
    pub within_points: i64,
    #[serde(default)]
    pub body: Option<String>,
    #[serde(default)]
    pub holdout_percent: f64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRewardExpiring {
    pub before: crate::domain::Period,
    #[serde(default)]
    pub body: Option<String>,
    #[serde(default)]
    pub holdout_percent: f64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawWinBack {
    pub after: crate::domain::Period,
    #[serde(default)]
    pub bonus_multiplier: Option<f64>,
    #[serde(default)]
    pub bonus_valid: Option<crate::domain::Period>,
    #[serde(default)]
    pub body: Option<String>,
    #[serde(default)]
    pub holdout_percent: f64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawWelcomeStep {
    pub after: crate::domain::Period,
    pub body: String,
}

/// `[programs.referral]`: members bring friends with their own join word.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawReferral {
    /// Points for both, when the friend first buys something.
    pub bonus_points: i64,
    /// Rewarded referrals per referrer per calendar month.
    #[serde(default = "default_referrals_per_month")]
    pub max_per_month: u32,
}

fn default_referrals_per_month() -> u32 {
    10
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
