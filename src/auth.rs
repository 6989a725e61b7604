//! API keys: the key decides the program, its scopes and the locations it may act at.
//!
//! Keys are stored as SHA-256 hashes. A presented key is hashed and compared with every
//! configured hash in constant time, and the loop does not stop at a match, so response time
//! says nothing about how close a guess was. No key: 401. A key without the scope or location
//! the endpoint needs: 403.

use std::sync::Arc;

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{web, FromRequest, HttpRequest};
use futures_util::future::{ready, Ready};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::configuration::{ApiKeyEntry, Program, Scope};
use crate::domain::LocationId;
use crate::error::ApiError;
use crate::startup::AppState;

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

/// Finds the configured key whose hash matches `presented`, in constant time per entry.
pub fn find_key<'a>(keys: &'a [Arc<ApiKeyEntry>], presented: &str) -> Option<&'a Arc<ApiKeyEntry>> {
    let digest: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
    let mut found = None;
    for entry in keys {
        if bool::from(entry.sha256.ct_eq(&digest)) {
            found = Some(entry);
        }
    }
    found
}

fn authenticate(req: &HttpRequest) -> Result<ApiKey, ApiError> {
    let state = req
        .app_data::<web::Data<AppState>>()
        .ok_or_else(|| ApiError::unexpected("AppState missing from app data"))?;
    let header = req
        .headers()
        .get(header::AUTHORIZATION)
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
