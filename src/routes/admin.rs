//! Admin endpoints (scope `admin`): member operations (adjust, erase), consent records and
//! message delivery state.

use actix_web::{delete, get, post, web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;

use crate::auth::Scope;
use crate::domain::IdempotencyKey;
use crate::error::{ApiError, FieldContext};
use crate::ledger::{AdjustCommand, LedgerError, Standing};
use crate::routes::extract::{ApiKey, ValidJson};
use crate::routes::in_span;
use crate::routes::pos::{phone_of, respond};
use crate::routes::AppState;

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(adjust)
        .service(erase)
        .service(consent)
        .service(message)
        .service(member_messages)
        .service(dead_letters)
        .service(requeue);
}

/// Largest adjustment either way.
const MAX_ADJUST_POINTS: i64 = 100_000_000;
/// Longest reason.
const MAX_REASON: usize = 200;
/// The header that makes an adjustment idempotent.
const IDEMPOTENCY_KEY: &str = "Idempotency-Key";

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AdjustRequest {
    /// Signed change to the balance, not zero.
    #[schema(minimum = -100_000_000, maximum = 100_000_000, example = 250)]
    points: i64,
    /// Why: recorded in history with the acting key's name.
    #[schema(
        min_length = 1,
        max_length = 200,
        example = "Goodwill: order arrived late"
    )]
    reason: String,
    /// Allow the balance to go below zero (default false).
    #[serde(default)]
    allow_negative: bool,
}

#[derive(Serialize, ToSchema)]
pub struct AdjustResponse {
    phone: String,
    /// The change made.
    points: i64,
    balance: i64,
    lifetime_points: i64,
    tier: String,
    status: crate::ledger::MemberStatus,
}

/// Add or take points outside a purchase (goodwill, corrections). The reason and the acting
/// key's name go into the member's history. With an `Idempotency-Key` header, a retry answers
/// the first result and changes nothing.
#[utoipa::path(
    params(
        ("phone" = String, Path, max_length = 64, description = "Any common format; national numbers use the program's country"),
        ("Idempotency-Key" = Option<String>, Header, max_length = 128, pattern = "^[!-~]([ -~]{0,126}[!-~])?$", description = "Makes a retry answer the first result"),
    ),
    request_body = AdjustRequest,
    responses(
        (status = 200, body = AdjustResponse, headers(("Idempotent-Replayed" = String, description = "true when this repeats the first response to the same request; nothing was written again"))),
        (status = 404, description = "member-not-found"),
        (status = 409, description = "insufficient-points: the balance would go below zero without allow_negative; receipt-conflict: the Idempotency-Key was used with another body"),
    ),
    security(("api_key" = [])), tag = "admin"
)]
#[post("/v1/members/{phone}/adjust")]
pub async fn adjust(
    key: ApiKey,
    state: web::Data<AppState>,
    path: web::Path<String>,
    request: HttpRequest,
    body: ValidJson<AdjustRequest>,
) -> Result<HttpResponse, ApiError> {
    let key = key.require(Scope::Admin)?;
    let program = &key.program;
    let phone = phone_of(program, &path)?;
    let req = body.0;
    if req.points == 0 || req.points.abs() > MAX_ADJUST_POINTS {
        return Err(ApiError::invalid(
            "points",
            format!("must be a non-zero whole number within ±{MAX_ADJUST_POINTS}"),
        ));
    }
    let reason = req.reason.trim();
    if reason.is_empty() || reason.chars().count() > MAX_REASON {
        return Err(ApiError::invalid(
            "reason",
            format!("must be 1-{MAX_REASON} characters"),
        ));
    }
    if reason.chars().any(char::is_control) {
        return Err(ApiError::invalid(
            "reason",
            "must not contain control characters",
        ));
    }
    let idempotency_key = match request.headers().get(IDEMPOTENCY_KEY) {
        Some(value) => Some(
            value
                .to_str()
                .map_err(|_| ApiError::invalid(IDEMPOTENCY_KEY, "must be printable ASCII"))
                .and_then(|v| IdempotencyKey::parse(v).field(IDEMPOTENCY_KEY))?,
        ),
        None => None,
    };
    let span = tracing::info_span!("adjust", program = %program.id, phone = %phone.masked());
    let cmd = AdjustCommand {
        phone: &phone,
        points: req.points,
        reason,
        by: &key.entry.name,
        allow_negative: req.allow_negative,
        idempotency_key: idempotency_key.as_ref().map(IdempotencyKey::as_str),
    };
    let written = in_span(&span, state.ledger.adjust(program, &cmd)).await?;
    tracing::info!(parent: &span, points = req.points, replay = written.is_replay(),
        by = %key.entry.name, "adjust");
    let member = written.get();
    let body = AdjustResponse {
        phone: member.phone.clone(),
        points: req.points,
        balance: member.balance,
        lifetime_points: member.lifetime_points,
        tier: member.tier.clone(),
        status: member.status,
    };
    Ok(respond(&written, body))
}

/// Erase a member: name, birthday, history, codes, texts and visits are removed; the program's
/// totals stay (they never named anyone); the consent record is kept under a keyed hash of the
/// number, which also goes on a suppression list so the number is never texted again unless it
/// texts a keyword itself.
#[utoipa::path(
    params(("phone" = String, Path, max_length = 64, description = "Any common format; national numbers use the program's country")),
    responses(
        (status = 204, description = "Erased"),
        (status = 404, description = "member-not-found"),
    ),
    security(("api_key" = [])), tag = "admin"
)]
#[delete("/v1/members/{phone}")]
pub async fn erase(
    key: ApiKey,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let key = key.require(Scope::Admin)?;
    let program = &key.program;
    let phone = phone_of(program, &path)?;
    let span = tracing::info_span!("erase", program = %program.id, phone = %phone.masked());
    in_span(&span, state.ledger.erase(program, &phone, &key.entry.name)).await?;
    tracing::info!(parent: &span, by = %key.entry.name, "member erased");
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Serialize, ToSchema)]
pub struct ConsentResponse {
    phone: String,
    /// `erased` once the member was erased (the record is kept as proof of consent).
    status: Standing,
    /// Every opt-in and opt-out, newest first: when, how (sms, pos, carrier...), the exact text
    /// and the provider message id.
    #[schema(value_type = Vec<Object>)]
    records: Vec<serde_json::Value>,
}

/// The consent record of a member.
#[utoipa::path(
    params(("phone" = String, Path, max_length = 64, description = "Any common format; national numbers use the program's country")),
    responses(
        (status = 200, body = ConsentResponse),
        (status = 404, description = "member-not-found"),
    ),
    security(("api_key" = [])), tag = "admin"
)]
#[get("/v1/members/{phone}/consent")]
pub async fn consent(
    key: ApiKey,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let key = key.require(Scope::Admin)?;
    let program = &key.program;
    let phone = phone_of(program, &path)?;
    let (status, records) = state
        .ledger
        .consent(program, &phone)
        .await?
        .ok_or(LedgerError::MemberNotFound)?;
    Ok(HttpResponse::Ok().json(ConsentResponse {
        phone: phone.to_string(),
        status,
        records,
    }))
}

/// An outbound message and its delivery state.
#[utoipa::path(
    params(("id" = String, Path, pattern = "^[A-Za-z0-9]{1,32}$", description = "Message id (m123)")),
    responses(
        (status = 200, body = Object, description = "id, to, kind, template, status, attempts, body, segments, provider_id, error...; once final (delivered, undelivered, failed, suppressed) only id, kind, template, campaign, status, attempts, segments, created_ms, delivered_at or final_at, error_code, error"),
        (status = 404, description = "not-found: no message with this id"),
    ),
    security(("api_key" = [])), tag = "admin"
)]
#[get("/v1/messages/{id}")]
pub async fn message(
    key: ApiKey,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let key = key.require(Scope::Admin)?;
    let id = path.into_inner();
    if !valid_message_id(&id) {
        return Err(ApiError::invalid("id", "is not a message id"));
    }
    let record = state
        .outbox
        .message(&key.program, &id)
        .await?
        .ok_or_else(|| ApiError::not_found("no message with this id"))?;
    Ok(HttpResponse::Ok().json(message_json(record)))
}

/// A stored message record as JSON, numbers as numbers.
fn message_json(record: std::collections::HashMap<String, String>) -> serde_json::Value {
    let mut body = serde_json::Map::new();
    for (k, v) in record {
        let value = match k.as_str() {
            "attempts" | "segments" | "created_ms" | "retry_at_ms" => v
                .parse::<i64>()
                .map(serde_json::Value::from)
                .unwrap_or(serde_json::Value::String(v)),
            "vars" => serde_json::from_str(&v).unwrap_or(serde_json::Value::String(v)),
            _ => serde_json::Value::String(v),
        };
        body.insert(k, value);
    }
    serde_json::Value::Object(body)
}

/// A member's texts with their delivery state, newest first (the last 200).
#[utoipa::path(
    params(("phone" = String, Path, max_length = 64, description = "Any common format; national numbers use the program's country")),
    responses(
        (status = 200, body = Vec<Object>, description = "Message records, newest first"),
    ),
    security(("api_key" = [])), tag = "admin"
)]
#[get("/v1/members/{phone}/messages")]
pub async fn member_messages(
    key: ApiKey,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let key = key.require(Scope::Admin)?;
    let program = &key.program;
    let phone = phone_of(program, &path)?;
    let messages: Vec<serde_json::Value> = state
        .outbox
        .member_messages(program, &phone)
        .await?
        .into_iter()
        .map(message_json)
        .collect();
    Ok(HttpResponse::Ok().json(messages))
}

/// Message ids are `m` and a number; anything else cannot be one.
fn valid_message_id(id: &str) -> bool {
    (1..=32).contains(&id.len()) && id.chars().all(|c| c.is_ascii_alphanumeric())
}

#[derive(Serialize, ToSchema)]
pub struct Requeued {
    id: String,
    status: &'static str,
}

#[derive(Serialize, ToSchema)]
pub struct DeadLetter {
    id: String,
    error: String,
}

/// Messages that used up every attempt, oldest first.
#[utoipa::path(
    responses((status = 200, body = Vec<DeadLetter>)),
    security(("api_key" = [])), tag = "admin"
)]
#[get("/v1/dead-letters")]
pub async fn dead_letters(
    key: ApiKey,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let key = key.require(Scope::Admin)?;
    let letters: Vec<DeadLetter> = state
        .outbox
        .dead_letters(&key.program, 1000)
        .await?
        .into_iter()
        .map(|(id, error)| DeadLetter { id, error })
        .collect();
    Ok(HttpResponse::Ok().json(letters))
}

/// Send a dead-lettered message again, with a fresh set of attempts.
#[utoipa::path(
    params(("id" = String, Path, pattern = "^[A-Za-z0-9]{1,32}$", description = "Message id")),
    responses(
        (status = 202, body = Requeued, description = "Queued again"),
        (status = 404, description = "not-found: no dead letter with this id"),
    ),
    security(("api_key" = [])), tag = "admin"
)]
#[post("/v1/dead-letters/{id}/requeue")]
pub async fn requeue(
    key: ApiKey,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let key = key.require(Scope::Admin)?;
    let id = path.into_inner();
    if !valid_message_id(&id) {
        return Err(ApiError::invalid("id", "is not a message id"));
    }
    if !state.outbox.requeue(&key.program, &id).await? {
        return Err(ApiError::not_found("no dead letter with this id"));
    }
    Ok(HttpResponse::Accepted().json(Requeued {
        id,
        status: "queued",
    }))
}
