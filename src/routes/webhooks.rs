//! Provider webhooks. No API key: the provider's signature is the authentication.
//!
//! A route answers 404 unless its provider's secret is configured (`sms.twilio.auth_token`,
//! `sms.telnyx.public_key`), whatever `sms.provider` says. Twilio gets an empty TwiML
//! `<Response/>` at once: replies go out through the outbox, never in the webhook response.

use actix_web::{post, web, HttpRequest, HttpResponse};
use secrecy::ExposeSecret;
use serde::Deserialize;
use utoipa_actix_web::service_config::ServiceConfig;

use crate::commands::{Inbound, InboundOutcome};
use crate::domain::PhoneNumber;
use crate::error::{ApiError, ErrorKind};
use crate::inbound::signature::{self, TelnyxSignatureError};
use crate::routes::extract::RawBody;
use crate::routes::health::Status;
use crate::routes::AppState;
use crate::store::scripts::outbox::{DeliveryStatusReply, MessageStatus};

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(twilio_inbound)
        .service(twilio_status)
        .service(telnyx);
}

pub const EMPTY_TWIML: &str = r#"<?xml version="1.0" encoding="UTF-8"?><Response/>"#;

fn twiml() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/xml; charset=utf-8")
        .body(EMPTY_TWIML)
}

fn bad_request(detail: impl Into<String>) -> ApiError {
    ApiError::new(ErrorKind::BadRequest, detail)
}

/// Checks `X-Twilio-Signature` against `server.public_url` + the request's path and query, and
/// returns the form parameters.
fn verified_twilio_form(
    req: &HttpRequest,
    state: &AppState,
    body: &[u8],
) -> Result<Vec<(String, String)>, ApiError> {
    let twilio = &state.settings.sms.twilio;
    if !twilio.webhook_enabled() {
        return Err(ApiError::not_found("the Twilio webhook is not configured"));
    }
    let signature = req
        .headers()
        .get("X-Twilio-Signature")
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| {
            ApiError::new(
                ErrorKind::MissingSignature,
                "send the X-Twilio-Signature header",
            )
        })?;
    let params: Vec<(String, String)> = url::form_urlencoded::parse(body).into_owned().collect();
    let path_and_query = req
        .uri()
        .path_and_query()
        .map(|pq| pq.as_str())
        .unwrap_or_else(|| req.path());
    let url = format!(
        "{}{}",
        state.settings.server.public_url.trim_end_matches('/'),
        path_and_query
    );
    if !signature::verify_twilio(twilio.auth_token.expose_secret(), &url, &params, signature) {
        tracing::warn!("rejected a Twilio webhook with a bad signature");
        return Err(ApiError::new(
            ErrorKind::InvalidSignature,
            "X-Twilio-Signature does not match this request",
        ));
    }
    Ok(params)
}

fn field<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

fn required<'a>(params: &'a [(String, String)], name: &str) -> Result<&'a str, ApiError> {
    field(params, name)
        .filter(|v| !v.trim().is_empty())
        .ok_or_else(|| bad_request(format!("the {name} parameter is missing")))
}

/// Routes an inbound text to its program and applies it. Unknown `To` numbers and senders that
/// are not phone numbers (short codes, alphanumeric ids) are logged and ignored.
async fn receive(
    state: &AppState,
    from: &str,
    to: &str,
    text: &str,
    provider_id: &str,
) -> Result<(), ApiError> {
    let Some(program) = PhoneNumber::parse_e164(to)
        .ok()
        .and_then(|to| state.programs.for_number(&to))
    else {
        tracing::warn!("inbound text to a number no program owns; ignored");
        return Ok(());
    };
    let Ok(from) = PhoneNumber::parse_e164(from) else {
        tracing::warn!(program = %program.id, "inbound text from a sender that is not a phone number; ignored");
        return Ok(());
    };
    let inbound = Inbound {
        from,
        text: text.to_owned(),
        provider_id: provider_id.to_owned(),
    };
    match state.inbound.handle(&program, &inbound).await? {
        InboundOutcome::Duplicate => tracing::info!("redelivered inbound text; already processed"),
        InboundOutcome::Applied(_) | InboundOutcome::Ignored(_) => {}
    }
    Ok(())
}

/// Twilio's inbound-message form, as documented (Twilio adds fields without notice; every
/// field it sends is covered by the signature).
#[derive(utoipa::ToSchema)]
#[allow(non_snake_case, dead_code)]
pub struct TwilioInboundForm {
    /// The message's id: a redelivery with the same id is processed once.
    #[schema(example = "SM0123456789abcdef0123456789abcdef")]
    MessageSid: String,
    #[schema(example = "AC0123456789abcdef0123456789abcdef")]
    AccountSid: Option<String>,
    /// The customer's number, E.164.
    #[schema(example = "+14155552671")]
    From: String,
    /// The program's number, E.164: it picks the program.
    #[schema(example = "+15005550006")]
    To: String,
    #[schema(example = "JOIN")]
    Body: Option<String>,
    NumMedia: Option<String>,
}

/// Twilio's status-callback form.
#[derive(utoipa::ToSchema)]
#[allow(non_snake_case, dead_code)]
pub struct TwilioStatusForm {
    #[schema(example = "SM0123456789abcdef0123456789abcdef")]
    MessageSid: String,
    /// queued, sending, sent, delivered, undelivered, failed, ...
    #[schema(example = "delivered")]
    MessageStatus: String,
    ErrorCode: Option<String>,
    /// Our sending number.
    From: Option<String>,
}

/// Twilio inbound message.
#[utoipa::path(
    params(("X-Twilio-Signature" = String, Header, description = "HMAC-SHA1 of server.public_url + path and the sorted form fields, keyed with sms.twilio.auth_token, base64")),
    request_body(content = TwilioInboundForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, body = String, content_type = "text/xml", description = "Empty TwiML <Response/>; replies go out through the outbox"),
        (status = 400, description = "missing-signature, or bad-request: MessageSid, From or To missing"),
        (status = 403, description = "invalid-signature"),
        (status = 404, description = "not-found: sms.twilio.auth_token is not set, so the webhook is off"),
        (status = 413, description = "payload-too-large"),
    ),
    tag = "webhooks"
)]
#[post("/webhooks/twilio")]
pub async fn twilio_inbound(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: RawBody,
) -> Result<HttpResponse, ApiError> {
    let params = verified_twilio_form(&req, &state, &body.0)?;
    let sid = field(&params, "MessageSid")
        .or_else(|| field(&params, "SmsSid"))
        .filter(|v| !v.trim().is_empty())
        .ok_or_else(|| bad_request("the MessageSid parameter is missing"))?;
    let from = required(&params, "From")?;
    let to = required(&params, "To")?;
    let text = field(&params, "Body").unwrap_or("");
    receive(&state, from, to, text, sid).await?;
    Ok(twiml())
}

/// Twilio delivery status callback.
#[utoipa::path(
    params(("X-Twilio-Signature" = String, Header, description = "As for inbound messages")),
    request_body(content = TwilioStatusForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, body = String, content_type = "text/xml", description = "Recorded (or ignored for an unknown message); empty TwiML"),
        (status = 400, description = "missing-signature, or bad-request: MessageSid or MessageStatus missing"),
        (status = 403, description = "invalid-signature"),
        (status = 404, description = "not-found: sms.twilio.auth_token is not set"),
        (status = 413, description = "payload-too-large"),
    ),
    tag = "webhooks"
)]
#[post("/webhooks/twilio/status")]
pub async fn twilio_status(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: RawBody,
) -> Result<HttpResponse, ApiError> {
    let params = verified_twilio_form(&req, &state, &body.0)?;
    let sid = required(&params, "MessageSid")?;
    let status = required(&params, "MessageStatus")?.to_ascii_lowercase();
    let error_code = field(&params, "ErrorCode").filter(|c| !c.is_empty());
    let status = MessageStatus::from_provider(&status);
    record_status(&state, field(&params, "From"), sid, status, error_code).await?;
    Ok(twiml())
}

/// Finds the message in the program that owns `from` (our sending number), or in any program.
/// A status we do not track is ignored.
async fn record_status(
    state: &AppState,
    from: Option<&str>,
    provider_id: &str,
    status: Option<MessageStatus>,
    error_code: Option<&str>,
) -> Result<(), ApiError> {
    let Some(status) = status else {
        tracing::debug!("a delivery status we do not track; ignored");
        return Ok(());
    };
    let owner = from
        .and_then(|f| PhoneNumber::parse_e164(f).ok())
        .and_then(|f| state.programs.for_number(&f));
    let programs: Vec<_> = match owner {
        Some(program) => vec![program],
        None => state.programs.iter().cloned().collect(),
    };
    for program in programs {
        let outcome = state
            .outbox
            .record_status(&program, provider_id, status, error_code)
            .await?;
        if outcome != DeliveryStatusReply::Unknown {
            tracing::info!(program = %program.id, ?status, ?outcome, "delivery status");
            return Ok(());
        }
    }
    tracing::info!(?status, "status for a message we do not know; ignored");
    Ok(())
}

#[derive(Deserialize)]
struct TelnyxEvent {
    data: TelnyxData,
}

#[derive(Deserialize)]
struct TelnyxData {
    event_type: String,
    payload: TelnyxPayload,
}

#[derive(Deserialize)]
struct TelnyxPayload {
    id: String,
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    from: Option<TelnyxAddress>,
    #[serde(default)]
    to: Vec<TelnyxAddress>,
    #[serde(default)]
    errors: Vec<TelnyxError>,
}

/// An entry of a Telnyx message's `errors`: `{"code": "40001", "title": ..., "detail": ...}`.
#[derive(Deserialize)]
struct TelnyxError {
    #[serde(default)]
    code: Option<serde_json::Value>,
}

impl TelnyxError {
    fn code(&self) -> Option<String> {
        match self.code.as_ref()? {
            serde_json::Value::String(code) => Some(code.clone()),
            serde_json::Value::Number(code) => Some(code.to_string()),
            _ => None,
        }
    }
}

#[derive(Deserialize)]
struct TelnyxAddress {
    phone_number: String,
    #[serde(default)]
    status: Option<String>,
}

/// Telnyx's delivery states in our vocabulary.
fn telnyx_status(status: &str) -> Option<MessageStatus> {
    match status {
        "delivered" => Some(MessageStatus::Delivered),
        "sent" | "delivery_unconfirmed" => Some(MessageStatus::Sent),
        "sending" | "queued" => Some(MessageStatus::Sending),
        "sending_failed" | "gw_timeout" => Some(MessageStatus::Failed),
        "delivery_failed" => Some(MessageStatus::Undelivered),
        _ => None,
    }
}

/// Telnyx messaging events (inbound texts and delivery updates).
#[utoipa::path(
    params(
        ("telnyx-signature-ed25519" = String, Header, description = "Ed25519 signature of \"{timestamp}|{body}\", base64"),
        ("telnyx-timestamp" = String, Header, description = "Unix seconds; refused more than 300 s from now"),
    ),
    request_body(content = Object, content_type = "application/json", description = "A Telnyx event: data.event_type, data.payload..."),
    responses(
        (status = 200, body = Status, description = "Processed"),
        (status = 400, description = "missing-signature, or bad-request: not a Telnyx messaging event"),
        (status = 403, description = "invalid-signature, or a timestamp too far from now"),
        (status = 404, description = "not-found: sms.telnyx.public_key is not set, so the webhook is off"),
        (status = 413, description = "payload-too-large"),
    ),
    tag = "webhooks"
)]
#[post("/webhooks/telnyx")]
pub async fn telnyx(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: RawBody,
) -> Result<HttpResponse, ApiError> {
    let key = state
        .telnyx_key
        .as_ref()
        .ok_or_else(|| ApiError::not_found("the Telnyx webhook is not configured"))?;
    let header = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok());
    let now = state.ledger.clock().now().timestamp();
    signature::verify_telnyx(
        key,
        header("telnyx-signature-ed25519"),
        header("telnyx-timestamp"),
        &body.0,
        now,
    )
    .map_err(|e| match e {
        TelnyxSignatureError::Missing => ApiError::new(ErrorKind::MissingSignature, e.to_string()),
        _ => {
            tracing::warn!(error = %e, "rejected a Telnyx webhook");
            ApiError::new(ErrorKind::InvalidSignature, e.to_string())
        }
    })?;
    let event: TelnyxEvent = serde_json::from_slice(&body.0)
        .map_err(|_| bad_request("the body is not a Telnyx messaging event"))?;
    let payload = event.data.payload;
    match event.data.event_type.as_str() {
        "message.received" => {
            let from = payload
                .from
                .as_ref()
                .map(|f| f.phone_number.as_str())
                .ok_or_else(|| bad_request("data.payload.from is missing"))?;
            let to = payload
                .to
                .first()
                .map(|t| t.phone_number.as_str())
                .ok_or_else(|| bad_request("data.payload.to is missing"))?;
            let text = payload.text.as_deref().unwrap_or("");
            receive(&state, from, to, text, &payload.id).await?;
        }
        "message.sent" | "message.finalized" => {
            let status = payload
                .to
                .first()
                .and_then(|t| t.status.as_deref())
                .unwrap_or("sent");
            let from = payload.from.as_ref().map(|f| f.phone_number.as_str());
            let error_code = payload.errors.iter().find_map(TelnyxError::code);
            record_status(
                &state,
                from,
                &payload.id,
                telnyx_status(status),
                error_code.as_deref(),
            )
            .await?;
        }
        other => tracing::debug!(event = other, "Telnyx event ignored"),
    }
    Ok(HttpResponse::Ok().json(Status { status: "ok" }))
}
