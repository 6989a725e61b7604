//! The OpenAPI document, generated from the handlers' annotations.
//!
//! Handlers declare what is particular to them (their bodies, the 404s and 409s they answer).
//! What every operation of a kind answers is added here by [`Conventions`], from the same
//! facts that produce those answers in the code: an operation with an API key answers 401 and
//! 403 (the [`crate::routes::extract::ApiKey`] extractor), one with a JSON body 400, 413, 415 and 422
//! ([`crate::routes::extract::ValidJson`]), one with path or query parameters 422, one that reads Redis
//! 503 with `Retry-After`. Every error is `application/problem+json` with the [`Problem`] schema,
//! and every response carries `X-Request-Id`.

use actix_web::{get, HttpResponse};
use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::path::{Operation, ParameterBuilder, ParameterIn};
use utoipa::openapi::response::Response;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, Object, ObjectBuilder, Ref, RefOr, Required, Schema, Type};
use utoipa::{Modify, OpenApi};

use crate::error::Problem;
use crate::telemetry::REQUEST_ID_HEADER;

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

/// Operations that never touch Redis.
const WITHOUT_REDIS: &[&str] = &["/healthz", "/metrics", "/openapi.json"];

pub struct Conventions;

impl Modify for Conventions {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for (path, item) in openapi.paths.paths.iter_mut() {
            for operation in [
                &mut item.get,
                &mut item.post,
                &mut item.put,
                &mut item.patch,
                &mut item.delete,
            ]
            .into_iter()
            .flatten()
            {
                apply_conventions(path, operation);
            }
        }
    }
}

fn string_schema() -> Object {
    ObjectBuilder::new().schema_type(Type::String).build()
}

fn apply_conventions(path: &str, operation: &mut Operation) {
    let secured = operation.security.as_ref().is_some_and(|s| !s.is_empty());
    let body_types: Vec<String> = operation
        .request_body
        .as_ref()
        .map(|b| b.content.keys().cloned().collect())
        .unwrap_or_default();
    // Webhooks read their bodies raw, for the signature; the JSON rules are the API's.
    let json_body =
        body_types.iter().any(|t| t == "application/json") && !path.starts_with("/webhooks/");
    let any_body = !body_types.is_empty();
    let parameters = operation.parameters.as_ref().is_some_and(|p| !p.is_empty());
    let mut usual: Vec<(u16, &str)> = Vec::new();
    if json_body {
        usual.extend([
            (400, "malformed-json: the body is not JSON"),
            (
                415,
                "unsupported-media-type: the body is not application/json",
            ),
            (
                422,
                "validation-error: a field is invalid; `field` names it",
            ),
        ]);
    }
    if any_body {
        usual.push((
            413,
            "payload-too-large: the body is larger than server.body_limit",
        ));
    }
    if parameters {
        usual.push((
            422,
            "validation-error: a parameter is invalid; `field` names it",
        ));
    }
    if secured {
        usual.extend([
            (401, "unauthorized: no API key, or an unknown one"),
            (403, "forbidden: the key lacks the scope or the location"),
        ]);
    }
    if !WITHOUT_REDIS.contains(&path) {
        usual.push((
            503,
            "service-unavailable: Redis is not answering (or reloading, or failing over); retry after Retry-After seconds",
        ));
    }
    for (status, description) in usual {
        operation
            .responses
            .responses
            .entry(status.to_string())
            .or_insert_with(|| RefOr::T(Response::new(description)));
    }
    let problem = ContentBuilder::new()
        .schema(Some(Ref::from_schema_name("Problem")))
        .build();
    for (status, response) in operation.responses.responses.iter_mut() {
        let RefOr::T(response) = response else {
            continue;
        };
        let status: u16 = status.parse().unwrap_or(0);
        if status >= 400 {
            response.content.clear();
            response
                .content
                .insert("application/problem+json".into(), problem.clone());
        }
        let mut header = |name: &str, description: &str| {
            response.headers.insert(
                name.to_owned(),
                HeaderBuilder::new()
                    .schema(string_schema())
                    .description(Some(description))
                    .build(),
            );
        };
        header(
            REQUEST_ID_HEADER.as_str(),
            "The request's id: the client's X-Request-Id when it sent one, else a new one. Logs carry it too.",
        );
        match status {
            503 => header("Retry-After", "Seconds to wait before retrying."),
            401 => header("WWW-Authenticate", "Bearer"),
            _ => {}
        }
    }
    operation.parameters.get_or_insert_with(Vec::new).push(
        ParameterBuilder::new()
            .name(REQUEST_ID_HEADER.as_str())
            .parameter_in(ParameterIn::Header)
            .required(Required::False)
            .description(Some(
                "An id for this request, echoed in the response and the logs. One that is not 1-128 letters, digits, -, _, . or : is replaced by a new id.",
            ))
            .schema(Some(Schema::Object(string_schema())))
            .build(),
    );
}

/// What the document says besides its paths (those come from [`super::register`]).
#[derive(OpenApi)]
#[openapi(
    info(title = "loyalty-gateway", description = "SMS-first customer loyalty gateway"),
    components(schemas(Problem)),
    modifiers(&BearerAuth),
    tags((name = "pos"), (name = "marketing"), (name = "admin"), (name = "webhooks"), (name = "operations"))
)]
pub struct ApiDoc;

/// This document.
#[utoipa::path(responses((status = 200, description = "OpenAPI 3.1 JSON")), tag = "operations")]
#[get("/openapi.json")]
pub async fn openapi_json() -> HttpResponse {
    HttpResponse::Ok().json(&*super::DOCUMENT)
}
