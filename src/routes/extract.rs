//! Request extractors: JSON bodies, raw bodies, API keys.
//!
//! [`ValidJson`] reads the body itself instead of using `web::Json`, to tell three failures
//! apart as the contract asks: a body over the limit (413), bytes that are not JSON (400), and
//! JSON whose fields have the wrong type or are missing (422, naming the field by its path).

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{web, FromRequest, HttpRequest};
use futures_util::future::LocalBoxFuture;
use futures_util::StreamExt;
use serde::de::DeserializeOwned;

use std::sync::Arc;

use actix_web::http::header as headers;
use futures_util::future::{ready, Ready};

use crate::auth::{find_key, ApiKeyEntry, Scope};
use crate::domain::{LocationId, Program};
use crate::error::{ApiError, ErrorKind};
use crate::routes::AppState;

/// The largest body accepted, registered as app data.
#[derive(Debug, Clone, Copy)]
pub struct BodyLimit(pub usize);

pub struct ValidJson<T>(pub T);

impl<T: DeserializeOwned + 'static> FromRequest for ValidJson<T> {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let (limit, declared_len) = limits(req);
        let content_type = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_ascii_lowercase();
        let mut payload = payload.take();
        Box::pin(async move {
            let essence = content_type.split(';').next().unwrap_or("").trim();
            if !(essence == "application/json" || essence.ends_with("+json")) {
                return Err(ApiError::new(
                    ErrorKind::UnsupportedMediaType,
                    "send the body as application/json",
                ));
            }
            let body = read_limited(&mut payload, limit, declared_len).await?;
            parse_json(&body).map(ValidJson)
        })
    }
}

/// The raw body, up to the configured limit (413 beyond): for webhooks, whose signatures are
/// computed over the exact bytes.
pub struct RawBody(pub web::Bytes);

impl FromRequest for RawBody {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let (limit, declared_len) = limits(req);
        let mut payload = payload.take();
        Box::pin(async move {
            read_limited(&mut payload, limit, declared_len)
                .await
                .map(|b| RawBody(b.freeze()))
        })
    }
}

fn limits(req: &HttpRequest) -> (usize, Option<usize>) {
    let limit = req
        .app_data::<web::Data<BodyLimit>>()
        .map(|l| l.0)
        .unwrap_or(64 * 1024);
    let declared_len = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    (limit, declared_len)
}

async fn read_limited(
    payload: &mut Payload,
    limit: usize,
    declared_len: Option<usize>,
) -> Result<web::BytesMut, ApiError> {
    let too_large = || {
        ApiError::new(
            ErrorKind::PayloadTooLarge,
            format!("the body must be at most {limit} bytes"),
        )
    };
    if declared_len.is_some_and(|len| len > limit) {
        return Err(too_large());
    }
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk
            .map_err(|_| ApiError::new(ErrorKind::BadRequest, "the body could not be read"))?;
        if body.len() + chunk.len() > limit {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// Parses a JSON body, sorting errors into 400 (not JSON) and 422 (wrong shape, field named).
/// The body must be an object: serde would read a struct from an array of its fields in order.
pub fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    if let Some(first) = body.iter().find(|b| !b.is_ascii_whitespace()) {
        if *first == b'[' {
            return Err(ApiError::invalid("body", "must be a JSON object"));
        }
    }
    let mut de = serde_json::Deserializer::from_slice(body);
    let parsed: Result<T, _> = serde_path_to_error::deserialize(&mut de);
    let value = match parsed {
        Ok(value) => value,
        Err(e) => {
            let path = e.path().to_string();
            let inner = e.into_inner();
            return Err(match inner.classify() {
                serde_json::error::Category::Data => {
                    let message = inner.to_string();
                    let message = message.split(" at line").next().unwrap_or(&message);
                    let field = missing_field(message).unwrap_or(path);
                    let field = if field == "." {
                        "body".to_owned()
                    } else {
                        field
                    };
                    ApiError::invalid(&field, message)
                }
                _ => ApiError::new(
                    ErrorKind::MalformedJson,
                    format!("the body is not valid JSON: {inner}"),
                ),
            });
        }
    };
    de.end().map_err(|e| {
        ApiError::new(
            ErrorKind::MalformedJson,
            format!("the body is not valid JSON: {e}"),
        )
    })?;
    Ok(value)
}

fn missing_field(message: &str) -> Option<String> {
    let rest = message.strip_prefix("missing field `")?;
    Some(rest.split('`').next()?.to_owned())
}

/// An authenticated caller.
#[derive(Clone)]
pub struct ApiKey {
    pub entry: Arc<ApiKeyEntry>,
    pub program: Arc<Program>,
}

impl ApiKey {
    /// `admin` may do everything; other scopes only what they name.
    pub fn require(self, scope: Scope) -> Result<Self, ApiError> {
        if self.entry.scopes.contains(&scope) || self.entry.scopes.contains(&Scope::Admin) {
            Ok(self)
        } else {
            Err(ApiError::forbidden(format!(
                "the API key {:?} lacks the {} scope",
                self.entry.name,
                scope.as_str()
            )))
        }
    }

    pub fn require_location(&self, location: &LocationId) -> Result<(), ApiError> {
        match &self.entry.locations {
            Some(allowed) if !allowed.contains(location) => Err(ApiError::forbidden(format!(
                "the API key {:?} may not act at location {:?}",
                self.entry.name,
                location.as_str()
            ))),
            _ => Ok(()),
        }
    }
}

fn authenticate(req: &HttpRequest) -> Result<ApiKey, ApiError> {
    let state = req
        .app_data::<web::Data<AppState>>()
        .ok_or_else(|| ApiError::unexpected("AppState missing from app data"))?;
    let header = req
        .headers()
        .get(headers::AUTHORIZATION)
        .ok_or_else(|| ApiError::unauthorized("send Authorization: Bearer <api key>"))?;
    let value = header
        .to_str()
        .map_err(|_| ApiError::unauthorized("the Authorization header is not readable"))?;
    let token = value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| ApiError::unauthorized("use Authorization: Bearer <api key>"))?;
    let entry = find_key(&state.settings.api_keys, token)
        .ok_or_else(|| ApiError::unauthorized("unknown API key"))?;
    let program = state
        .program(&entry.program)
        .ok_or_else(|| ApiError::unexpected("API key names an unknown program"))?;
    Ok(ApiKey {
        entry: entry.clone(),
        program,
    })
}

impl FromRequest for ApiKey {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(authenticate(req))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Body {
        phone: String,
        amount: i64,
    }

    #[test]
    fn errors_name_the_field_or_say_the_body_is_not_json() {
        let e = parse_json::<Body>(br#"{"phone": "1", "amount": "12"}"#).unwrap_err();
        assert_eq!(e.kind, ErrorKind::Validation);
        assert_eq!(e.field.as_deref(), Some("amount"));
        let e = parse_json::<Body>(br#"{"amount": 12}"#).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("phone"));
        let e = parse_json::<Body>(br#"{"phone": "1", "amount": 12"#).unwrap_err();
        assert_eq!(e.kind, ErrorKind::MalformedJson);
        let e = parse_json::<Body>(br#"{"phone": "1", "amount": 12} trailing"#).unwrap_err();
        assert_eq!(e.kind, ErrorKind::MalformedJson);
        let e = parse_json::<Body>(b"[1,2]").unwrap_err();
        assert_eq!(e.kind, ErrorKind::Validation);
    }
}
