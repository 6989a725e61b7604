//! Configuration: a TOML file, overridden key by key from `LOYALTY__SECTION__KEY` variables.
//!
//! Loading happens in two steps. [`RawSettings`] mirrors the file (what serde can check); then
//! [`RawSettings::validate`] turns it into [`Settings`], checking what serde cannot: that numbers
//! are valid phone numbers, that API keys name existing programs and locations, that no number is
//! owned by two programs. Every message names the offending key and value, so an operator can fix
//! the file without reading code. Secrets are `SecretString` and never appear in `Debug` output.

//!
//! The module's parts: [`sections`] (the settings as the file writes them, defaults included),
//! [`raw`] (what serde reads for programs and keys), [`validate`] (the checks serde cannot
//! make, turning programs and keys into their domain types) and [`errors`] (messages that name
//! the key, in one path syntax, and the environment variable that can set it).

mod errors;
mod raw;
mod sections;
mod validate;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;

use crate::auth::ApiKeyEntry;
use crate::domain::Program;
pub use errors::{env_var_for, ConfigError};
pub use raw::RawSettings;
pub use sections::*;

/// The file used when neither `--config` nor `$LOYALTY_CONFIG` names one.
pub const DEFAULT_CONFIG_PATH: &str = "config/default.toml";
/// The shipped default, built into the binary so it runs from any directory.
pub const EMBEDDED_DEFAULT: &str = include_str!("../../config/default.toml");

#[derive(Debug, Clone)]
pub struct Settings {
    pub server: ServerSettings,
    pub redis: RedisSettings,
    pub sms: SmsSettings,
    pub templates: TemplateSettings,
    pub ledger: LedgerSettings,
    pub log: LogSettings,
    pub campaigns: CampaignSettings,
    pub links: LinkSettings,
    pub programs: Vec<Program>,
    /// Shared with every authenticated request (no per-request copy of scopes and locations).
    pub api_keys: Vec<Arc<ApiKeyEntry>>,
    /// `[[dashboard_users]]`: who signs in to the dashboard with a password.
    pub dashboard_users: Vec<Arc<crate::auth::DashboardUser>>,
    /// `[[webhooks]]`: where events go.
    pub webhooks: Vec<Arc<crate::domain::WebhookEndpoint>>,
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
                .with_list_parse_key("redis.cluster_nodes")
                .source(Some(env_overrides)),
        )
        .build()
        .map_err(|e| ConfigError::Read {
            path: origin.to_owned(),
            message: e.to_string(),
        })?;
    built.try_deserialize().map_err(|e| {
        let message = errors::explain(&e, "");
        let key = message.split(':').next().unwrap_or("");
        let from_env = env_var_for(key).filter(|var| overrides.contains_key(var));
        ConfigError::Invalid {
            origin: origin.to_owned(),
            message,
            from_env,
        }
    })
}

pub fn parse_str(source: &str) -> anyhow::Result<Settings> {
    Ok(load_from_str(source, "inline", Vec::new())
        .context("parse")?
        .validate()?)
}
