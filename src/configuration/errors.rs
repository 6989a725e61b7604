//! Configuration errors: every message starts with the key's path (`programs[0].name`), one
//! syntax for all, and says which `LOYALTY__` variable sets the key, or did set it.

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

pub(super) fn invalid(message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        origin: "the configuration".into(),
        message: message.into(),
        from_env: None,
    }
}

impl ConfigError {
    pub(super) fn with_origin(self, new_origin: &str) -> Self {
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
pub(super) fn closest<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
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
pub(super) fn explain(error: &config::ConfigError, key: &str) -> String {
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
