//! The outbox in Redis: the stream, its consumer group, the delayed set and the dead letters,
//! and the scripts that move a message through them.

use std::collections::HashMap;
use std::sync::LazyLock;
use std::time::Duration;

use governor::Quota;
use redis::aio::ConnectionManager;
use redis::streams::{StreamAutoClaimReply, StreamReadOptions, StreamReadReply};
use redis::{AsyncCommands, Script};

use super::{Entry, GROUP};
use crate::clock::Clock;
use crate::configuration::Program;
use crate::ledger::ProgramKeys;
use crate::store::{Store, StoreError};

static PREPARE: LazyLock<Script> = lua_script!("outbound/scripts/prepare.lua");
static FINISH: LazyLock<Script> = lua_script!("outbound/scripts/finish.lua");
static PROMOTE: LazyLock<Script> = lua_script!("outbound/scripts/promote.lua");
static STATUS: LazyLock<Script> = lua_script!("outbound/scripts/status.lua");
static GCRA: LazyLock<Script> = lua_script!("outbound/scripts/gcra.lua");
static ENQUEUE: LazyLock<Script> = lua_script!("outbound/scripts/enqueue.lua");
static DEFER: LazyLock<Script> = lua_script!("outbound/scripts/defer.lua");
static REQUEUE: LazyLock<Script> = lua_script!("outbound/scripts/requeue.lua");

/// How long a status-callback lookup (provider id → message) is kept.
const SID_TTL_SECS: u64 = 7 * 86_400;

/// The outbox of every program, on the shared connection.
#[derive(Clone)]
pub struct Outbox {
    store: Store,
    prefix: String,
    clock: Clock,
}

#[derive(Debug)]
pub(super) enum Prepared {
    Gone,
    Suppressed,
    Send(Box<Claim>),
}

#[derive(Debug)]
pub(super) struct Claim {
    pub(super) to: String,
    pub(super) kind: String,
    pub(super) template: String,
    pub(super) vars: serde_json::Value,
    pub(super) attempts: u32,
    pub(super) locale: String,
    pub(super) first_name: String,
}

/// What one send attempt came to, as `finish.lua` records it.
#[derive(Debug)]
pub(super) struct Attempt<'a> {
    pub(super) outcome: Outcome,
    pub(super) provider_id: String,
    pub(super) body: &'a str,
    pub(super) segments: u32,
    pub(super) error: String,
    /// When to try again (`Outcome::Retry`), Unix ms.
    pub(super) retry_at_ms: i64,
}

impl<'a> Attempt<'a> {
    pub(super) fn new(outcome: Outcome, body: &'a str, segments: u32) -> Self {
        Self {
            outcome,
            provider_id: String::new(),
            body,
            segments,
            error: String::new(),
            retry_at_ms: 0,
        }
    }

    pub(super) fn with_error(mut self, error: impl Into<String>) -> Self {
        self.error = error.into();
        self
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Outcome {
    Sent,
    Retry,
    Failed,
    Dead,
    OptedOut,
}

impl Outcome {
    pub(super) fn as_str(self) -> &'static str {
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
    pub(super) async fn read_new(
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

    pub(super) async fn prepare(
        &self,
        program: &Program,
        entry: &Entry,
    ) -> Result<Prepared, StoreError> {
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

    /// Records an attempt's outcome and releases the stream entry.
    pub(super) async fn finish(
        &self,
        program: &Program,
        entry: &Entry,
        attempt: &Attempt<'_>,
    ) -> Result<(), StoreError> {
        let mut invocation = self.invocation(&FINISH, program);
        invocation
            .arg(&entry.1)
            .arg(&entry.0)
            .arg(attempt.outcome.as_str())
            .arg(&attempt.provider_id)
            .arg(attempt.body)
            .arg(attempt.segments)
            .arg(&attempt.error)
            .arg(attempt.retry_at_ms)
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

    pub(super) async fn defer(
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
        let key = self.keys(program).dead_letters();
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

    /// The stored records of `ids`, in order, in one pipelined round trip (expired ones left out).
    pub async fn messages(
        &self,
        program: &Program,
        ids: &[String],
    ) -> Result<Vec<HashMap<String, String>>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let keys = self.keys(program);
        let mut pipe = redis::pipe();
        for id in ids {
            pipe.hgetall(keys.message(id));
        }
        let mut conn = self.store.conn();
        let records: Vec<HashMap<String, String>> = self
            .store
            .run(async move { pipe.query_async(&mut conn).await })
            .await?;
        Ok(records.into_iter().filter(|r| !r.is_empty()).collect())
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
