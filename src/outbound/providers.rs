//! SMS providers behind one trait, and the mapping of their errors to what the sender does.
//!
//! Every provider error becomes a [`SendError`] whose variant decides the message's fate:
//! [`SendError::OptedOut`] marks the member opted out, [`SendError::Undeliverable`] gives up,
//! [`SendError::Transient`] retries (after `retry_after` when the provider says so).

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use crate::configuration::{ProviderKind, SmsSettings};

/// A text ready for the wire.
#[derive(Debug, Clone)]
pub struct Outgoing {
    pub from: String,
    pub to: String,
    pub body: String,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum SendError {
    #[error("recipient has opted out at the carrier: {0}")]
    OptedOut(String),
    #[error("undeliverable: {0}")]
    Undeliverable(String),
    #[error("temporary failure: {message}")]
    Transient {
        message: String,
        retry_after: Option<Duration>,
        /// The provider asked us to slow down (429): retries wait at least the 429 floor.
        throttled: bool,
    },
}

impl SendError {
    fn transient(message: impl Into<String>) -> Self {
        Self::Transient {
            message: message.into(),
            retry_after: None,
            throttled: false,
        }
    }
}

/// The provider's id for the accepted message (Twilio `SM...`, Telnyx UUID).
pub type ProviderMessageId = String;

pub trait Provider: Send + Sync {
    fn name(&self) -> &'static str;
    fn send<'a>(
        &'a self,
        msg: &'a Outgoing,
    ) -> ProviderFuture<'a, Result<ProviderMessageId, SendError>>;
}

/// What a provider's `send` returns (a boxed future keeps the trait object-safe).
pub type ProviderFuture<'a, T> =
    std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;

pub fn build(settings: &SmsSettings, public_url: &str) -> anyhow::Result<Box<dyn Provider>> {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_millis(settings.http_timeout_ms))
        .build()?;
    Ok(match settings.provider {
        ProviderKind::Console => Box::new(Console),
        ProviderKind::Twilio => Box::new(Twilio {
            http,
            base_url: settings.twilio.base_url.trim_end_matches('/').to_owned(),
            account_sid: settings.twilio.account_sid.clone(),
            auth_token: settings.twilio.auth_token.clone(),
            status_callback: format!(
                "{}/webhooks/twilio/status",
                public_url.trim_end_matches('/')
            ),
        }),
        ProviderKind::Telnyx => Box::new(Telnyx {
            http,
            base_url: settings.telnyx.base_url.trim_end_matches('/').to_owned(),
            api_key: settings.telnyx.api_key.clone(),
        }),
    })
}

/// Prints texts to standard output: the development default.
pub struct Console;

impl Provider for Console {
    fn name(&self) -> &'static str {
        "console"
    }

    fn send<'a>(
        &'a self,
        msg: &'a Outgoing,
    ) -> ProviderFuture<'a, Result<ProviderMessageId, SendError>> {
        Box::pin(async move {
            let id = format!("console-{}", uuid_like());
            println!("SMS {} -> {}: {}", msg.from, msg.to, msg.body);
            Ok(id)
        })
    }
}

fn uuid_like() -> String {
    use rand::Rng;
    hex::encode(rand::thread_rng().gen::<[u8; 12]>())
}

fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse::<u64>()
        .ok()
        .map(Duration::from_secs)
}

/// What a provider answered.
struct Reply {
    status: u16,
    retry_after: Option<Duration>,
    body: Vec<u8>,
}

impl Reply {
    fn accepted(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

async fn send_request(request: reqwest::RequestBuilder) -> Result<Reply, SendError> {
    let response = request.send().await.map_err(request_error)?;
    let status = response.status().as_u16();
    let retry_after = retry_after(response.headers());
    let body = response.bytes().await.map_err(request_error)?.to_vec();
    Ok(Reply {
        status,
        retry_after,
        body,
    })
}

/// What an HTTP status says when the provider's own code does not: 429 is "slow down", 5xx is
/// the provider's trouble (retry), anything else is a request it will never accept.
fn classify_status(status: u16, text: String, retry_after: Option<Duration>) -> SendError {
    match status {
        429 => SendError::Transient {
            message: text,
            retry_after,
            throttled: true,
        },
        500..=599 => SendError::Transient {
            message: text,
            retry_after,
            throttled: false,
        },
        _ => SendError::Undeliverable(text),
    }
}

fn request_error(e: reqwest::Error) -> SendError {
    // Timeouts included: the provider may or may not have the message; retrying risks one
    // duplicate, not retrying risks a lost text. Loyalty receipts prefer the duplicate.
    SendError::transient(format!("request failed: {}", e.without_url()))
}

pub struct Twilio {
    http: reqwest::Client,
    base_url: String,
    account_sid: String,
    auth_token: SecretString,
    status_callback: String,
}

#[derive(Deserialize)]
struct TwilioCreated {
    sid: String,
}

#[derive(Deserialize)]
struct TwilioError {
    code: Option<i64>,
    message: Option<String>,
}

/// Twilio error codes (twilio.com/docs/api/errors) to what we do about them.
pub fn classify_twilio(
    status: u16,
    code: Option<i64>,
    message: &str,
    retry_after: Option<Duration>,
) -> SendError {
    let text = format!(
        "twilio {}: {}",
        code.map(|c| c.to_string())
            .unwrap_or_else(|| status.to_string()),
        message
    );
    match code {
        Some(21610) => SendError::OptedOut(text),
        Some(21211 | 21614 | 21635 | 21408 | 21612) => SendError::Undeliverable(text),
        Some(20429) => classify_status(429, text, retry_after),
        _ => classify_status(status, text, retry_after),
    }
}

impl Provider for Twilio {
    fn name(&self) -> &'static str {
        "twilio"
    }

    fn send<'a>(
        &'a self,
        msg: &'a Outgoing,
    ) -> ProviderFuture<'a, Result<ProviderMessageId, SendError>> {
        Box::pin(async move {
            let url = format!(
                "{}/2010-04-01/Accounts/{}/Messages.json",
                self.base_url, self.account_sid
            );
            let form = [
                ("To", msg.to.as_str()),
                ("From", msg.from.as_str()),
                ("Body", msg.body.as_str()),
                ("StatusCallback", self.status_callback.as_str()),
            ];
            let body = form_body(&form);
            let reply = send_request(
                self.http
                    .post(url)
                    .basic_auth(&self.account_sid, Some(self.auth_token.expose_secret()))
                    .header(
                        reqwest::header::CONTENT_TYPE,
                        "application/x-www-form-urlencoded",
                    )
                    .body(body),
            )
            .await?;
            if reply.accepted() {
                let created: TwilioCreated = serde_json::from_slice(&reply.body).map_err(|_| {
                    SendError::transient("twilio accepted the message but the reply had no sid")
                })?;
                return Ok(created.sid);
            }
            let error: Option<TwilioError> = serde_json::from_slice(&reply.body).ok();
            let code = error.as_ref().and_then(|e| e.code);
            let message = error
                .and_then(|e| e.message)
                .unwrap_or_else(|| format!("HTTP {}", reply.status));
            Err(classify_twilio(
                reply.status,
                code,
                &message,
                reply.retry_after,
            ))
        })
    }
}

/// `application/x-www-form-urlencoded` encoding of `pairs`.
pub fn form_body<K: AsRef<str>, V: AsRef<str>>(pairs: &[(K, V)]) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}

pub struct Telnyx {
    http: reqwest::Client,
    base_url: String,
    api_key: SecretString,
}

#[derive(Deserialize)]
struct TelnyxCreated {
    data: TelnyxData,
}

#[derive(Deserialize)]
struct TelnyxData {
    id: String,
}

#[derive(Deserialize)]
struct TelnyxErrors {
    errors: Vec<TelnyxErrorItem>,
}

#[derive(Deserialize)]
struct TelnyxErrorItem {
    code: Option<String>,
    title: Option<String>,
}

impl Provider for Telnyx {
    fn name(&self) -> &'static str {
        "telnyx"
    }

    fn send<'a>(
        &'a self,
        msg: &'a Outgoing,
    ) -> ProviderFuture<'a, Result<ProviderMessageId, SendError>> {
        Box::pin(async move {
            let reply = send_request(
                self.http
                    .post(format!("{}/v2/messages", self.base_url))
                    .bearer_auth(self.api_key.expose_secret())
                    .json(&serde_json::json!({ "from": msg.from, "to": msg.to, "text": msg.body })),
            )
            .await?;
            if reply.accepted() {
                let created: TelnyxCreated = serde_json::from_slice(&reply.body).map_err(|_| {
                    SendError::transient("telnyx accepted the message but the reply had no id")
                })?;
                return Ok(created.data.id);
            }
            let first = serde_json::from_slice::<TelnyxErrors>(&reply.body)
                .ok()
                .and_then(|e| e.errors.into_iter().next());
            let code = first
                .as_ref()
                .and_then(|e| e.code.clone())
                .unwrap_or_default();
            let title = first
                .and_then(|e| e.title)
                .unwrap_or_else(|| format!("HTTP {}", reply.status));
            let text = format!("telnyx {code}: {title}");
            Err(if code == "40300" {
                SendError::OptedOut(text)
            } else {
                classify_status(reply.status, text, reply.retry_after)
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn twilio_errors_map_to_what_the_sender_does() {
        assert!(matches!(
            classify_twilio(400, Some(21610), "", None),
            SendError::OptedOut(_)
        ));
        for code in [21211, 21614, 21635] {
            assert!(matches!(
                classify_twilio(400, Some(code), "", None),
                SendError::Undeliverable(_)
            ));
        }
        assert!(matches!(
            classify_twilio(429, Some(20429), "", None),
            SendError::Transient {
                throttled: true,
                ..
            }
        ));
        assert!(matches!(
            classify_twilio(503, None, "", None),
            SendError::Transient {
                throttled: false,
                ..
            }
        ));
    }

    #[test]
    fn form_encoding_escapes_plus_and_spaces() {
        assert_eq!(
            form_body(&[("To", "+1415"), ("Body", "a b&c")]),
            "To=%2B1415&Body=a+b%26c"
        );
    }
}
