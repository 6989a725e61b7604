//! JSON log lines, written straight into the line.
//!
//! At the default level every request writes a line, so a line's cost is part of every
//! request's. `json-subscriber`, which this replaces, kept each span's fields and each event's
//! as a map of `serde_json::Value`s, built, serialised and dropped for every line: 28,900
//! instructions for a request's two spans and its line (callgrind), and the gateway spent a
//! quarter more CPU per earn at info than at warn. Here a span's fields are written once, as
//! the JSON they will be in every line of the span (a span is made with its fields; the
//! request's code does not `record` into it), and a line is the event's fields written into a
//! buffer of the thread's, followed by those of its spans: 12,500 instructions.
//!
//! A line: `{"timestamp":"2026-12-04T06:52:57.108658Z","level":"INFO","message":"earn",
//! "points":12,...,"spans":[{"name":"HTTP request","http.method":"POST",...},{"name":"earn",...}]}`
//! (the spans from the root).

use std::cell::RefCell;
use std::fmt::{self, Write as _};
use std::io::Write as _;

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::Layer;

/// The layer: every enabled event as one line to `W`'s writer, in one `write`.
pub struct JsonLines<W> {
    make_writer: W,
}

impl<W> JsonLines<W> {
    pub fn new(make_writer: W) -> Self {
        Self { make_writer }
    }
}

/// A span's fields as the members of a JSON object, without its braces: `"name":"earn",...`.
struct SpanFields(Vec<u8>);

thread_local! {
    /// The line being written: kept by each thread, so a line allocates nothing once it has
    /// grown.
    static LINE: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
    /// The whole seconds of the last timestamp written on this thread, and their text.
    static SECOND: RefCell<(i64, String)> = const { RefCell::new((i64::MIN, String::new())) };
}

impl<S, W> Layer<S> for JsonLines<W>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    W: for<'a> MakeWriter<'a> + 'static,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let mut members = Vec::with_capacity(160);
        members.extend_from_slice(b"\"name\":");
        push_str(&mut members, attrs.metadata().name());
        attrs.record(&mut Members(&mut members));
        span.extensions_mut().insert(SpanFields(members));
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let mut extensions = span.extensions_mut();
        if let Some(SpanFields(members)) = extensions.get_mut::<SpanFields>() {
            values.record(&mut Members(members));
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        LINE.with(|line| {
            let Ok(mut line) = line.try_borrow_mut() else {
                // An event logged while this thread writes a line (from a value's Debug):
                // there is no line to put it in.
                return;
            };
            line.clear();
            line.extend_from_slice(b"{\"timestamp\":\"");
            push_timestamp(&mut line, chrono::Utc::now());
            line.extend_from_slice(b"\",\"level\":\"");
            line.extend_from_slice(event.metadata().level().as_str().as_bytes());
            line.push(b'"');
            event.record(&mut Members(&mut line));
            if let Some(scope) = ctx.event_scope(event) {
                line.extend_from_slice(b",\"spans\":[");
                let mut first = true;
                for span in scope.from_root() {
                    if let Some(SpanFields(members)) = span.extensions().get::<SpanFields>() {
                        if !first {
                            line.push(b',');
                        }
                        first = false;
                        line.push(b'{');
                        line.extend_from_slice(members);
                        line.push(b'}');
                    }
                }
                line.push(b']');
            }
            line.extend_from_slice(b"}\n");
            // Nowhere to report a failure to write the log.
            let _ = self.make_writer.make_writer().write_all(&line);
        });
    }
}

/// Writes each field it visits as `,"name":value`.
struct Members<'a>(&'a mut Vec<u8>);

impl Members<'_> {
    fn name(&mut self, field: &Field) {
        self.0.push(b',');
        push_str(self.0, field.name());
        self.0.push(b':');
    }
}

impl Visit for Members<'_> {
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.name(field);
        if value.is_finite() {
            let _ = write!(self.0, "{value}");
        } else {
            push_str(self.0, &value.to_string());
        }
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.name(field);
        let _ = write!(self.0, "{value}");
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.name(field);
        let _ = write!(self.0, "{value}");
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.name(field);
        self.0
            .extend_from_slice(if value { b"true" } else { b"false" });
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.name(field);
        push_str(self.0, value);
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.record_debug(field, &format_args!("{value}"));
    }

    /// `Display` values (`%value`) arrive here too, and the message.
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.name(field);
        self.0.push(b'"');
        let _ = write!(Escaping(self.0), "{value:?}");
        self.0.push(b'"');
    }
}

/// `value` as a JSON string, quoted and escaped.
fn push_str(out: &mut Vec<u8>, value: &str) {
    out.push(b'"');
    let _ = Escaping(out).write_str(value);
    out.push(b'"');
}

/// Text written into a JSON string: quotes, backslashes and control characters escaped, the
/// rest as it is (JSON text is UTF-8).
struct Escaping<'a>(&'a mut Vec<u8>);

/// The bytes a JSON string cannot hold as they are: control characters, `"` and `\`. A table,
/// because every name and value of every line goes through [`Escaping`], most of them short
/// and with nothing to escape: the test per byte is one load (callgrind: 4,000 instructions a
/// request with a `match` per byte, most of it field names).
const NEEDS_ESCAPE: [bool; 256] = {
    let mut table = [false; 256];
    let mut byte = 0;
    while byte < 0x20 {
        table[byte] = true;
        byte += 1;
    }
    table[b'"' as usize] = true;
    table[b'\\' as usize] = true;
    table
};

impl fmt::Write for Escaping<'_> {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        let bytes = text.as_bytes();
        if !bytes.iter().any(|&byte| NEEDS_ESCAPE[usize::from(byte)]) {
            self.0.extend_from_slice(bytes);
            return Ok(());
        }
        let mut plain = 0;
        for (i, byte) in text.bytes().enumerate() {
            let escaped: &[u8] = match byte {
                b'"' => b"\\\"",
                b'\\' => b"\\\\",
                b'\n' => b"\\n",
                b'\r' => b"\\r",
                b'\t' => b"\\t",
                0..=0x1f => b"",
                _ => continue,
            };
            self.0.extend_from_slice(&text.as_bytes()[plain..i]);
            if escaped.is_empty() {
                let _ = write!(self.0, "\\u{byte:04x}");
            } else {
                self.0.extend_from_slice(escaped);
            }
            plain = i + 1;
        }
        self.0.extend_from_slice(&text.as_bytes()[plain..]);
        Ok(())
    }
}

/// `at` as RFC 3339 in UTC with microseconds, `2026-12-04T06:52:57.108658`; the date and time
/// of day are formatted once a second per thread.
fn push_timestamp(out: &mut Vec<u8>, at: chrono::DateTime<chrono::Utc>) {
    let second = at.timestamp();
    SECOND.with(|cached| {
        let mut cached = cached.borrow_mut();
        if cached.0 != second {
            cached.1.clear();
            let _ = write!(cached.1, "{}", at.format("%Y-%m-%dT%H:%M:%S"));
            cached.0 = second;
        }
        out.extend_from_slice(cached.1.as_bytes());
    });
    let _ = write!(out, ".{:06}Z", at.timestamp_subsec_micros());
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use tracing_subscriber::layer::SubscriberExt;

    use super::JsonLines;

    /// Lines written to memory.
    #[derive(Clone, Default)]
    struct Memory(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Memory {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn lines_of(work: impl FnOnce()) -> Vec<serde_json::Value> {
        let memory = Memory::default();
        let sink = memory.clone();
        let subscriber = tracing_subscriber::registry().with(JsonLines::new(move || sink.clone()));
        tracing::subscriber::with_default(subscriber, work);
        let text = String::from_utf8(memory.0.lock().unwrap().clone()).unwrap();
        text.lines()
            .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
            .collect()
    }

    #[test]
    fn a_line_has_the_events_fields_at_the_top_and_its_spans_from_the_root() {
        let lines = lines_of(|| {
            let root = tracing::info_span!("HTTP request", http.route = %"/v1/earn",
                request_id = "r-1");
            let _entered = root.enter();
            let span = tracing::info_span!("earn", program = %"bakery", phone = %"+1415***2671");
            tracing::info!(parent: &span, points = 12_u64, balance = -3_i64, replay = false,
                share = 0.5, "earn");
        });
        assert_eq!(lines.len(), 1);
        let line = &lines[0];
        assert_eq!(line["level"], "INFO");
        assert_eq!(line["message"], "earn");
        assert_eq!(line["points"], 12);
        assert_eq!(line["balance"], -3);
        assert_eq!(line["replay"], false);
        assert_eq!(line["share"], 0.5);
        assert_eq!(
            line["spans"],
            serde_json::json!([
                { "name": "HTTP request", "http.route": "/v1/earn", "request_id": "r-1" },
                { "name": "earn", "program": "bakery", "phone": "+1415***2671" },
            ])
        );
        let timestamp = line["timestamp"].as_str().unwrap();
        let parsed = chrono::DateTime::parse_from_rfc3339(timestamp).unwrap();
        assert!((chrono::Utc::now() - parsed.to_utc()).num_seconds().abs() < 60);
        assert_eq!(timestamp.len(), "2026-12-04T06:52:57.108658Z".len());
    }

    #[test]
    fn values_that_need_escaping_stay_valid_json() {
        let awkward = "quote \" backslash \\ newline \n tab \t bell \u{7} arabic رصيد";
        let lines = lines_of(|| {
            let span = tracing::info_span!("s", text = awkward);
            let _entered = span.enter();
            tracing::warn!(debug = ?awkward, error = %std::io::Error::other(awkward),
                nan = f64::NAN, "{awkward}");
        });
        let line = &lines[0];
        assert_eq!(line["message"], awkward);
        assert_eq!(line["debug"], format!("{awkward:?}"));
        assert_eq!(line["error"], awkward);
        assert_eq!(line["nan"], "NaN");
        assert_eq!(line["spans"][0]["text"], awkward);
    }

    #[test]
    fn fields_recorded_later_join_the_spans_object() {
        let lines = lines_of(|| {
            let span = tracing::info_span!("job", id = 7_u64, outcome = tracing::field::Empty);
            span.record("outcome", "sent");
            let _entered = span.enter();
            tracing::info!("done");
        });
        assert_eq!(
            lines[0]["spans"],
            serde_json::json!([{ "name": "job", "id": 7, "outcome": "sent" }])
        );
    }

    #[test]
    fn an_event_outside_any_span_has_no_span_list() {
        let lines = lines_of(|| tracing::error!(code = 3_i64, "alone"));
        assert_eq!(lines[0]["message"], "alone");
        assert!(lines[0].get("spans").is_none());
    }
}
