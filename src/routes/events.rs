//! Events out, for operators (scope `admin`): the webhook endpoints and what waits for each,
//! their dead letters, and requeueing one.

use actix_web::{get, post, web, HttpResponse};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;

use crate::auth::Scope;
use crate::domain::WebhookEndpoint;
use crate::error::ApiError;
use crate::events::{DeadEvent, EndpointState};
use crate::routes::extract::ApiKey;
use crate::routes::AppState;

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(endpoints)
        .service(dead_letters)
        .service(requeue);
}

/// The endpoint named in the path, if it receives this key's program's events.
fn endpoint<'a>(
    state: &'a AppState,
    key: &'a ApiKey,
    id: &str,
) -> Result<&'a std::sync::Arc<WebhookEndpoint>, ApiError> {
    state
        .events
        .endpoint(&key.program, id)
        .ok_or_else(|| ApiError::not_found("no webhook endpoint with this id for this program"))
}

/// The program's webhook endpoints, with the events queued, retrying and dead for each.
#[utoipa::path(
    responses((status = 200, body = Vec<EndpointState>)),
    security(("api_key" = [])), tag = "admin"
)]
#[get("/v1/webhooks")]
pub async fn endpoints(key: ApiKey, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let key = key.require(Scope::Admin)?;
    Ok(HttpResponse::Ok().json(state.events.states(&key.program).await?))
}

/// Events that used up every attempt at an endpoint, oldest first.
#[utoipa::path(
    params(("endpoint" = String, Path, pattern = "^[a-z0-9_-]{1,32}$", description = "The endpoint's id (GET /v1/webhooks)")),
    responses(
        (status = 200, body = Vec<DeadEvent>),
        (status = 404, description = "not-found: the program has no webhook endpoint with this id"),
    ),
    security(("api_key" = [])), tag = "admin"
)]
#[get("/v1/webhooks/{endpoint}/dead-letters")]
pub async fn dead_letters(
    key: ApiKey,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let key = key.require(Scope::Admin)?;
    let endpoint = endpoint(&state, &key, &path)?;
    let letters = state
        .events
        .dead_letters(&key.program, &endpoint.id, 1000)
        .await?;
    Ok(HttpResponse::Ok().json(letters))
}

#[derive(Serialize, ToSchema)]
pub struct RequeuedEvent {
    id: String,
    status: &'static str,
}

/// Deliver a dead-lettered event again, with a fresh set of attempts and the same webhook-id.
#[utoipa::path(
    params(
        ("endpoint" = String, Path, pattern = "^[a-z0-9_-]{1,32}$", description = "The endpoint's id"),
        ("id" = String, Path, pattern = "^evt_[0-9]{1,20}$", description = "The event's webhook-id"),
    ),
    responses(
        (status = 202, body = RequeuedEvent, description = "Queued again"),
        (status = 404, description = "not-found: the program has no webhook endpoint, or no dead letter, with this id"),
    ),
    security(("api_key" = [])), tag = "admin"
)]
#[post("/v1/webhooks/{endpoint}/dead-letters/{id}/requeue")]
pub async fn requeue(
    key: ApiKey,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let key = key.require(Scope::Admin)?;
    let (endpoint_id, id) = path.into_inner();
    let endpoint = endpoint(&state, &key, &endpoint_id)?;
    let valid = id.len() <= 24
        && id
            .strip_prefix("evt_")
            .is_some_and(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()));
    if !valid {
        return Err(ApiError::invalid("id", "is not an event id (evt_123)"));
    }
    if !state
        .events
        .requeue(&key.program, &endpoint.id, &id)
        .await?
    {
        return Err(ApiError::not_found("no dead letter with this id"));
    }
    Ok(HttpResponse::Accepted().json(RequeuedEvent {
        id,
        status: "queued",
    }))
}
