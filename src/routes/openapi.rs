//! The OpenAPI document, generated from the handlers' annotations.

use actix_web::{get, HttpResponse};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::{admin, health, pos, webhooks};

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_key",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "loyalty-gateway", description = "SMS-first customer loyalty gateway"),
    paths(
        health::healthz, health::readyz, health::metrics,
        pos::earn, pos::redeem, pos::reverse, pos::void_redemption, pos::member, pos::history,
        admin::consent, admin::message, admin::member_messages, admin::dead_letters, admin::requeue,
        webhooks::twilio_inbound, webhooks::twilio_status, webhooks::telnyx,
        openapi_json,
    ),
    modifiers(&BearerAuth),
    tags((name = "pos"), (name = "admin"), (name = "webhooks"), (name = "operations"))
)]
pub struct ApiDoc;

/// This document.
#[utoipa::path(responses((status = 200, description = "OpenAPI 3.1 JSON")), tag = "operations")]
#[get("/openapi.json")]
pub async fn openapi_json() -> HttpResponse {
    HttpResponse::Ok().json(ApiDoc::openapi())
}
