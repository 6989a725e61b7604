//! The checks serde cannot make: numbers are valid phone numbers, API keys name existing
//! programs and locations, no number belongs to two programs... Each message names its key.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use secrecy::ExposeSecret;

use sha2::{Digest, Sha256};

use super::errors::{closest as did_you_mean, invalid, ConfigError};
use super::raw::*;
use super::sections::*;
use super::Settings;
use crate::auth::{ApiKeyEntry, DashboardUser, Scope};
use crate::domain::{
    keyword, parse_webhook_secret, AutomationText, Automations, Birthday, EventType, Expiry,
    Location, LocationId, Multiplier, NearReward, PhoneNumber, Program, ProgramId, ProgramParts,
    Referral, Region, Reward, RewardExpiring, RewardId, Tier, WebhookEndpoint, WelcomeStep,
    WinBack,
};

/// The most HTTP worker threads `server.workers` may ask for.
const MAX_HTTP_WORKERS: usize = 256;

impl RawSettings {
    pub fn validate(self) -> Result<Settings, ConfigError> {
        validate_server(&self.server)?;
        validate_redis(&self.redis)?;
        validate_sms(&self.sms)?;
        validate_campaigns(&self.campaigns, &self.links)?;
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
            .map(|(i, k)| validate_api_key(i, k, &programs).map(Arc::new))
            .collect::<Result<Vec<_>, _>>()?;
        if let Some(key) = first_repeated(&api_keys, |k| k.sha256) {
            return Err(invalid(format!(
                "api_keys: the key {:?} has the same sha256 as another key",
                key.name
            )));
        }
        let dashboard_users = self
            .dashboard_users
            .into_iter()
            .enumerate()
            .map(|(i, u)| validate_dashboard_user(i, u, &programs).map(Arc::new))
            .collect::<Result<Vec<_>, _>>()?;
        // The sign-in form asks for a name, not a program: a name is one person everywhere.
        if let Some(user) = first_repeated(&dashboard_users, |u| u.name.as_str()) {
            return Err(invalid(format!(
                "dashboard_users: the name {:?} is used twice",
                user.name
            )));
        }
        let webhooks = self
            .webhooks
            .into_iter()
            .enumerate()
            .map(|(i, w)| validate_webhook(i, w, &programs).map(Arc::new))
            .collect::<Result<Vec<_>, _>>()?;
        if let Some(endpoint) = first_repeated(&webhooks, |w| w.id.as_str()) {
            return Err(invalid(format!(
                "webhooks: id {:?} is used twice (set a distinct `id` on each)",
                endpoint.id
            )));
        }
        Ok(Settings {
            server: self.server,
            redis: self.redis,
            sms: self.sms,
            templates: self.templates,
            ledger: self.ledger,
            log: self.log,
            campaigns: self.campaigns,
            links: self.links,
            programs,
            api_keys,
            dashboard_users,
            webhooks,
        })
    }
}

/// The first entry whose `key` an entry before it already has.
fn first_repeated<'a, T, K: Eq + std::hash::Hash>(
    entries: &'a [T],
    key: impl Fn(&'a T) -> K,
) -> Option<&'a T> {
    let mut seen = HashSet::new();
    entries.iter().find(|entry| !seen.insert(key(entry)))
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
    if let Some(workers) = server.workers {
        if !(1..=MAX_HTTP_WORKERS).contains(&workers) {
            return Err(invalid(format!(
                "server.workers: {workers} is not between 1 and {MAX_HTTP_WORKERS} \
                 (leave it out for half the machine's cores)"
            )));
        }
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
    for (i, node) in redis.cluster_nodes.iter().enumerate() {
        let node = node.expose_secret();
        if !(node.starts_with("redis://") || node.starts_with("rediss://")) {
            return Err(invalid(format!(
                "redis.cluster_nodes[{i}]: must start with redis:// or rediss://"
            )));
        }
    }
    if redis.is_cluster() && redis.embedded {
        return Err(invalid(
            "redis.embedded: must be false when redis.cluster_nodes is set (the gateway \
             starts a single redis-server, never a cluster)",
        ));
    }
    if redis.min_replicas_acked > 0 && redis.replica_ack_timeout_ms == 0 {
        return Err(invalid(
            "redis.replica_ack_timeout_ms: must be greater than 0 when redis.min_replicas_acked is set",
        ));
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
    if sms.price_per_segment.is_sign_negative() {
        return Err(invalid(format!(
            "sms.price_per_segment: {} must not be negative",
            sms.price_per_segment
        )));
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
    let value_per_point = match &raw.value_per_point {
        None => None,
        Some(text) => Some(
            text.trim()
                .parse::<rust_decimal::Decimal>()
                .ok()
                .filter(|v| !v.is_sign_negative())
                .ok_or_else(|| {
                    invalid(format!(
                        "programs[{index}].value_per_point: {text:?} is not a decimal like \"0.01\""
                    ))
                })?,
        ),
    };
    let referral = match raw.referral {
        None => None,
        Some(r) => {
            if !(1..=1_000_000).contains(&r.bonus_points) {
                return Err(invalid(format!(
                    "programs[{index}].referral.bonus_points: {} must be between 1 and 1000000",
                    r.bonus_points
                )));
            }
            if r.max_per_month == 0 {
                return Err(invalid(format!(
                    "programs[{index}].referral.max_per_month: must be at least 1"
                )));
            }
            Some(Referral {
                bonus_points: r.bonus_points,
                max_per_month: r.max_per_month,
            })
        }
    };
    let join_keywords = raw
        .join_keywords
        .iter()
        .map(|k| keyword::normalise(k))
        .collect();
    Ok(Program::new(ProgramParts {
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
        referral,
        automations: validate_automations(index, raw.automations)?,
        expiry: raw.expiry.map(|e| Expiry {
            after: e.points_expire_after,
            reminder_before: e.reminder_before,
        }),
        value_per_point,
    }))
}

fn validate_automations(index: usize, raw: RawAutomations) -> Result<Automations, ConfigError> {
    let at = |field: &str| format!("programs[{index}].automations.{field}");
    let text = |name: &str, body: Option<String>, holdout: f64| {
        if !(0.0..=50.0).contains(&holdout) {
            return Err(invalid(format!(
                "{}: {holdout} must be between 0 and 50",
                at(&format!("{name}.holdout_percent"))
            )));
        }
        if body.as_deref().is_some_and(|b| b.trim().is_empty()) {
            return Err(invalid(format!(
                "{}: must not be empty",
                at(&format!("{name}.body"))
            )));
        }
        Ok(AutomationText {
            body,
            holdout_percent: holdout,
        })
    };
    let near_reward = match raw.near_reward {
        None => None,
        Some(n) => {
            if n.within_points <= 0 {
                return Err(invalid(format!(
                    "{}: must be at least 1",
                    at("near_reward.within_points")
                )));
            }
            Some(NearReward {
                within_points: n.within_points,
                text: text("near_reward", n.body, n.holdout_percent)?,
            })
        }
    };
    let reward_expiring = match raw.reward_expiring {
        None => None,
        Some(r) => Some(RewardExpiring {
            before: r.before,
            text: text("reward_expiring", r.body, r.holdout_percent)?,
        }),
    };
    let win_back = match raw.win_back {
        None => None,
        Some(w) => {
            if let Some(m) = w.bonus_multiplier {
                if !(1.0..=10.0).contains(&m) {
                    return Err(invalid(format!(
                        "{}: {m} must be between 1 and 10",
                        at("win_back.bonus_multiplier")
                    )));
                }
            }
            if w.bonus_valid.is_some() && w.bonus_multiplier.is_none() {
                return Err(invalid(format!(
                    "{}: set bonus_multiplier too (a bonus of what?)",
                    at("win_back.bonus_valid")
                )));
            }
            Some(WinBack {
                after: w.after,
                bonus_multiplier: w.bonus_multiplier,
                bonus_valid: w
                    .bonus_valid
                    .unwrap_or(crate::domain::Period::from_secs(14 * 86_400)),
                text: text("win_back", w.body, w.holdout_percent)?,
            })
        }
    };
    let welcome_series = raw
        .welcome_series
        .into_iter()
        .enumerate()
        .map(|(i, step)| {
            if step.body.trim().is_empty() {
                return Err(invalid(format!(
                    "{}: must not be empty",
                    at(&format!("welcome_series[{i}].body"))
                )));
            }
            Ok(WelcomeStep {
                after: step.after,
                body: step.body,
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let birthday = match raw.birthday {
        None => None,
        Some(b) => {
            if !(0..=1_000_000).contains(&b.bonus_points) {
                return Err(invalid(format!(
                    "{}: {} must be between 0 and 1000000",
                    at("birthday.bonus_points"),
                    b.bonus_points
                )));
            }
            Some(Birthday {
                bonus_points: b.bonus_points,
                text: text("birthday", b.body, b.holdout_percent)?,
            })
        }
    };
    Ok(Automations {
        near_reward,
        reward_expiring,
        win_back,
        welcome_series,
        birthday,
    })
}

fn validate_dashboard_user(
    index: usize,
    raw: RawDashboardUser,
    programs: &[Program],
) -> Result<DashboardUser, ConfigError> {
    let at = |field: &str| format!("dashboard_users[{index}].{field}");
    let name = raw.name.trim();
    if name.is_empty() || name.chars().count() > 64 || name.chars().any(char::is_control) {
        return Err(invalid(format!("{}: must be 1-64 characters", at("name"))));
    }
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
    let scope = Scope::parse(&raw.scope)
        .filter(|s| matches!(s, Scope::Marketing | Scope::Admin))
        .ok_or_else(|| {
            invalid(format!(
                "{}: {:?} is not one of marketing, admin",
                at("scope"),
                raw.scope
            ))
        })?;
    crate::auth::check_password_hash(&raw.password_hash).map_err(|problem| {
        invalid(format!(
            "{}: {problem} (`loyalty-gateway keys dashboard-user` makes one)",
            at("password_hash")
        ))
    })?;
    Ok(DashboardUser {
        name: name.to_owned(),
        program: program.id.clone(),
        scope,
        password_hash: raw.password_hash,
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

fn validate_webhook(
    index: usize,
    raw: RawWebhook,
    programs: &[Program],
) -> Result<WebhookEndpoint, ConfigError> {
    let at = |field: &str| format!("webhooks[{index}].{field}");
    let url = url::Url::parse(&raw.url)
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
        .ok_or_else(|| {
            invalid(format!(
                "{}: {:?} is not an http(s) URL",
                at("url"),
                raw.url
            ))
        })?;
    let secret = parse_webhook_secret(raw.secret.expose_secret())
        .map_err(|e| invalid(format!("{}: {e}", at("secret"))))?;
    let id = match raw.id {
        Some(id) => id,
        None => {
            let digest = Sha256::digest(url.as_str().as_bytes());
            format!("h{}", &hex::encode(digest)[..10])
        }
    };
    let slug = !id.is_empty()
        && id.len() <= 32
        && id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    if !slug {
        return Err(invalid(format!(
            "{}: {id:?} must be 1-32 of a-z, 0-9, - and _",
            at("id")
        )));
    }
    let events = match raw.events {
        None => None,
        Some(names) => Some(
            names
                .iter()
                .map(|name| {
                    EventType::parse(name).ok_or_else(|| {
                        let known: Vec<&str> = EventType::ALL.iter().map(|e| e.as_str()).collect();
                        let hint = did_you_mean(name, &known)
                            .map(|s| format!(" (did you mean {s:?}?)"))
                            .unwrap_or_default();
                        invalid(format!(
                            "{}: {name:?} is not an event{hint}; events are {}",
                            at("events"),
                            known.join(", ")
                        ))
                    })
                })
                .collect::<Result<HashSet<_>, _>>()?,
        ),
    };
    let programs = match raw.programs {
        None => None,
        Some(ids) => Some(
            ids.iter()
                .map(|id| {
                    programs
                        .iter()
                        .find(|p| p.id.as_str() == id)
                        .map(|p| p.id.clone())
                        .ok_or_else(|| {
                            invalid(format!(
                                "{}: {id:?} is not a configured program",
                                at("programs")
                            ))
                        })
                })
                .collect::<Result<HashSet<_>, _>>()?,
        ),
    };
    if !(100..=60_000).contains(&raw.timeout_ms) {
        return Err(invalid(format!(
            "{}: {} must be between 100 and 60000",
            at("timeout_ms"),
            raw.timeout_ms
        )));
    }
    if raw.retry_schedule_secs.len() > 20 || raw.retry_schedule_secs.iter().any(|s| *s > 7 * 86_400)
    {
        return Err(invalid(format!(
            "{}: at most 20 retries, each at most 7 days (604800 s)",
            at("retry_schedule_secs")
        )));
    }
    Ok(WebhookEndpoint {
        id,
        url,
        secret,
        events,
        include_phone: raw.include_phone,
        programs,
        timeout: std::time::Duration::from_millis(raw.timeout_ms),
        retry_schedule: raw
            .retry_schedule_secs
            .iter()
            .map(|s| std::time::Duration::from_secs(*s))
            .collect(),
    })
}

fn validate_campaigns(
    campaigns: &CampaignSettings,
    links: &LinkSettings,
) -> Result<(), ConfigError> {
    if campaigns.max_per_member == 0 {
        return Err(invalid("campaigns.max_per_member: must be at least 1"));
    }
    if !(0.0..=100.0).contains(&campaigns.pause_on_filtered_percent) {
        return Err(invalid(format!(
            "campaigns.pause_on_filtered_percent: {} must be between 0 and 100",
            campaigns.pause_on_filtered_percent
        )));
    }
    if let Some(base) = &links.base_url {
        let url = reqwest::Url::parse(base)
            .map_err(|_| invalid(format!("links.base_url: {base:?} is not a URL")))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(invalid(format!(
                "links.base_url: {base:?} must be http or https"
            )));
        }
    }
    Ok(())
}
