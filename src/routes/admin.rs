//! Admin endpoints (scope `admin`): consent records and message delivery state.

use actix_web::{get, post, web, HttpResponse};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;

use crate::auth::Scope;
use crate::error::{ApiError, ErrorKind};
use crate::routes::extract::ApiKey;
use crate::routes::pos::phone_of;
use crate::routes::AppState;

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(consent)
        .service(message)
        .service(member_messages)
        .service(dead_letters)
        .service(requeue);
}

#[derive(Serialize, ToSchema)]
pub struct ConsentResponse {
    phone: String,
    status: crate::ledger::MemberStatus,
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
    let member = state.ledger.member(program, &phone).await?.ok_or_else(|| {
        ApiError::new(
            ErrorKind::MemberNotFound,
            "no member with this phone number",
        )
    })?;
    let records = state.ledger.consent_records(program, &phone).await?;
    Ok(HttpResponse::Ok().json(ConsentResponse {
        phone: phone.to_string(),
        status: member.status,
        records,
    }))
}

/// An outbound message and its delivery state.
#[utoipa::path(
    params(("id" = String, Path, pattern = "^[A-Za-z0-9]{1,32}$", description = "Message id (m123)")),
    responses(
        (status = 200, body = Object, description = "id, to, kind, template, status, attempts, body, segments, provider_id, error..."),
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
