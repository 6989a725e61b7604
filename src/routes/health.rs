//! Operations endpoints (no auth): liveness, readiness, metrics.

use actix_web::{get, web, HttpResponse};
use utoipa_actix_web::service_config::ServiceConfig;

use crate::error::ApiError;
use crate::routes::AppState;
use crate::store::StoreError;

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

/// Reads what waits in Redis into the gauges: each program's outbox, retries, dead letters and
/// automation triggers, and each webhook endpoint's queues. `loyalty_redis_up` says whether
/// the figures are current.
async fn scrape_queues(state: &AppState) -> Result<(), StoreError> {
    let gauges = &state.metrics;
    for program in state.programs.iter() {
        let keys = state.outbox.keys(program);
        let mut pipe = redis::pipe();
        pipe.xlen(keys.outbox())
            .zcard(keys.delayed())
            .xlen(keys.dead())
            .zcard(keys.auto_due());
        let (outbox, delayed, dead, due): (u64, u64, u64, u64) =
            state.store.pipeline(&pipe).await?;
        let labels = [("program", program.id.as_str())];
        gauges.set("loyalty_outbox_depth", &labels, outbox as f64);
        gauges.set("loyalty_outbox_delayed", &labels, delayed as f64);
        gauges.set("loyalty_outbox_dead_letters", &labels, dead as f64);
        gauges.set("loyalty_automations_due", &labels, due as f64);
        for endpoint in state.events.states(program).await? {
            let labels = [
                ("program", program.id.as_str()),
                ("endpoint", endpoint.id.as_str()),
            ];
            gauges.set(
                "loyalty_webhook_queue_depth",
                &labels,
                endpoint.queued as f64,
            );
            gauges.set("loyalty_webhook_delayed", &labels, endpoint.retrying as f64);
            gauges.set(
                "loyalty_webhook_dead_letters",
                &labels,
                endpoint.dead as f64,
            );
        }
    }
    Ok(())
}

/// Prometheus text exposition.
#[utoipa::path(
    responses((status = 200, body = String, content_type = "text/plain", description = "Prometheus text exposition")),
    tag = "operations"
)]
#[get("/metrics")]
pub async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    let up = match scrape_queues(&state).await {
        Ok(()) => 1.0,
        Err(e) => {
            tracing::warn!(error = %e, "metrics: cannot read the queue depths from Redis");
            0.0
        }
    };
    state.metrics.set("loyalty_redis_up", &[], up);
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(state.metrics.render())
}
