//! Outbound delivery: the outbox stream, the sender, and the workers that run it.
//!
//! Ledger scripts append message ids to each program's `outbox` stream in the same script as
//! the change that causes the text. Every `serve` process reads the stream through one consumer
//! group (`senders`), so each entry goes to one worker; an entry is acknowledged only after its
//! outcome is recorded, and an entry whose worker died is reclaimed after
//! `sms.visibility_timeout_ms` (longer than the provider timeout, or a slow send would be sent
//! twice). Failed attempts wait in the `outbox:delayed` sorted set and are promoted back to the
//! stream when due; the last failure goes to the `outbox:dead` stream.
//!
//! Send-time rules (who may receive which kind of text) are applied by `prepare.lua` atomically
//! with the member's current status: an opt-out that lands after a text was queued still stops it.

pub mod providers;
pub mod quiet_hours;

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use futures_util::StreamExt;
use governor::Quota;
use rand::Rng;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::streams::{StreamAutoClaimReply, StreamReadOptions, StreamReadReply};
use redis::{AsyncCommands, Script};
use secrecy::ExposeSecret;
use tokio_util::sync::CancellationToken;

use crate::clock::Clock;
use crate::configuration::{Program, Settings};
use crate::ledger::ProgramKeys;
use crate::metrics::Metrics;
use crate::segments;
use crate::startup::AppState;
use crate::store::{Store, StoreError};
use crate::templates::Templates;
use providers::{Outgoing, Provider, SendError};

static PREPARE: LazyLock<Script> = lua_script!("outbound/scripts/prepare.lua");
static FINISH: LazyLock<Script> = lua_script!("outbound/scripts/finish.lua");
static PROMOTE: LazyLock<Script> = lua_script!("outbound/scripts/promote.lua");
static STATUS: LazyLock<Script> = lua_script!("outbound/scripts/status.lua");
static GCRA: LazyLock<Script> = lua_script!("outbound/scripts/gcra.lua");
static ENQUEUE: LazyLock<Script> = lua_script!("outbound/scripts/enqueue.lua");
static DEFER: LazyLock<Script> = lua_script!("outbound/scripts/defer.lua");
static REQUEUE: LazyLock<Script> = lua_script!("outbound/scripts/requeue.lua");

pub const GROUP: &str = "senders";
/// How long a status-callback lookup (provider id → message) is kept.
const SID_TTL_SECS: u64 = 7 * 86_400;
/// Shortest wait after the provider said 429.
const THROTTLE_FLOOR: Duration = Duration::from_secs(5);
/// Longest `Retry-After` we honour.
const RETRY_AFTER_CEILING: Duration = Duration::from_secs(3600);

/// A stream entry: (entry id, message id).
pub type Entry = (String, String);

/// The outbox of every program, on the shared connection.
#[derive(Clone)]
pub struct Outbox {
    store: Store,
    prefix: String,
    clock: Clock,
}

#[derive(Debug)]
enum Prepared {
    Gone,
    Suppressed,
    Send(Box<Claim>),
}

#[derive(Debug)]
struct Claim {
    to: String,
    kind: String,
    template: String,
    vars: serde_json::Value,
    attempts: u32,
    locale: String,
    first_name: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Sent,
    Retry,
    Failed,
    Dead,
    OptedOut,
}

impl Outcome {
    fn as_str(self) -> &'static str {
        match self {
            Self::Sent => "sent",
            Self::Retry => "retry",
            Self::Failed => "failed",
            Self::Dead => "dead",
            Self::OptedOut => "opted_out",
        }
    }
}

impl Outbox {
    pub fn new(store: Store, prefix: &str, clock: Clock) -> Self {
        Self {
            store,
            prefix: prefix.to_owned(),
            clock,
        }
    }

    pub fn keys(&self, program: &Program) -> ProgramKeys {
        ProgramKeys::new(&self.prefix, &program.id)
    }

    fn invocation<'a>(&self, script: &'a Script, program: &Program) -> redis::ScriptInvocation<'a> {
        self.keys(program).invocation(script, self.clock.now())
    }

    /// Creates the consumer group (and the stream) if missing.
    pub async fn ensure_group(&self, program: &Program) -> Result<(), StoreError> {
        let key = self.keys(program).outbox();
        let mut conn = self.store.conn();
        let result: redis::RedisResult<()> = self
            .store
            .run(async move {
                redis::cmd("XGROUP")
                    .arg("CREATE")
                    .arg(key)
                    .arg(GROUP)
                    .arg("0")
                    .arg("MKSTREAM")
                    .query_async(&mut conn)
                    .await
            })
            .await
            .map(|_: ()| Ok(()))
            .or_else(|e| match e {
                StoreError::Unexpected(msg) if msg.contains("BUSYGROUP") => Ok(Ok(())),
                other => Err(other),
            })?;
        result.map_err(StoreError::from)
    }

    /// Takes up to `count` new entries for `consumer` without waiting. A consumer that never
    /// acknowledges them (a crashed worker) leaves them to [`Outbox::reclaim`].
    pub async fn claim(
        &self,
        program: &Program,
        consumer: &str,
        count: usize,
    ) -> Result<Vec<Entry>, StoreError> {
        self.ensure_group(program).await?;
        let mut conn = self.store.conn();
        self.read_new(&mut conn, program, consumer, count, None)
            .await
    }

    /// New entries for `consumer`, waiting up to `block` on `conn` (a connection of its own
    /// when blocking: a blocked multiplexed connection would stall every request behind it).
    async fn read_new(
        &self,
        conn: &mut ConnectionManager,
        program: &Program,
        consumer: &str,
        count: usize,
        block: Option<Duration>,
    ) -> Result<Vec<Entry>, StoreError> {
        let key = self.keys(program).outbox();
        let mut options = StreamReadOptions::default()
            .group(GROUP, consumer)
            .count(count);
        if let Some(block) = block {
            options = options.block(block.as_millis() as usize);
        }
        let reply: Option<StreamReadReply> = conn
            .xread_options(&[&key], &[">"], &options)
            .await
            .map_err(StoreError::from)?;
        Ok(entries(reply))
    }

    /// Entries another consumer claimed more than `min_idle` ago and never acknowledged.
    pub async fn reclaim(
        &self,
        program: &Program,
        consumer: &str,
        min_idle: Duration,
    ) -> Result<Vec<Entry>, StoreError> {
        let key = self.keys(program).outbox();
        let consumer = consumer.to_owned();
        let mut conn = self.store.conn();
        let reply: StreamAutoClaimReply = self
            .store
            .run(async move {
                redis::cmd("XAUTOCLAIM")
                    .arg(key)
                    .arg(GROUP)
                    .arg(consumer)
                    .arg(min_idle.as_millis() as u64)
                    .arg("0-0")
                    .arg("COUNT")
                    .arg(100)
                    .query_async(&mut conn)
                    .await
            })
            .await?;
        Ok(reply
            .claimed
            .into_iter()
            .filter_map(|e| {
                let id = e.get::<String>("id")?;
                Some((e.id, id))
            })
            .collect())
    }

    /// Moves due retries back into the stream; returns how many.
    pub async fn promote_due(&self, program: &Program) -> Result<usize, StoreError> {
        let mut invocation = self.invocation(&PROMOTE, program);
        invocation.arg(500);
        self.store.invoke(invocation).await
    }

    async fn prepare(&self, program: &Program, entry: &Entry) -> Result<Prepared, StoreError> {
        let mut invocation = self.invocation(&PREPARE, program);
        invocation.arg(&entry.1).arg(&entry.0);
        let reply: Vec<String> = self.store.invoke(invocation).await?;
        Ok(match reply.first().map(String::as_str) {
            Some("send") if reply.len() >= 8 => Prepared::Send(Box::new(Claim {
                to: reply[1].clone(),
                kind: reply[2].clone(),
                template: reply[3].clone(),
                vars: serde_json::from_str(&reply[4]).unwrap_or(serde_json::Value::Null),
                attempts: reply[5].parse().unwrap_or(1),
                locale: reply[6].clone(),
                first_name: reply[7].clone(),
            })),
            Some("suppressed") => Prepared::Suppressed,
            _ => Prepared::Gone,
        })
    }

    #[allow(clippy::too_many_arguments)]
    async fn finish(
        &self,
        program: &Program,
        entry: &Entry,
        outcome: Outcome,
        provider_id: &str,
        body: &str,
        segments: u32,
        error: &str,
        retry_at_ms: i64,
    ) -> Result<(), StoreError> {
        let mut invocation = self.invocation(&FINISH, program);
        invocation
            .arg(&entry.1)
            .arg(&entry.0)
            .arg(outcome.as_str())
            .arg(provider_id)
            .arg(body)
            .arg(segments)
            .arg(error)
            .arg(retry_at_ms)
            .arg(SID_TTL_SECS);
        self.store.invoke::<String>(invocation).await.map(|_| ())
    }

    /// Records a provider's delivery status for the message it knows as `provider_id`.
    /// Returns what happened: `updated`, `stale` (older than what we have), `unknown`, `ignored`.
    pub async fn record_status(
        &self,
        program: &Program,
        provider_id: &str,
        status: &str,
        error_code: &str,
    ) -> Result<String, StoreError> {
        let mut invocation = self.invocation(&STATUS, program);
        invocation.arg(provider_id).arg(status).arg(error_code);
        self.store.invoke(invocation).await
    }

    /// Reserves `cells` segments on `number`'s shared schedule. `Ok(wait)`: reserved, send after
    /// `wait`. `Err(wait)`: the slot is more than `max_wait` away and nothing was reserved.
    pub async fn reserve(
        &self,
        program: &Program,
        number: &str,
        quota: &Quota,
        cells: u32,
        max_wait: Duration,
    ) -> Result<Result<Duration, Duration>, StoreError> {
        let mut invocation = self.invocation(&GCRA, program);
        invocation
            .arg(number)
            .arg(quota.replenish_interval().as_secs_f64() * 1000.0)
            .arg(quota.burst_size().get())
            .arg(cells)
            .arg(max_wait.as_millis() as u64);
        let wait_ms: i64 = self.store.invoke(invocation).await?;
        let wait = Duration::from_millis(wait_ms.unsigned_abs());
        Ok(if wait_ms >= 0 { Ok(wait) } else { Err(wait) })
    }

    /// Queues a text that no ledger change causes (campaigns). Returns the message id.
    pub async fn enqueue(
        &self,
        program: &Program,
        to: &crate::domain::PhoneNumber,
        kind: &str,
        template: &str,
        vars: &serde_json::Value,
        ttl: Duration,
    ) -> Result<String, StoreError> {
        let mut invocation = self.invocation(&ENQUEUE, program);
        invocation
            .arg(to.as_str())
            .arg(kind)
            .arg(template)
            .arg(vars.to_string())
            .arg(ttl.as_secs());
        self.store.invoke(invocation).await
    }

    async fn defer(
        &self,
        program: &Program,
        entry: &Entry,
        until_ms: i64,
        status: &str,
    ) -> Result<(), StoreError> {
        let mut invocation = self.invocation(&DEFER, program);
        invocation
            .arg(&entry.1)
            .arg(&entry.0)
            .arg(until_ms)
            .arg(status);
        self.store.invoke::<i64>(invocation).await.map(|_| ())
    }

    /// Dead letters, oldest first: (message id, last error).
    pub async fn dead_letters(
        &self,
        program: &Program,
        count: usize,
    ) -> Result<Vec<(String, String)>, StoreError> {
        let key = format!("{}outbox:dead", self.keys(program).base());
        let mut conn = self.store.conn();
        let reply: redis::streams::StreamRangeReply = self
            .store
            .run(async move { conn.xrange_count(key, "-", "+", count).await })
            .await?;
        Ok(reply
            .ids
            .into_iter()
            .filter_map(|e| {
                let id = e.get::<String>("id")?;
                let error = e.get::<String>("error").unwrap_or_default();
                Some((id, error))
            })
            .collect())
    }

    /// Gives a dead-lettered message a fresh set of attempts; false when it is not dead.
    pub async fn requeue(&self, program: &Program, id: &str) -> Result<bool, StoreError> {
        let mut invocation = self.invocation(&REQUEUE, program);
        invocation.arg(id);
        let done: i64 = self.store.invoke(invocation).await?;
        Ok(done == 1)
    }

    /// A message's stored record (status, body, attempts...).
    pub async fn message(
        &self,
        program: &Program,
        id: &str,
    ) -> Result<Option<HashMap<String, String>>, StoreError> {
        let key = self.keys(program).message(id);
        let mut conn = self.store.conn();
        let map: HashMap<String, String> = self
            .store
            .run(async move { conn.hgetall(key).await })
            .await?;
        Ok((!map.is_empty()).then_some(map))
    }
}

fn entries(reply: Option<StreamReadReply>) -> Vec<Entry> {
    reply
        .into_iter()
        .flat_map(|r| r.keys)
        .flat_map(|k| k.ids)
        .filter_map(|e| {
            let id = e.get::<String>("id")?;
            Some((e.id, id))
        })
        .collect()
}

/// Sends claimed messages: render, throttle by segments, call the provider, record the outcome.
pub struct Sender {
    outbox: Outbox,
    provider: Box<dyn Provider>,
    templates: Arc<Templates>,
    settings: Arc<Settings>,
    metrics: Arc<Metrics>,
    clock: Clock,
    /// The per-number quota in segments; enforced on a schedule shared through Redis.
    quota: Quota,
}

impl Sender {
    pub fn new(state: &AppState, clock: Clock) -> anyhow::Result<Self> {
        let settings = state.settings.clone();
        let provider = providers::build(&settings.sms, &settings.server.public_url)?;
        let period = Duration::from_secs_f64(1.0 / settings.sms.messages_per_second);
        let burst = NonZeroU32::new(settings.sms.burst).unwrap_or(NonZeroU32::MIN);
        let quota = Quota::with_period(period)
            .ok_or_else(|| anyhow::anyhow!("sms.messages_per_second is too high"))?
            .allow_burst(burst);
        Ok(Self {
            outbox: state.outbox.clone(),
            provider,
            templates: state.templates.clone(),
            settings,
            metrics: state.metrics.clone(),
            clock,
            quota,
        })
    }

    /// The longest a claimed message may wait for its send slot: past it, another worker could
    /// reclaim the message while this one still means to send it.
    fn max_throttle_wait(&self) -> Duration {
        let sms = &self.settings.sms;
        Duration::from_millis(
            sms.visibility_timeout_ms
                .saturating_sub(sms.http_timeout_ms)
                / 2,
        )
    }

    /// Takes one cell per segment (a 3-segment text uses three) from the number's schedule,
    /// which lives in Redis so that every process sending from `from` draws on the same one.
    /// Returns false when the slot is too far away: the message was put back until then.
    async fn throttle(
        &self,
        program: &Program,
        entry: &Entry,
        from: &str,
        segments: u32,
    ) -> Result<bool, StoreError> {
        let reserved = self
            .outbox
            .reserve(
                program,
                from,
                &self.quota,
                segments.max(1),
                self.max_throttle_wait(),
            )
            .await?;
        match reserved {
            Ok(wait) => {
                if !wait.is_zero() {
                    tokio::time::sleep(wait).await;
                }
                Ok(true)
            }
            Err(wait) => {
                let at = self.clock.now().timestamp_millis() + wait.as_millis() as i64;
                self.outbox.defer(program, entry, at, "queued").await?;
                Ok(false)
            }
        }
    }

    fn retry_delay(
        &self,
        attempts: u32,
        retry_after: Option<Duration>,
        throttled: bool,
    ) -> Duration {
        let schedule = &self.settings.sms.retry_schedule_secs;
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
        let first_name = (!claim.first_name.is_empty()).then_some(claim.first_name.as_str());
        let context = Templates::context(program, first_name, &claim.vars);
        let locales: Vec<&str> = [claim.locale.as_str(), program.locale.as_str()]
            .into_iter()
            .filter(|l| !l.is_empty())
            .collect();
        let text = if claim.template == "campaign" {
            let source = claim
                .vars
                .get("body")
                .and_then(|b| b.as_str())
                .unwrap_or("");
            self.templates.render_str(source, &context)?
        } else {
            self.templates.render(&locales, &claim.template, &context)?
        };
        Ok(if self.settings.sms.smart_encoding {
            segments::smart_encode(&text)
        } else {
            text
        })
    }

    /// Handles one stream entry to the end: sent, suppressed, scheduled for retry, or failed.
    #[tracing::instrument(skip_all, fields(program = %program.id, message = %entry.1))]
    pub async fn process(&self, program: &Program, entry: &Entry) -> Result<(), StoreError> {
        let claim = match self.outbox.prepare(program, entry).await? {
            Prepared::Send(claim) => claim,
            Prepared::Suppressed => {
                Metrics::inc(&self.metrics.messages_suppressed);
                tracing::info!("not sent: the member's status forbids it");
                return Ok(());
            }
            Prepared::Gone => return Ok(()),
        };
        if claim.kind == "marketing" {
            let recipient = crate::domain::PhoneNumber::parse_e164(&claim.to)
                .map(|phone| quiet_hours::recipient(&phone, program.timezone));
            if let Ok(recipient) = recipient {
                if let Some(at) = recipient.next_allowed(self.clock.now()) {
                    tracing::info!(until = %at, "marketing text deferred: quiet hours");
                    return self
                        .outbox
                        .defer(program, entry, at.timestamp_millis(), "deferred")
                        .await;
                }
            }
        }
        let body = match self.render(program, &claim) {
            Ok(body) => body,
            Err(e) => {
                tracing::error!(error = %e, template = %claim.template, "template failed to render");
                Metrics::inc(&self.metrics.messages_failed);
                return self
                    .outbox
                    .finish(
                        program,
                        entry,
                        Outcome::Failed,
                        "",
                        "",
                        0,
                        &format!("template: {e}"),
                        0,
                    )
                    .await;
            }
        };
        let count = segments::count(&body);
        let Some(from) = program.sending_number() else {
            return self
                .outbox
                .finish(
                    program,
                    entry,
                    Outcome::Failed,
                    "",
                    &body,
                    count.segments,
                    "the program has no sending number",
                    0,
                )
                .await;
        };
        if !self
            .throttle(program, entry, from.as_str(), count.segments)
            .await?
        {
            return Ok(());
        }
        let outgoing = Outgoing {
            from: from.as_str().to_owned(),
            to: claim.to.clone(),
            body,
        };
        let result = self.provider.send(&outgoing).await;
        let (outcome, provider_id, error, retry_at) = match result {
            Ok(sid) => {
                Metrics::inc(&self.metrics.messages_sent);
                self.metrics.segments_sent.fetch_add(
                    u64::from(count.segments),
                    std::sync::atomic::Ordering::Relaxed,
                );
                (Outcome::Sent, sid, String::new(), 0)
            }
            Err(SendError::OptedOut(e)) => {
                Metrics::inc(&self.metrics.messages_failed);
                (Outcome::OptedOut, String::new(), e, 0)
            }
            Err(SendError::Undeliverable(e)) => {
                Metrics::inc(&self.metrics.messages_failed);
                (Outcome::Failed, String::new(), e, 0)
            }
            Err(SendError::Transient {
                message,
                retry_after,
                throttled,
            }) => {
                if claim.attempts as usize > self.settings.sms.retry_schedule_secs.len() {
                    Metrics::inc(&self.metrics.messages_failed);
                    (Outcome::Dead, String::new(), message, 0)
                } else {
                    Metrics::inc(&self.metrics.messages_retried);
                    let delay = self.retry_delay(claim.attempts, retry_after, throttled);
                    let at = self.clock.now().timestamp_millis() + delay.as_millis() as i64;
                    (Outcome::Retry, String::new(), message, at)
                }
            }
        };
        tracing::info!(
            outcome = outcome.as_str(),
            to = %crate::domain::PhoneNumber::parse_e164(&claim.to).map(|p| p.masked().to_string()).unwrap_or_default(),
            segments = count.segments,
            attempts = claim.attempts,
            error = %crate::telemetry::mask_digits(&error),
            "send attempt"
        );
        self.outbox
            .finish(
                program,
                entry,
                outcome,
                &provider_id,
                &outgoing.body,
                count.segments,
                &error,
                retry_at,
            )
            .await
    }
}

/// Processes everything the outbox of `program` holds right now (due retries included), without
/// blocking: the tests' way to deliver synchronously. Returns how many entries it handled.
pub async fn drain(state: &AppState, sender: &Sender, program: &Program) -> anyhow::Result<usize> {
    let outbox = &state.outbox;
    outbox.ensure_group(program).await?;
    outbox.promote_due(program).await?;
    let mut conn = state.store.conn();
    let mut handled = 0;
    loop {
        let batch = outbox
            .read_new(&mut conn, program, "drain", 100, None)
            .await?;
        if batch.is_empty() {
            return Ok(handled);
        }
        for entry in &batch {
            sender.process(program, entry).await?;
            handled += 1;
        }
    }
}

/// A connection of the worker's own for blocking reads.
fn blocking_connection(settings: &Settings) -> anyhow::Result<ConnectionManager> {
    let client = redis::Client::open(settings.redis.url.expose_secret())?;
    let config = ConnectionManagerConfig::new()
        .set_connection_timeout(Some(settings.redis.timeout()))
        .set_response_timeout(Some(Duration::from_secs(10)));
    Ok(ConnectionManager::new_lazy_with_config(client, config)?)
}

/// Runs one sender loop per program until `shutdown`.
pub async fn run_workers(state: actix_web::web::Data<AppState>, shutdown: CancellationToken) {
    let clock = state.ledger.clock().clone();
    let sender = match Sender::new(&state, clock) {
        Ok(sender) => Arc::new(sender),
        Err(e) => {
            tracing::error!(error = %e, "cannot start the outbound sender");
            return;
        }
    };
    let consumer = format!("{}-{}", hostname(), std::process::id());
    let housekeeping = {
        let state = state.clone();
        let shutdown = shutdown.clone();
        tokio::spawn(async move {
            let mut every_minute = tokio::time::interval(Duration::from_secs(60));
            loop {
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = every_minute.tick() => state.forget_idle_inbound_limits(),
                }
            }
        })
    };
    let loops = state
        .programs()
        .cloned()
        .collect::<Vec<_>>()
        .into_iter()
        .map(|program| {
            let state = state.clone();
            let sender = sender.clone();
            let shutdown = shutdown.clone();
            let consumer = consumer.clone();
            async move { program_loop(&state, &sender, &program, &consumer, shutdown).await }
        });
    futures_util::future::join_all(loops).await;
    let _ = housekeeping.await;
}

fn hostname() -> String {
    std::env::var("HOSTNAME").unwrap_or_else(|_| "gateway".into())
}

async fn program_loop(
    state: &AppState,
    sender: &Sender,
    program: &Program,
    consumer: &str,
    shutdown: CancellationToken,
) {
    let settings = &state.settings;
    let visibility = Duration::from_millis(settings.sms.visibility_timeout_ms);
    let max_in_flight = settings.sms.max_in_flight;
    let mut conn = match blocking_connection(settings) {
        Ok(conn) => conn,
        Err(e) => {
            tracing::error!(error = %e, "cannot open the worker's Redis connection");
            return;
        }
    };
    let mut backoff = Duration::from_millis(100);
    let mut next_maintenance = tokio::time::Instant::now();
    while !shutdown.is_cancelled() {
        let mut batch = Vec::new();
        if tokio::time::Instant::now() >= next_maintenance {
            next_maintenance = tokio::time::Instant::now() + Duration::from_secs(1);
            let maintenance = async {
                state.outbox.ensure_group(program).await?;
                state.outbox.promote_due(program).await?;
                state.outbox.reclaim(program, consumer, visibility).await
            };
            match maintenance.await {
                Ok(reclaimed) => batch.extend(reclaimed),
                Err(e) => {
                    tracing::warn!(error = %e, "outbox maintenance failed");
                }
            }
        }
        let read = tokio::select! {
            _ = shutdown.cancelled() => break,
            read = state.outbox.read_new(&mut conn, program, consumer, max_in_flight, Some(Duration::from_secs(1))) => read,
        };
        match read {
            Ok(entries) => {
                backoff = Duration::from_millis(100);
                batch.extend(entries);
            }
            Err(e) => {
                tracing::warn!(error = %e, "outbox read failed; retrying");
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(Duration::from_secs(5));
                continue;
            }
        }
        // Finish what is in hand even when shutdown arrives meanwhile.
        futures_util::stream::iter(batch)
            .for_each_concurrent(max_in_flight, |entry| async move {
                if let Err(e) = sender.process(program, &entry).await {
                    // Unacknowledged: another worker reclaims it after the visibility timeout.
                    tracing::warn!(error = %e, message = %entry.1, "send not recorded; will be reclaimed");
                }
            })
            .await;
    }
}
