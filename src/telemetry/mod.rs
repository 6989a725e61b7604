//! Logging: `tracing` with JSON output when standard error is not a terminal.
//!
//! Phone numbers never reach a log line: domain code logs [`crate::domain::MaskedPhone`], and
//! the request span built here records the route template and a masked path instead of the raw
//! URI (which carries the number in `/v1/members/{phone}`).

use std::io::IsTerminal;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::HttpMessage;
use tracing::Span;
use tracing_actix_web::RootSpanBuilder;
use tracing_subscriber::{fmt, EnvFilter};

use crate::configuration::{LogFormat, LogSettings};

pub mod json;
pub mod writer;

/// Installs the global subscriber; `RUST_LOG` overrides `log.level`. Safe to call twice (the
/// second call does nothing), which integration tests rely on.
///
/// Lines go to stderr through [`writer::BatchedWriter`]: a request appends its line to a buffer
/// and goes on, and a thread of its own writes the lines in batches, at most
/// [`writer::BATCH_WINDOW`] after they were logged. Keep the returned guard until the process
/// ends: dropping it writes what is still buffered.
pub fn init(settings: &LogSettings) -> writer::FlushGuard {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&settings.level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let json = match settings.format {
        LogFormat::Json => true,
        LogFormat::Pretty => false,
        LogFormat::Auto => !std::io::stderr().is_terminal(),
    };
    let (writer, guard) = writer::BatchedWriter::new(std::io::stderr());
    // An error means a subscriber is already installed (a second call): it stays.
    if json {
        // One line per event, written straight into the line (json.rs says why): the event's
        // fields at the top level and the request's spans once, in `spans`.
        use tracing_subscriber::layer::SubscriberExt;
        use tracing_subscriber::util::SubscriberInitExt;
        tracing_subscriber::registry()
            .with(filter)
            .with(json::JsonLines::new(writer))
            .try_init()
            .ok();
    } else {
        fmt()
            .with_env_filter(filter)
            .with_writer(writer)
            .with_ansi(std::io::stderr().is_terminal())
            .with_target(false)
            .try_init()
            .ok();
    }
    guard
}

/// The header that carries a request's id, in both directions.
pub const REQUEST_ID_HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// A request's id: the client's `X-Request-Id` when it sent a usable one (1-128 letters,
/// digits, `-`, `_`, `.`, `:`), else a fresh random one. Every response carries it, and so does
/// every log line of the request.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

impl RequestId {
    fn from_header(value: Option<&HeaderValue>) -> Self {
        let sent = value
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|v| {
                (1..=128).contains(&v.len())
                    && v.chars()
                        .all(|c| c.is_ascii_alphanumeric() || "-_.:".contains(c))
            });
        match sent {
            Some(id) => Self(id.to_owned()),
            None => Self(hex::encode(rand::random::<[u8; 16]>())),
        }
    }
}

/// Middleware: assigns the [`RequestId`] before anything logs, and returns it on the response
/// (errors included).
pub async fn request_id(
    request: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let id = RequestId::from_header(request.headers().get(&REQUEST_ID_HEADER));
    let value = HeaderValue::from_str(&id.0).expect("ids are ASCII");
    request.extensions_mut().insert(id);
    let mut response = next.call(request).await?;
    response.headers_mut().insert(REQUEST_ID_HEADER, value);
    Ok(response)
}

/// Middleware: counts every answered request in [`crate::metrics::Metrics`] by route template,
/// method and status, with its latency.
pub async fn observe_requests(
    request: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = std::time::Instant::now();
    let metrics = request
        .app_data::<actix_web::web::Data<crate::routes::AppState>>()
        .map(|state| state.metrics.clone());
    let route = request
        .match_pattern()
        .unwrap_or_else(|| "unmatched".to_owned());
    let method = request.method().clone();
    let response = next.call(request).await;
    if let Some(metrics) = metrics {
        let status = match &response {
            Ok(response) => response.status(),
            Err(e) => e.as_response_error().status_code(),
        };
        metrics.http_request(&route, method.as_str(), status.as_u16(), started.elapsed());
    }
    response
}

/// The per-request span: method, route template, masked path, request id.
pub struct MaskedRootSpan;

impl RootSpanBuilder for MaskedRootSpan {
    /// The fields are worked out inside the macro, so only when the span is enabled (at warn
    /// and above, nothing is). They are given as `&str`, not as `%value`: a `Display` value is
    /// written through `fmt::write`, some hundreds of instructions a field (callgrind).
    fn on_request_start(request: &ServiceRequest) -> Span {
        tracing::info_span!(
            "HTTP request",
            http.method = request.method().as_str(),
            http.route = request.match_pattern().as_deref().unwrap_or("unmatched"),
            http.target = &*mask_path(request.path()),
            request_id = request
                .extensions()
                .get::<RequestId>()
                .map_or("", |id| id.0.as_str()),
        )
    }

    /// Nothing: the status would be recorded into the span after its last line was written,
    /// so no line would carry it, and each `record` serialises the span's fields again. The
    /// metrics count requests by status (`observe_requests`).
    fn on_request_end<B: MessageBody>(
        _span: Span,
        _outcome: &Result<ServiceResponse<B>, actix_web::Error>,
    ) {
    }
}

/// An error and its causes, as one line: `Redis is unavailable: no answer within 2000 ms`.
pub struct Chain<'a>(pub &'a dyn std::error::Error);

impl std::fmt::Display for Chain<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)?;
        let mut cause = self.0.source();
        while let Some(error) = cause {
            write!(f, ": {error}")?;
            cause = error.source();
        }
        Ok(())
    }
}

/// Replaces every path segment holding five or more digits (a phone number, however written)
/// with `***`. A path with fewer than five digits in all is its own mask, and is not copied.
pub fn mask_path(path: &str) -> std::borrow::Cow<'_, str> {
    if path.bytes().filter(u8::is_ascii_digit).count() < 5 {
        return path.into();
    }
    path.split('/')
        .map(|segment| {
            if segment.chars().filter(char::is_ascii_digit).count() >= 5 {
                "***"
            } else {
                segment
            }
        })
        .collect::<Vec<_>>()
        .join("/")
        .into()
}

/// Masks runs of seven or more digits (phone numbers quoted in provider error messages).
pub fn mask_digits(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut run = String::new();
    let flush = |run: &mut String, out: &mut String| {
        let digits = run.chars().filter(char::is_ascii_digit).count();
        out.push_str(if digits >= 7 { "***" } else { run.as_str() });
        run.clear();
    };
    for c in text.chars() {
        if c.is_ascii_digit() || (c == '+' && run.is_empty()) {
            run.push(c);
        } else {
            flush(&mut run, &mut out);
            out.push(c);
        }
    }
    flush(&mut run, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::{mask_digits, mask_path};

    #[test]
    fn digit_runs_that_could_be_numbers_are_masked() {
        assert_eq!(
            mask_digits("twilio 21211: The 'To' number +14155552671 is not valid"),
            "twilio 21211: The 'To' number *** is not valid"
        );
        assert_eq!(mask_digits("HTTP 503"), "HTTP 503");
    }

    #[test]
    fn phone_numbers_in_paths_are_masked() {
        assert_eq!(
            mask_path("/v1/members/+14155552671/history"),
            "/v1/members/***/history"
        );
        assert_eq!(mask_path("/v1/members/(415)%20555-2671"), "/v1/members/***");
        assert_eq!(mask_path("/v1/messages/m12"), "/v1/messages/m12");
        assert_eq!(mask_path("/healthz"), "/healthz");
    }
}
