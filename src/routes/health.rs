//! Operations endpoints (no auth): liveness, readiness, metrics.

use actix_web::{get, web, HttpResponse};
use utoipa_actix_web::service_config::ServiceConfig;

use crate::error::ApiError;
use crate::routes::AppState;

#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct Status {
    /// `ok` (healthz) or `ready` (readyz).
    pub(crate) status: &'static str,
}

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(healthz).service(readyz).service(metrics);
}

/// The process is up.
#[utoipa::path(responses((status = 200, body = Status, description = "Up")), tag = "operations")]
#[get("/healthz")]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(Status { status: "ok" })
}

/// Redis answers: 200, else 503.
#[utoipa::path(
    responses((status = 200, body = Status, description = "Ready")),
    tag = "operations"
)]
#[get("/readyz")]
pub async fn readyz(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    state.store.ping().await?;
    Ok(HttpResponse::Ok().json(Status { status: "ready" }))
}

/// Prometheus text exposition.
#[utoipa::path(
    responses((status = 200, body = String, content_type = "text/plain", description = "Prometheus text exposition")),
    tag = "operations"
)]
#[get("/metrics")]
pub async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(state.metrics.render())
}
