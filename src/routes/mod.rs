//! HTTP routes, one module per audience: operations, POS, admin, providers; the extractors
//! they share, and the state only they see.

pub mod admin;
pub mod campaigns;
pub mod events;
pub mod extract;
pub mod health;
pub mod openapi;
pub mod pos;
mod state;
pub mod stats;
pub mod webhooks;

pub use state::AppState;

use std::future::Future;
use std::sync::LazyLock;

use tracing::{Instrument, Span};
use utoipa::Modify;
use utoipa_actix_web::service_config::ServiceConfig;
use utoipa_actix_web::AppExt;

use crate::error::ApiError;

/// Runs `work` (a ledger call) inside `span` and converts its error there, so that what the
/// conversion logs ("redis unavailable", "unexpected error") carries the span's program and
/// member. The handler's own line about the outcome is logged with `parent: &span`.
pub(crate) async fn in_span<T, E: Into<ApiError>>(
    span: &Span,
    work: impl Future<Output = Result<T, E>>,
) -> Result<T, ApiError> {
    async { work.await.map_err(Into::into) }
        .instrument(span.clone())
        .await
}

/// The one list of the API: every route is registered here, and the OpenAPI document is made
/// from the same calls (utoipa-actix-web collects each handler's `#[utoipa::path]`), so a route
/// cannot exist undocumented.
pub fn register(cfg: &mut ServiceConfig) {
    cfg.configure(health::configure)
        .configure(pos::configure)
        .configure(admin::configure)
        .configure(campaigns::configure)
        .configure(events::configure)
        .configure(stats::configure)
        .configure(webhooks::configure)
        .service(openapi::openapi_json);
}

/// The API document: the paths [`register`] registers, with [`openapi::ApiDoc`]'s info,
/// security scheme and shared schemas, and the conventions every operation follows.
pub static DOCUMENT: LazyLock<utoipa::openapi::OpenApi> = LazyLock::new(|| {
    use utoipa::OpenApi;
    let (_, mut document) = actix_web::App::new()
        .into_utoipa_app()
        .openapi(openapi::ApiDoc::openapi())
        .configure(register)
        .split_for_parts();
    openapi::Conventions.modify(&mut document);
    document
});

/// The methods the API document lists for each path template, segment by segment: what a 405
/// names in `Allow` when a known path is called with another method.
static ALLOWED: LazyLock<Vec<(Vec<String>, String)>> = LazyLock::new(|| {
    DOCUMENT
        .paths
        .paths
        .iter()
        .map(|(template, item)| {
            let methods: Vec<&str> = [
                ("GET", item.get.is_some()),
                ("POST", item.post.is_some()),
                ("PUT", item.put.is_some()),
                ("PATCH", item.patch.is_some()),
                ("DELETE", item.delete.is_some()),
            ]
            .into_iter()
            .filter_map(|(name, present)| present.then_some(name))
            .collect();
            let segments = template.split('/').map(str::to_owned).collect();
            (segments, methods.join(", "))
        })
        .collect()
});

/// The `Allow` value for `path` when the API has it under other methods.
pub fn allowed_methods(path: &str) -> Option<&'static str> {
    let segments: Vec<&str> = path.split('/').collect();
    ALLOWED.iter().find_map(|(template, allow)| {
        let matches = template.len() == segments.len()
            && template
                .iter()
                .zip(&segments)
                .all(|(t, s)| (t.starts_with('{') && t.ends_with('}') && !s.is_empty()) || t == s);
        matches.then_some(allow.as_str())
    })
}
