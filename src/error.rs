//! API errors as RFC 9457 problem details.
//!
//! Handlers return [`ApiError`]: a [`ErrorKind`] (one row of the table below decides its status,
//! `type` and `title`), a `detail` written for the client, and for validation errors the
//! offending `field`. Causes that clients must not see (Redis error texts, bugs) are logged here
//! and replaced by a generic detail.

use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

use crate::domain::ParseError;
use crate::ledger::LedgerError;
use crate::store::StoreError;
use crate::telemetry::Chain;

/// Seconds a client should wait before retrying after a 503.
pub const RETRY_AFTER_SECS: u64 = 2;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    Unauthorized,
    Forbidden,
    MalformedJson,
    BadRequest,
    MethodNotAllowed,
    MissingSignature,
    InvalidSignature,
    UnsupportedMediaType,
    PayloadTooLarge,
    Validation,
    NotFound,
    MemberNotFound,
    ReceiptNotFound,
    CodeNotFound,
    ReceiptConflict,
    InsufficientPoints,
    CodeUsed,
    CodeExpired,
    CodeNotOwned,
    RefundConflict,
    NothingLeftToRefund,
    RefundExceedsReceipt,
    PartialRefundUnavailable,
    CampaignNotFound,
    CampaignNotEditable,
    CampaignNotPaused,
    Unavailable,
    Internal,
}

impl ErrorKind {
    /// The one table: status, problem type slug, title.
    fn describe(self) -> (StatusCode, &'static str, &'static str) {
        use ErrorKind::*;
        match self {
            Unauthorized => (
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "Missing or unknown API key",
            ),
            Forbidden => (
                StatusCode::FORBIDDEN,
                "forbidden",
                "This API key may not do that",
            ),
            MalformedJson => (
                StatusCode::BAD_REQUEST,
                "malformed-json",
                "The body is not valid JSON",
            ),
            BadRequest => (
                StatusCode::BAD_REQUEST,
                "bad-request",
                "The request is not understood",
            ),
            MethodNotAllowed => (
                StatusCode::METHOD_NOT_ALLOWED,
                "method-not-allowed",
                "This endpoint does not take this method",
            ),
            MissingSignature => (
                StatusCode::BAD_REQUEST,
                "missing-signature",
                "The webhook signature header is missing",
            ),
            InvalidSignature => (
                StatusCode::FORBIDDEN,
                "invalid-signature",
                "The webhook signature does not match",
            ),
            UnsupportedMediaType => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported-media-type",
                "The body must be application/json",
            ),
            PayloadTooLarge => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload-too-large",
                "The body is too large",
            ),
            Validation => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "validation-error",
                "A field is invalid",
            ),
            NotFound => (StatusCode::NOT_FOUND, "not-found", "Not found"),
            MemberNotFound => (StatusCode::NOT_FOUND, "member-not-found", "No such member"),
            ReceiptNotFound => (
                StatusCode::NOT_FOUND,
                "receipt-not-found",
                "No such receipt",
            ),
            CodeNotFound => (
                StatusCode::NOT_FOUND,
                "code-not-found",
                "No such reward code",
            ),
            ReceiptConflict => (
                StatusCode::CONFLICT,
                "receipt-conflict",
                "This receipt was already used with a different request",
            ),
            InsufficientPoints => (
                StatusCode::CONFLICT,
                "insufficient-points",
                "Not enough points",
            ),
            CodeUsed => (
                StatusCode::CONFLICT,
                "code-already-used",
                "Reward code already used",
            ),
            CodeExpired => (StatusCode::CONFLICT, "code-expired", "Reward code expired"),
            CodeNotOwned => (
                StatusCode::CONFLICT,
                "code-belongs-to-another-member",
                "Reward code belongs to another member",
            ),
            RefundConflict => (
                StatusCode::CONFLICT,
                "refund-conflict",
                "This refund_id was already used with a different amount",
            ),
            NothingLeftToRefund => (
                StatusCode::CONFLICT,
                "nothing-left-to-refund",
                "The receipt has been refunded in full",
            ),
            RefundExceedsReceipt => (
                StatusCode::CONFLICT,
                "refund-exceeds-receipt",
                "The refund is larger than what is left on the receipt",
            ),
            PartialRefundUnavailable => (
                StatusCode::CONFLICT,
                "partial-refund-unavailable",
                "This receipt can only be refunded in full",
            ),
            CampaignNotFound => (
                StatusCode::NOT_FOUND,
                "campaign-not-found",
                "No such campaign",
            ),
            CampaignNotEditable => (
                StatusCode::CONFLICT,
                "campaign-not-editable",
                "Only a draft campaign can be changed",
            ),
            CampaignNotPaused => (
                StatusCode::CONFLICT,
                "campaign-not-paused",
                "Only a paused campaign can be resumed",
            ),
            Unavailable => (
                StatusCode::SERVICE_UNAVAILABLE,
                "service-unavailable",
                "The ledger is temporarily unavailable",
            ),
            Internal => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal-error",
                "Internal error",
            ),
        }
    }

    pub fn type_uri(self) -> String {
        format!("/problems/{}", self.describe().1)
    }
}

#[derive(Debug)]
pub struct ApiError {
    pub kind: ErrorKind,
    pub detail: String,
    pub field: Option<String>,
    /// The methods a 405 allows.
    allow: Option<&'static str>,
}

impl ApiError {
    pub fn new(kind: ErrorKind, detail: impl Into<String>) -> Self {
        Self {
            kind,
            detail: detail.into(),
            field: None,
            allow: None,
        }
    }

    /// A 422 naming the field that failed.
    pub fn invalid(field: &str, detail: impl std::fmt::Display) -> Self {
        Self {
            field: Some(field.to_owned()),
            ..Self::new(ErrorKind::Validation, format!("{field}: {detail}"))
        }
    }

    /// A 405 for a known path called with another method.
    pub fn method_not_allowed(method: &actix_web::http::Method, allow: &'static str) -> Self {
        Self {
            allow: Some(allow),
            ..Self::new(
                ErrorKind::MethodNotAllowed,
                format!("{method} is not allowed here; use {allow}"),
            )
        }
    }

    pub fn unauthorized(detail: impl Into<String>) -> Self {
        Self::new(ErrorKind::Unauthorized, detail)
    }

    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::new(ErrorKind::Forbidden, detail)
    }

    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(ErrorKind::NotFound, detail)
    }

    /// Logs the cause, returns a 500 whose detail says nothing about it.
    pub fn unexpected(cause: impl std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "unexpected error");
        Self::new(
            ErrorKind::Internal,
            "something went wrong; it has been logged",
        )
    }
}

/// Parse errors of a wire field: `field` names it in the problem.
pub trait FieldContext<T> {
    fn field(self, name: &str) -> Result<T, ApiError>;
}

impl<T> FieldContext<T> for Result<T, ParseError> {
    fn field(self, name: &str) -> Result<T, ApiError> {
        self.map_err(|e| ApiError::invalid(name, e))
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.detail)
    }
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct Problem {
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.kind.describe().0
    }

    fn error_response(&self) -> HttpResponse {
        let (status, slug, title) = self.kind.describe();
        if status.is_client_error() {
            // The detail may echo client input (a mistyped phone number): not logged.
            tracing::info!(
                problem = slug,
                field = self.field.as_deref(),
                "request refused"
            );
        }
        let problem = Problem {
            kind: self.kind.type_uri(),
            title: title.to_owned(),
            status: status.as_u16(),
            detail: self.detail.clone(),
            field: self.field.clone(),
        };
        let mut response = HttpResponse::build(status);
        response.content_type("application/problem+json");
        if self.kind == ErrorKind::Unavailable {
            response.insert_header((header::RETRY_AFTER, RETRY_AFTER_SECS.to_string()));
        }
        if self.kind == ErrorKind::Unauthorized {
            response.insert_header((header::WWW_AUTHENTICATE, "Bearer"));
        }
        if let Some(allow) = self.allow {
            response.insert_header((header::ALLOW, allow));
        }
        response.json(problem)
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unavailable(_) => {
                tracing::warn!(error = %Chain(&e), "redis unavailable");
                Self::new(
                    ErrorKind::Unavailable,
                    "the ledger store is not answering; retry shortly",
                )
            }
            StoreError::Unexpected(_) => Self::unexpected(Chain(&e)),
        }
    }
}

impl From<LedgerError> for ApiError {
    fn from(e: LedgerError) -> Self {
        let kind = match &e {
            LedgerError::Store(_) => {
                let LedgerError::Store(inner) = e else {
                    unreachable!()
                };
                return inner.into();
            }
            LedgerError::ReceiptConflict => ErrorKind::ReceiptConflict,
            LedgerError::MemberNotFound => ErrorKind::MemberNotFound,
            LedgerError::ReceiptNotFound => ErrorKind::ReceiptNotFound,
            LedgerError::InsufficientPoints { .. }
            | LedgerError::NegativeBalance { .. }
            | LedgerError::BelowZero { .. } => ErrorKind::InsufficientPoints,
            LedgerError::UnknownReward => return Self::invalid("reward", e),
            LedgerError::CodeNotFound => ErrorKind::CodeNotFound,
            LedgerError::CodeNotOwned => ErrorKind::CodeNotOwned,
            LedgerError::CodeUsed => ErrorKind::CodeUsed,
            LedgerError::CodeExpired => ErrorKind::CodeExpired,
            LedgerError::RefundConflict => ErrorKind::RefundConflict,
            LedgerError::NothingLeftToRefund => ErrorKind::NothingLeftToRefund,
            LedgerError::RefundWithoutAmount => ErrorKind::PartialRefundUnavailable,
            LedgerError::RefundExceedsReceipt { .. } => ErrorKind::RefundExceedsReceipt,
        };
        Self::new(kind, e.to_string())
    }
}
