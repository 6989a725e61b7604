//! The public join form, `/join/{program}`: a phone number and a first name, the consent
//! disclosure, and one "Reply YES" text to the number (double opt-in: a number typed into a
//! form is not consent; `web_join.lua`). The page that follows says the same whatever happened,
//! so the form never tells whether a number is a member.
//!
//! Bots, without a third-party service: a field people do not see (filled in: the submission
//! is dropped, and the page says it went through), and a minimum time to fill the form, measured
//! from a token the form carries (its time, signed with a key kept in Redis so that every
//! `serve` process accepts it). Submissions are limited per client address and per number in
//! Redis, shared by every process.

use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::{get, post, web, HttpRequest, HttpResponse};
use hmac::{Hmac, Mac};
use serde::Deserialize;
use sha2::Sha256;

use super::strings::{self, JoinStrings};
use crate::domain::{PhoneNumber, Program, ProgramId};
use crate::routes::AppState;
use crate::store::scripts::members::{WebJoin, WebJoinReply};
use crate::store::{ProgramKeys, StoreError};

/// Less time than this between showing the form and its submission is a bot's.
pub const MIN_FILL: Duration = Duration::from_secs(3);
/// A form older than this must be sent again.
pub const MAX_AGE: Duration = Duration::from_secs(2 * 3600);
/// Submissions per client address, and per number, in [`LIMIT_WINDOW`].
pub const LIMIT_COUNT: u32 = 20;
pub const LIMIT_WINDOW: Duration = Duration::from_secs(3600);
const MAX_FIRST_NAME: usize = 50;

#[derive(Debug, Deserialize)]
pub struct PageQuery {
    lang: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct Submission {
    #[serde(default)]
    phone: String,
    #[serde(default)]
    first_name: String,
    /// The field people do not see.
    #[serde(default)]
    website: String,
    #[serde(default)]
    token: String,
    #[serde(default)]
    lang: Option<String>,
}

#[get("/join/{program}")]
pub async fn form(
    state: web::Data<AppState>,
    path: web::Path<String>,
    query: web::Query<PageQuery>,
) -> HttpResponse {
    let Some(program) = program_of(&state, &path) else {
        return not_found(query.lang.as_deref());
    };
    let t = strings_for(&program, query.lang.as_deref());
    match token(&state, &program).await {
        Ok(token) => render(StatusCode::OK, &program, t, &token, None, "", ""),
        Err(e) => unavailable(&e, &program, t),
    }
}

#[post("/join/{program}")]
pub async fn submit(
    state: web::Data<AppState>,
    request: HttpRequest,
    path: web::Path<String>,
    submission: web::Form<Submission>,
) -> HttpResponse {
    let Some(program) = program_of(&state, &path) else {
        return not_found(submission.lang.as_deref());
    };
    let t = strings_for(&program, submission.lang.as_deref());
    let key = match form_key(&state, &program).await {
        Ok(key) => key,
        Err(e) => return unavailable(&e, &program, t),
    };
    let now_ms = state.clock.now().timestamp_millis();
    let fresh = sign(&key, &program.id, now_ms);
    // The form again, as it was filled in, with what to fix and a new token.
    let again = |status, error: &str| {
        let (phone, first_name) = (&submission.phone, &submission.first_name);
        render(status, &program, t, &fresh, Some(error), phone, first_name)
    };
    match token_age(&key, &program.id, &submission.token, now_ms) {
        Some(age) if age < MIN_FILL => {
            return again(StatusCode::UNPROCESSABLE_ENTITY, t.error_quick)
        }
        Some(age) if age <= MAX_AGE => {}
        _ => return again(StatusCode::UNPROCESSABLE_ENTITY, t.error_expired),
    }
    if !submission.website.is_empty() {
        tracing::info!(program = %program.id, "join form: the bot field was filled in; dropped");
        return done(&program, t);
    }
    let Ok(phone) = PhoneNumber::parse(&submission.phone, program.region) else {
        return again(StatusCode::UNPROCESSABLE_ENTITY, t.error_phone);
    };
    let first_name = submission.first_name.trim();
    if first_name.chars().count() > MAX_FIRST_NAME || first_name.chars().any(char::is_control) {
        return again(StatusCode::UNPROCESSABLE_ENTITY, t.error_name);
    }
    let client = super::client_address(&request, state.settings.server.client_ip_header.as_deref());
    let call = WebJoin {
        phone: phone.as_str(),
        first_name: (!first_name.is_empty()).then_some(first_name),
        locale: t.locale,
        client: &client,
        limit_count: LIMIT_COUNT,
        limit_window_ms: LIMIT_WINDOW.as_millis() as u64,
        message_ttl_secs: state.settings.ledger.message_retention_days * 86_400,
    };
    let keys = ProgramKeys::new(&state.settings.redis.key_prefix, &program.id);
    match state.store.call(&keys, state.clock.now(), &call).await {
        Ok(WebJoinReply::Ok { outcome }) => {
            tracing::info!(program = %program.id, phone = %phone.masked(), ?outcome, "join form");
            done(&program, t)
        }
        Ok(WebJoinReply::RateLimited) => again(StatusCode::TOO_MANY_REQUESTS, t.error_limited),
        Err(e) => unavailable(&e, &program, t),
    }
}

pub(super) fn program_of(state: &AppState, raw: &str) -> Option<std::sync::Arc<Program>> {
    ProgramId::parse(raw).ok().and_then(|id| state.program(&id))
}

/// The page's language: the one asked for if shipped, else the program's, else English.
pub(super) fn strings_for(program: &Program, asked: Option<&str>) -> &'static JoinStrings {
    let shipped = |l: &&str| crate::templates::SHIPPED_LOCALES.contains(l);
    let locale = asked
        .filter(shipped)
        .or(Some(program.locale.as_str()).filter(shipped))
        .unwrap_or(crate::templates::FALLBACK_LOCALE);
    strings::join(locale)
}

fn context(program: &Program, t: &JoinStrings) -> Vec<(&'static str, minijinja::Value)> {
    vec![
        ("t", minijinja::Value::from_serialize(t)),
        ("program", program.name.clone().into()),
        ("program_id", program.id.as_str().into()),
        (
            "languages",
            minijinja::Value::from_serialize(&strings::JOIN),
        ),
    ]
}

fn render(
    status: StatusCode,
    program: &Program,
    t: &JoinStrings,
    token: &str,
    error: Option<&str>,
    phone: &str,
    first_name: &str,
) -> HttpResponse {
    let mut values = context(program, t);
    values.extend([
        ("token", token.into()),
        ("error", error.into()),
        ("phone", phone.into()),
        ("first_name", first_name.into()),
    ]);
    super::page(
        HttpResponse::build(status),
        "join.html",
        values.into_iter().collect(),
    )
}

fn done(program: &Program, t: &JoinStrings) -> HttpResponse {
    let mut values = context(program, t);
    values.push(("done", true.into()));
    super::page(
        HttpResponse::Ok(),
        "join.html",
        values.into_iter().collect(),
    )
}

pub(super) fn not_found(lang: Option<&str>) -> HttpResponse {
    let t = strings::join(lang.unwrap_or(crate::templates::FALLBACK_LOCALE));
    let values: Vec<(&str, minijinja::Value)> = vec![
        ("t", minijinja::Value::from_serialize(t)),
        ("missing", true.into()),
        (
            "languages",
            minijinja::Value::from_serialize(Vec::<()>::new()),
        ),
    ];
    super::page(
        HttpResponse::NotFound(),
        "join.html",
        values.into_iter().collect(),
    )
}

fn unavailable(e: &StoreError, program: &Program, t: &JoinStrings) -> HttpResponse {
    tracing::warn!(program = %program.id, error = %crate::telemetry::Chain(e), "join form: Redis");
    let mut values = context(program, t);
    values.push(("error", t.error_unavailable.into()));
    super::page(
        HttpResponse::ServiceUnavailable(),
        "join.html",
        values.into_iter().collect(),
    )
}

type HmacSha256 = Hmac<Sha256>;

/// The program's key for form tokens: made once, by whichever process asks first, and kept in
/// Redis (`seq`'s `form_key`), so a form shown by one process is accepted by another.
async fn form_key(state: &AppState, program: &Program) -> Result<Vec<u8>, StoreError> {
    let keys = ProgramKeys::new(&state.settings.redis.key_prefix, &program.id);
    let candidate = hex::encode(rand::random::<[u8; 32]>());
    let mut pipe = redis::pipe();
    pipe.hset_nx(keys.seq(), "form_key", candidate)
        .ignore()
        .hget(keys.seq(), "form_key");
    let (key,): (String,) = state.store.pipeline(&pipe).await?;
    Ok(key.into_bytes())
}

async fn token(state: &AppState, program: &Program) -> Result<String, StoreError> {
    let key = form_key(state, program).await?;
    Ok(sign(
        &key,
        &program.id,
        state.clock.now().timestamp_millis(),
    ))
}

/// `<issued ms>.<HMAC-SHA256 of program and time, hex>`.
fn sign(key: &[u8], program: &ProgramId, issued_ms: i64) -> String {
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(format!("join|{}|{issued_ms}", program.as_str()).as_bytes());
    format!("{issued_ms}.{}", hex::encode(mac.finalize().into_bytes()))
}

/// How long ago a genuine token was issued; `None` for a token this program did not issue.
fn token_age(key: &[u8], program: &ProgramId, token: &str, now_ms: i64) -> Option<Duration> {
    let (issued, signature) = token.split_once('.')?;
    let issued_ms: i64 = issued.parse().ok()?;
    let signature = hex::decode(signature).ok()?;
    let mut mac = HmacSha256::new_from_slice(key).ok()?;
    mac.update(format!("join|{}|{issued_ms}", program.as_str()).as_bytes());
    mac.verify_slice(&signature).ok()?;
    Some(Duration::from_millis(
        u64::try_from(now_ms - issued_ms).ok()?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_is_accepted_only_for_its_program_and_with_its_time() {
        let key = b"k";
        let bloom = ProgramId::parse("bloom").unwrap();
        let other = ProgramId::parse("other").unwrap();
        let token = sign(key, &bloom, 1_000);
        assert_eq!(
            token_age(key, &bloom, &token, 4_500),
            Some(Duration::from_millis(3_500))
        );
        assert_eq!(token_age(key, &other, &token, 4_500), None);
        assert_eq!(token_age(b"another key", &bloom, &token, 4_500), None);
        let moved = token.replacen("1000.", "900.", 1);
        assert_eq!(token_age(key, &bloom, &moved, 4_500), None, "time changed");
        assert_eq!(token_age(key, &bloom, &token, 999), None, "from the future");
        assert_eq!(token_age(key, &bloom, "", 4_500), None);
    }
}
