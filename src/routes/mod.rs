//! HTTP routes, one module per audience: operations, POS, admin, providers; the extractors
//! they share, and the state only they see.

pub mod admin;
pub mod extract;
pub mod health;
pub mod openapi;
pub mod pos;
mod state;
pub mod webhooks;

pub use state::AppState;

use std::sync::LazyLock;

use utoipa::OpenApi;

/// The methods the API document lists for each path template, segment by segment: what a 405
/// names in `Allow` when a known path is called with another method.
static ALLOWED: LazyLock<Vec<(Vec<String>, String)>> = LazyLock::new(|| {
    openapi::ApiDoc::openapi()
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
