//! The sender: renders a claimed message, applies quiet hours, takes its segments from the
//! number's shared schedule, calls the provider, and records what happened.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use governor::Quota;
use rand::Rng;

use super::outbox::{Attempt, Outbox};
use super::providers::{Outgoing, Provider, SendError};
use super::{quiet_hours, Entry};
use crate::clock::Clock;
use crate::configuration::SmsSettings;
use crate::domain::{PhoneNumber, Program};
use crate::metrics::{Metrics, SendOutcome};
use crate::segments;
use crate::store::scripts::outbox::{Claim, MessageKind, MessageStatus, Outcome, PrepareReply};
use crate::store::StoreError;
use crate::templates::Templates;

/// Shortest wait after the provider said 429.
const THROTTLE_FLOOR: Duration = Duration::from_secs(5);
/// The least lateness after its slot that makes a send take a new one
/// ([`Sender::late_tolerance`]): tokio's timers fire on the millisecond after their deadline,
/// and a thread wakes some hundreds of microseconds after that.
const LATE_TOLERANCE_FLOOR: Duration = Duration::from_millis(5);
/// Longest `Retry-After` we honour.
const RETRY_AFTER_CEILING: Duration = Duration::from_secs(3600);
/// Sends claimed messages: render, throttle by segments, call the provider, record the outcome.
pub struct Sender {
    outbox: Outbox,
    provider: Box<dyn Provider>,
    templates: Arc<Templates>,
    sms: SmsSettings,
    metrics: Arc<Metrics>,
    clock: Clock,
    /// The per-number quota in segments; enforced on a schedule shared through Redis.
    quota: Quota,
}

impl Sender {
    pub fn new(
        outbox: Outbox,
        provider: Box<dyn Provider>,
        templates: Arc<Templates>,
        sms: SmsSettings,
        metrics: Arc<Metrics>,
        clock: Clock,
    ) -> anyhow::Result<Self> {
        let period = Duration::from_secs_f64(1.0 / sms.messages_per_second);
        let burst = NonZeroU32::new(sms.burst).unwrap_or(NonZeroU32::MIN);
        let quota = Quota::with_period(period)
            .ok_or_else(|| anyhow::anyhow!("sms.messages_per_second is too high"))?
            .allow_burst(burst);
        Ok(Self {
            outbox,
            provider,
            templates,
            sms,
            metrics,
            clock,
            quota,
        })
    }

    /// The longest a claimed message may wait for its send slot: past it, another worker could
    /// reclaim the message while this one still means to send it.
    fn max_throttle_wait(&self) -> Duration {
        let sms = &self.sms;
        Duration::from_millis(
            sms.visibility_timeout_ms
                .saturating_sub(sms.http_timeout_ms)
                / 2,
        )
    }

    fn retry_delay(
        &self,
        attempts: u32,
        retry_after: Option<Duration>,
        throttled: bool,
    ) -> Duration {
        let schedule = &self.sms.retry_schedule_secs;
        let index = (attempts as usize)
            .saturating_sub(1)
            .min(schedule.len().saturating_sub(1));
        let base = Duration::from_secs(schedule.get(index).copied().unwrap_or(60));
        let jitter = rand::thread_rng().gen_range(0.8..1.2);
        let mut delay = base.mul_f64(jitter);
        if let Some(after) = retry_after {
            delay = delay.max(after.min(RETRY_AFTER_CEILING));
        }
        if throttled {
            delay = delay.max(THROTTLE_FLOOR);
        }
        delay
    }

    fn render(&self, program: &Program, claim: &Claim) -> Result<String, minijinja::Error> {
        let context = Templates::context(program, claim.first_name.as_deref(), &claim.vars);
        let locales: Vec<&str> = [claim.locale.as_deref(), Some(program.locale.as_str())]
            .into_iter()
            .flatten()
            .filter(|l| !l.is_empty())
            .collect();
        let text = if claim.template == "campaign" {
            let source = claim
                .vars
                .get("body")
                .and_then(|b| b.as_str())
                .unwrap_or("");
            // The recipient's own short links in place of the campaign's URLs.
            let source = match claim.vars.get("links").and_then(|l| l.as_array()) {
                Some(short) => crate::campaigns::links::rewrite(source, |i| {
                    short.get(i).and_then(|s| s.as_str()).map(str::to_owned)
                }),
                None => source.to_owned(),
            };
            self.templates.render_str(&source, &context)?
        } else {
            self.templates.render(&locales, &claim.template, &context)?
        };
        Ok(if self.sms.smart_encoding {
            segments::smart_encode(&text)
        } else {
            text
        })
    }

    /// Handles a batch of stream entries to the end: each is sent, suppressed, deferred,
    /// scheduled for retry, or failed. The batch costs three scripts whatever its size: one
    /// claims every entry, one reserves every send slot on the number's shared schedule, and one
    /// records every outcome once the sends (at most `concurrency` at a time, in order) are done.
    #[tracing::instrument(skip_all, fields(program = %program.id, batch = entries.len()))]
    pub async fn process(
        &self,
        program: &Program,
        entries: &[Entry],
        concurrency: usize,
    ) -> Result<(), StoreError> {
        let replies = self.outbox.prepare(program, entries).await?;
        let mut finished = Vec::new();
        let mut ready = Vec::new();
        for (entry, reply) in entries.iter().zip(replies) {
            match reply {
                PrepareReply::Send(claim) => match self.ready(program, entry, *claim).await? {
                    Step::Ready(text) => ready.push(text),
                    Step::Finished(attempt) => finished.push((entry.clone(), attempt)),
                    Step::Deferred => {}
                },
                PrepareReply::Suppressed { member_status } => {
                    self.metrics
                        .send(self.provider.name(), SendOutcome::Suppressed, 0);
                    tracing::info!(message_id = %entry.1, ?member_status, "not sent: the member's status forbids it");
                }
                PrepareReply::Gone => {}
                PrepareReply::Held => {
                    tracing::info!(message_id = %entry.1, "held: its campaign is paused");
                }
            }
        }
        let slots = self.reserve(program, ready).await?;
        let sent: Vec<_> = futures_util::stream::iter(slots)
            .map(|(text, at)| async move {
                let text = self.at_slot(program, text, at).await?;
                Some(self.send(text).await)
            })
            .buffered(concurrency.max(1))
            .filter_map(std::future::ready)
            .collect()
            .await;
        finished.extend(sent);
        self.outbox.finish(program, &finished).await
    }

    /// Waits for `at`, `text`'s slot, and hands the text back to be sent. A text that was
    /// waiting for its slot and is woken more than [`Sender::late_tolerance`] after it (the
    /// process was held up: a machine that stalled, a thread that got no CPU) takes a new slot
    /// rather than going out at once with the texts whose slots came after its own: sent
    /// together, they would put more texts in one second at the provider than the rate and its
    /// burst allow (a 60 ms stall of the bench machine put 55 in a second at 50 a second). Its
    /// old slot goes unused. A text that only reaches its slot after it (queued behind the
    /// sends in flight) goes at once, as before: texts sent one after another are spaced by
    /// their sends. None when the text was put back (its new slot is too far away) or the
    /// schedule could not be read; the message is not finished, and is reclaimed.
    async fn at_slot(
        &self,
        program: &Program,
        mut text: Text,
        mut at: tokio::time::Instant,
    ) -> Option<Text> {
        loop {
            let waited = tokio::time::Instant::now() <= at;
            tokio::time::sleep_until(at).await;
            let late = tokio::time::Instant::now().saturating_duration_since(at);
            if !waited || late <= self.late_tolerance() {
                return Some(text);
            }
            self.metrics.send_slot_missed();
            tracing::info!(message_id = %text.entry.1, late_ms = late.as_millis() as u64,
                "the process was held up past a text's send slot; it takes a new one");
            match self.reserve(program, vec![text]).await {
                Ok(mut slots) => (text, at) = slots.pop()?,
                Err(e) => {
                    tracing::warn!(error = %crate::telemetry::Chain(&e),
                        "a new send slot could not be reserved; the text will be reclaimed");
                    return None;
                }
            }
        }
    }

    /// How late after its slot a send may still go out: half the interval between two
    /// segments' slots, so that a late send and the next one on time are still that far apart,
    /// but at least LATE_TOLERANCE_FLOOR, as timers fire up to a millisecond late.
    fn late_tolerance(&self) -> Duration {
        (self.quota.replenish_interval() / 2).max(LATE_TOLERANCE_FLOOR)
    }

    /// What becomes of a claimed message before its send slot: ready to send, finished without
    /// a send (it failed to render, or there is no number to send from), or deferred (quiet
    /// hours, or its local send time).
    async fn ready(
        &self,
        program: &Program,
        entry: &Entry,
        claim: Claim,
    ) -> Result<Step, StoreError> {
        if claim.kind == MessageKind::Marketing {
            let recipient = PhoneNumber::parse_e164(&claim.to)
                .map(|phone| quiet_hours::recipient(&phone, program.timezone));
            if let Ok(recipient) = recipient {
                let now = self.clock.now();
                let held = local_send_time(&claim.vars, &recipient)
                    .filter(|at| *at > now)
                    .map(|at| (at, "marketing text held for its local send time"))
                    .or_else(|| {
                        recipient
                            .next_allowed(now)
                            .map(|at| (at, "marketing text deferred: quiet hours"))
                    });
                if let Some((at, why)) = held {
                    tracing::info!(message_id = %entry.1, until = %at, "{why}");
                    self.outbox
                        .defer(
                            program,
                            entry,
                            at.timestamp_millis(),
                            MessageStatus::Deferred,
                        )
                        .await?;
                    return Ok(Step::Deferred);
                }
            }
        }
        let body = match self.render(program, &claim) {
            Ok(body) => body,
            Err(e) => {
                tracing::error!(message_id = %entry.1, error = %e, template = %claim.template, "template failed to render");
                self.metrics
                    .send(self.provider.name(), SendOutcome::Failed, 0);
                let attempt = Attempt::new(Outcome::Failed, String::new(), 0)
                    .with_error(format!("template: {e}"));
                return Ok(Step::Finished(attempt));
            }
        };
        let segments = segments::count(&body).segments;
        let Some(from) = program.sending_number() else {
            self.metrics
                .send(self.provider.name(), SendOutcome::Failed, 0);
            let attempt = Attempt::new(Outcome::Failed, body, segments)
                .with_error("the program has no sending number");
            return Ok(Step::Finished(attempt));
        };
        Ok(Step::Ready(Text {
            entry: entry.clone(),
            outgoing: Outgoing {
                from: from.as_str().to_owned(),
                to: claim.to.clone(),
                body,
            },
            claim,
            segments,
        }))
    }

    /// Takes one cell per segment (a 3-segment text uses three) for every text, in order, from
    /// the number's schedule, which lives in Redis so that every process sending from it draws
    /// on the same one. Returns each text that got a slot with the instant to send it; a text
    /// whose slot is too far away is put back until then.
    async fn reserve(
        &self,
        program: &Program,
        texts: Vec<Text>,
    ) -> Result<Vec<(Text, tokio::time::Instant)>, StoreError> {
        let Some(from) = texts.first().map(|t| t.outgoing.from.clone()) else {
            return Ok(Vec::new());
        };
        let cells: Vec<u32> = texts.iter().map(|t| t.segments.max(1)).collect();
        // The waits count from when the script was asked (its NOW): an answer that comes back
        // late must not push the sends later than their slots, or two slots would land closer
        // together than the schedule allows.
        let asked = tokio::time::Instant::now();
        let waits = self
            .outbox
            .reserve_batch(
                program,
                &from,
                &self.quota,
                &cells,
                self.max_throttle_wait(),
            )
            .await?;
        let mut slots = Vec::with_capacity(texts.len());
        for (text, wait) in texts.into_iter().zip(waits) {
            match wait {
                Ok(wait) => {
                    self.metrics.send_rate_wait(wait);
                    slots.push((text, asked + wait));
                }
                Err(wait) => {
                    self.metrics.send_rate_deferral();
                    let at = self.clock.now().timestamp_millis() + wait.as_millis() as i64;
                    self.outbox
                        .defer(program, &text.entry, at, MessageStatus::Queued)
                        .await?;
                }
            }
        }
        Ok(slots)
    }

    /// Sends one text at its slot and says what came of it.
    async fn send(&self, text: Text) -> (Entry, Attempt) {
        let Text {
            entry,
            claim,
            outgoing,
            segments,
        } = text;
        let result = self.provider.send(&outgoing).await;
        let mut attempt = Attempt::new(Outcome::Sent, outgoing.body, segments);
        match result {
            Ok(sid) => {
                attempt.provider_id = Some(sid);
            }
            Err(SendError::OptedOut(e)) => {
                attempt = attempt.with_error(e);
                attempt.outcome = Outcome::OptedOut;
            }
            Err(SendError::Undeliverable(e)) => {
                attempt = attempt.with_error(e);
                attempt.outcome = Outcome::Failed;
            }
            Err(SendError::Transient {
                message,
                retry_after,
                throttled,
            }) => {
                attempt = attempt.with_error(message);
                if claim.attempts as usize > self.sms.retry_schedule_secs.len() {
                    attempt.outcome = Outcome::Dead;
                } else {
                    let delay = self.retry_delay(claim.attempts, retry_after, throttled);
                    attempt.outcome = Outcome::Retry;
                    attempt.retry_at_ms =
                        Some(self.clock.now().timestamp_millis() + delay.as_millis() as i64);
                }
            }
        }
        let outcome = match attempt.outcome {
            Outcome::Sent => SendOutcome::Sent,
            Outcome::Retry => SendOutcome::Retry,
            Outcome::Dead => SendOutcome::Dead,
            Outcome::OptedOut => SendOutcome::OptedOut,
            Outcome::Failed => SendOutcome::Failed,
        };
        self.metrics.send(self.provider.name(), outcome, segments);
        tracing::info!(
            message_id = %entry.1,
            outcome = attempt.outcome.as_str(),
            to = %PhoneNumber::parse_e164(&claim.to).map(|p| p.masked().to_string()).unwrap_or_default(),
            segments,
            attempts = claim.attempts,
            error = %crate::telemetry::mask_digits(attempt.error.as_deref().unwrap_or("")),
            "send attempt"
        );
        (entry, attempt)
    }
}

/// A claimed text, rendered and counted, waiting for its send slot.
struct Text {
    entry: Entry,
    claim: Claim,
    outgoing: Outgoing,
    segments: u32,
}

/// What [`Sender::ready`] made of a claimed message.
enum Step {
    Ready(Text),
    Finished(Attempt),
    Deferred,
}

/// A campaign text's `send_at_local` in the recipient's zone, the first after the campaign
/// started; `None` for a text to send at once.
fn local_send_time(
    vars: &serde_json::Value,
    recipient: &quiet_hours::Recipient,
) -> Option<chrono::DateTime<chrono::Utc>> {
    let time = quiet_hours::LocalTime::parse(vars.get("send_at_local")?.as_str()?)?;
    let from = chrono::DateTime::from_timestamp_millis(vars.get("local_from_ms")?.as_i64()?)?;
    Some(recipient.at_local(time, from))
}
