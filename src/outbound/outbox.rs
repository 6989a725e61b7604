//! The outbox in Redis: the stream, its consumer group, the delayed set and the dead letters,
//! and the scripts that move a message through them.

use std::collections::HashMap;
use std::time::Duration;

use super::{Entry, GROUP};
use crate::clock::Clock;
use crate::domain::{PhoneNumber, Program};
use crate::store::scripts::outbox::{
    Defer, DeliveryFailure, DeliveryStatus, DeliveryStatusReply, Enqueue, EnqueueReply, Finish,
    FinishAttempt, FinishReply, MessageKind, MessageStatus, Prepare, PrepareMessage, PrepareReply,
    PreparedBatch, Promote, PromoteReply, Requeue, RequeueReply, Reserve, ReserveReply,
    ReservedBatch,
};
use crate::store::scripts::ScriptCall;
use crate::store::{Cause, ProgramKeys, Store, StoreError};
use governor::Quota;

/// How long a status-callback lookup (provider id → message) is kept.
const SID_TTL_SECS: u64 = 7 * 86_400;

/// The outbox of every program, on the connection of the store it is given.
#[derive(Clone)]
pub struct Outbox {
    store: Store,
    prefix: String,
    clock: Clock,
    /// `campaigns.pause_on_filtered_percent`, applied as carriers report filtered texts.
    pause_on_filtered_percent: f64,
}

/// What one send attempt came to, as `finish.lua` records it.
#[derive(Debug)]
pub(super) struct Attempt {
    pub(super) outcome: crate::store::scripts::outbox::Outcome,
    pub(super) provider_id: Option<String>,
    pub(super) body: String,
    pub(super) segments: u32,
    pub(super) error: Option<String>,
    /// When to try again (`Outcome::Retry`), Unix ms.
    pub(super) retry_at_ms: Option<i64>,
}

impl Attempt {
    pub(super) fn new(
        outcome: crate::store::scripts::outbox::Outcome,
        body: String,
        segments: u32,
    ) -> Self {
        Self {
            outcome,
            provider_id: None,
            body,
            segments,
            error: None,
            retry_at_ms: None,
        }
    }

    pub(super) fn with_error(mut self, error: impl Into<String>) -> Self {
        self.error = Some(error.into());
        self
    }
}

/// A text that failed and waits for another attempt.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Retrying {
    pub id: String,
    pub attempts: u32,
    /// The last attempt's error.
    pub error: String,
    /// When it is tried again, RFC 3339.
    pub retry_at: String,
}

/// A batch script that answered for more or fewer items than it was given.
fn miscounted(what: &'static str, asked: usize, answered: usize) -> StoreError {
    StoreError::Unexpected(Cause::Invalid {
        what,
        problem: format!("{answered} answers for {asked} items"),
    })
}

/// A stream entry's id and the message id it carries.
fn entry(stream_entry: redis::streams::StreamId) -> Option<Entry> {
    let message = stream_entry.get::<String>("id")?;
    Some((stream_entry.id, message))
}

impl Outbox {
    pub fn new(store: Store, prefix: &str, clock: Clock, pause_on_filtered_percent: f64) -> Self {
        Self {
            store,
            prefix: prefix.to_owned(),
            clock,
            pause_on_filtered_percent,
        }
    }

    /// The same outbox on `store`.
    pub fn with_store(&self, store: Store) -> Self {
        Self {
            store,
            ..self.clone()
        }
    }

    pub fn keys(&self, program: &Program) -> ProgramKeys {
        ProgramKeys::new(&self.prefix, &program.id)
    }

    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    async fn call<S: ScriptCall>(
        &self,
        program: &Program,
        call: &S,
    ) -> Result<S::Reply, StoreError> {
        self.store
            .call(&self.keys(program), self.clock.now(), call)
            .await
    }

    /// Creates the consumer group (and the stream) if missing.
    pub async fn ensure_group(&self, program: &Program) -> Result<(), StoreError> {
        let created = self
            .store
            .command::<()>(
                redis::cmd("XGROUP")
                    .arg("CREATE")
                    .arg(self.keys(program).outbox())
                    .arg(GROUP)
                    .arg("0")
                    .arg("MKSTREAM"),
            )
            .await;
        match created {
            Err(e) if e.code() == Some("BUSYGROUP") => Ok(()),
            other => other,
        }
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
        self.read_new(&self.store, program, consumer, count, None)
            .await
    }

    /// Takes up to `count` new entries for `consumer`, waiting up to `block` when given, on
    /// `store` (a [`Store::dedicated`] one when blocking). A consumer that never acknowledges
    /// them (a crashed worker) leaves them to [`Outbox::reclaim`].
    pub async fn read_new(
        &self,
        store: &Store,
        program: &Program,
        consumer: &str,
        count: usize,
        block: Option<Duration>,
    ) -> Result<Vec<Entry>, StoreError> {
        let outbox = self.keys(program).outbox();
        let entries = store
            .read_group(&outbox, GROUP, consumer, count, block)
            .await?;
        Ok(entries.into_iter().filter_map(entry).collect())
    }

    /// Entries another consumer claimed more than `min_idle` ago and never acknowledged.
    pub async fn reclaim(
        &self,
        program: &Program,
        consumer: &str,
        min_idle: Duration,
    ) -> Result<Vec<Entry>, StoreError> {
        let outbox = self.keys(program).outbox();
        let entries = self
            .store
            .reclaim(&outbox, GROUP, consumer, min_idle)
            .await?;
        Ok(entries.into_iter().filter_map(entry).collect())
    }

    /// Moves due retries back into the stream; returns how many.
    pub async fn promote_due(&self, program: &Program) -> Result<usize, StoreError> {
        let PromoteReply::Promoted { count } = self.call(program, &Promote { limit: 500 }).await?;
        Ok(count)
    }

    /// Claims a batch of entries in one script: one reply per entry, in order.
    pub(super) async fn prepare(
        &self,
        program: &Program,
        entries: &[Entry],
    ) -> Result<Vec<PrepareReply>, StoreError> {
        if entries.is_empty() {
            return Ok(Vec::new());
        }
        let call = Prepare {
            messages: entries
                .iter()
                .map(|(entry, message_id)| PrepareMessage { message_id, entry })
                .collect(),
        };
        let PreparedBatch::Prepared { messages } = self.call(program, &call).await?;
        if messages.len() != entries.len() {
            return Err(miscounted(
                "prepare.lua's answer",
                entries.len(),
                messages.len(),
            ));
        }
        Ok(messages)
    }

    /// Records a batch of attempts' outcomes in one script and releases their stream entries.
    pub(super) async fn finish(
        &self,
        program: &Program,
        attempts: &[(Entry, Attempt)],
    ) -> Result<(), StoreError> {
        if attempts.is_empty() {
            return Ok(());
        }
        let call = Finish {
            attempts: attempts
                .iter()
                .map(|(entry, attempt)| FinishAttempt {
                    message_id: &entry.1,
                    entry: &entry.0,
                    outcome: attempt.outcome,
                    provider_id: attempt.provider_id.as_deref(),
                    body: &attempt.body,
                    segments: attempt.segments,
                    error: attempt.error.as_deref(),
                    retry_at_ms: attempt.retry_at_ms,
                    sid_ttl_secs: SID_TTL_SECS,
                })
                .collect(),
        };
        let FinishReply::Recorded = self.call(program, &call).await?;
        Ok(())
    }

    /// Records a provider's delivery status for the message it knows as `provider_id`.
    pub async fn record_status(
        &self,
        program: &Program,
        provider_id: &str,
        status: MessageStatus,
        error_code: Option<&str>,
    ) -> Result<DeliveryStatusReply, StoreError> {
        let error_code = error_code.filter(|c| !c.is_empty());
        let call = DeliveryStatus {
            provider_id,
            delivery: status,
            error_code,
            failure: error_code.and_then(DeliveryFailure::from_error_code),
            pause_on_filtered_percent: self.pause_on_filtered_percent,
        };
        self.call(program, &call).await
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
        let mut waits = self
            .reserve_batch(program, number, quota, &[cells], max_wait)
            .await?;
        waits
            .pop()
            .ok_or_else(|| miscounted("gcra.lua's answer", 1, 0))
    }

    /// Reserves each text's segments (`cells`, in sending order) on `number`'s shared schedule in
    /// one script, as [`Outbox::reserve`] does for one: the first text whose slot is more than
    /// `max_wait` away, and every text after it, is refused.
    pub async fn reserve_batch(
        &self,
        program: &Program,
        number: &str,
        quota: &Quota,
        cells: &[u32],
        max_wait: Duration,
    ) -> Result<Vec<Result<Duration, Duration>>, StoreError> {
        if cells.is_empty() {
            return Ok(Vec::new());
        }
        let call = Reserve {
            number,
            interval_ms: quota.replenish_interval().as_secs_f64() * 1000.0,
            burst: quota.burst_size().get(),
            cells,
            max_wait_ms: max_wait.as_millis() as u64,
        };
        let ReservedBatch::Reserved { waits } = self.call(program, &call).await?;
        if waits.len() != cells.len() {
            return Err(miscounted("gcra.lua's answer", cells.len(), waits.len()));
        }
        Ok(waits
            .into_iter()
            .map(|wait| match wait {
                ReserveReply::Reserved { wait_ms } => Ok(Duration::from_millis(wait_ms)),
                ReserveReply::TooFar { wait_ms } => Err(Duration::from_millis(wait_ms)),
            })
            .collect())
    }

    /// Queues a text that no ledger change causes (campaigns). Returns the message id.
    pub async fn enqueue(
        &self,
        program: &Program,
        to: &PhoneNumber,
        kind: MessageKind,
        template: &str,
        vars: &serde_json::Value,
        ttl: Duration,
    ) -> Result<String, StoreError> {
        let call = Enqueue {
            phone: to.as_str(),
            kind,
            template,
            vars,
            ttl_secs: ttl.as_secs(),
        };
        let EnqueueReply::Queued { message_id } = self.call(program, &call).await?;
        Ok(message_id)
    }

    pub(super) async fn defer(
        &self,
        program: &Program,
        entry: &Entry,
        until_ms: i64,
        shown_status: MessageStatus,
    ) -> Result<(), StoreError> {
        let call = Defer {
            message_id: &entry.1,
            entry: &entry.0,
            until_ms,
            shown_status,
        };
        self.call(program, &call).await.map(|_| ())
    }

    /// Dead letters, oldest first: (message id, last error).
    pub async fn dead_letters(
        &self,
        program: &Program,
        count: usize,
    ) -> Result<Vec<(String, String)>, StoreError> {
        let dead = self.keys(program).dead();
        Ok(self
            .store
            .oldest(&dead, count)
            .await?
            .into_iter()
            .filter_map(|e| {
                let id = e.get::<String>("id")?;
                let error = e.get::<String>("error").unwrap_or_default();
                Some((id, error))
            })
            .collect())
    }

    /// Up to `count` texts waiting for another attempt after a failure, soonest first: the
    /// recent sending errors an operator looks at before they become dead letters.
    pub async fn retrying(
        &self,
        program: &Program,
        count: usize,
    ) -> Result<Vec<Retrying>, StoreError> {
        // The delayed set also holds texts waiting for daytime or for their send slot, which
        // carry no error: read a few times as many to find `count` that failed.
        let ids: Vec<String> = self
            .store
            .command(
                redis::cmd("ZRANGE")
                    .arg(self.keys(program).delayed())
                    .arg(0)
                    .arg(count as i64 * 4 - 1),
            )
            .await?;
        Ok(self
            .messages(program, &ids)
            .await?
            .into_iter()
            .filter(|m| m.get("status").map(String::as_str) == Some("queued"))
            .filter_map(|m| {
                let error = m.get("error").filter(|e| !e.is_empty())?.clone();
                Some(Retrying {
                    id: m.get("id").cloned().unwrap_or_default(),
                    attempts: m.get("attempts").and_then(|a| a.parse().ok()).unwrap_or(0),
                    error,
                    retry_at: m
                        .get("retry_at_ms")
                        .and_then(|t| t.parse().ok())
                        .map(crate::clock::rfc3339_from_ms)
                        .unwrap_or_default(),
                })
            })
            .take(count)
            .collect())
    }

    /// Gives a dead-lettered message a fresh set of attempts; false when it is not dead.
    pub async fn requeue(&self, program: &Program, id: &str) -> Result<bool, StoreError> {
        let reply = self.call(program, &Requeue { message_id: id }).await?;
        Ok(matches!(reply, RequeueReply::Requeued))
    }

    /// The stored records of `ids`, in order, in one pipelined round trip (expired ones left
    /// out): a text still on its way from its own hash, a final one from its compact record.
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
            match keys.final_messages(id) {
                Some(bucket) => pipe.hget(bucket, id),
                None => pipe.cmd("ECHO").arg(""),
            };
        }
        // Two replies an id, read as pairs.
        let replies: Vec<(HashMap<String, String>, Option<String>)> =
            self.store.pipeline(&pipe).await?;
        let mut records = Vec::with_capacity(ids.len());
        for (id, (live, last)) in ids.iter().zip(replies) {
            if !live.is_empty() {
                records.push(live);
            } else if let Some(record) = last.as_deref().and_then(|v| FinalMessage::parse(id, v)) {
                records.push(record.into_fields());
            }
        }
        Ok(records)
    }

    /// A member's texts, newest first (the last 200), with their records.
    pub async fn member_messages(
        &self,
        program: &Program,
        phone: &PhoneNumber,
    ) -> Result<Vec<HashMap<String, String>>, StoreError> {
        let ids: Vec<String> = self
            .store
            .command(
                redis::cmd("LRANGE")
                    .arg(self.keys(program).messages(phone.as_str()))
                    .arg(0)
                    .arg(-1),
            )
            .await?;
        self.messages(program, &ids).await
    }

    /// A message's stored record (status, body, attempts...), or its outcome once final.
    pub async fn message(
        &self,
        program: &Program,
        id: &str,
    ) -> Result<Option<HashMap<String, String>>, StoreError> {
        Ok(self
            .messages(program, &[id.to_owned()])
            .await?
            .into_iter()
            .next())
    }
}

/// A final text's record as `finalize_message` (lib.lua) stores it: one positional value,
/// `status|attempts|segments|created_ms|final_after_ms|kind|template|campaign|error_code|error|links`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FinalMessage {
    pub id: String,
    pub status: String,
    pub attempts: String,
    pub segments: String,
    pub created_ms: String,
    pub final_ms: i64,
    pub kind: String,
    pub template: String,
    pub campaign: String,
    pub error_code: String,
    pub error: String,
}

impl FinalMessage {
    pub fn parse(id: &str, value: &str) -> Option<Self> {
        let parts: Vec<&str> = value.split('|').collect();
        let [status, attempts, segments, created_ms, final_after_ms, kind, template, campaign, error_code, error, _links] =
            parts.as_slice()
        else {
            return None;
        };
        Some(Self {
            id: id.to_owned(),
            status: (*status).to_owned(),
            attempts: (*attempts).to_owned(),
            segments: (*segments).to_owned(),
            created_ms: (*created_ms).to_owned(),
            final_ms: created_ms.parse::<i64>().ok()? + final_after_ms.parse::<i64>().ok()?,
            kind: (*kind).to_owned(),
            template: (*template).to_owned(),
            campaign: (*campaign).to_owned(),
            error_code: (*error_code).to_owned(),
            error: (*error).to_owned(),
        })
    }

    /// The record under the names a live text's hash uses (empty parts left out), and the
    /// moment it became final: `delivered_at` for a delivered text, else `final_at`.
    pub fn into_fields(self) -> HashMap<String, String> {
        let at = chrono::DateTime::from_timestamp_millis(self.final_ms)
            .map(crate::clock::rfc3339)
            .unwrap_or_default();
        let when = if self.status == "delivered" {
            "delivered_at"
        } else {
            "final_at"
        };
        [
            ("id", self.id),
            ("status", self.status),
            ("attempts", self.attempts),
            ("segments", self.segments),
            ("created_ms", self.created_ms),
            (when, at),
            ("kind", self.kind),
            ("template", self.template),
            ("campaign", self.campaign),
            ("error_code", self.error_code),
            ("error", self.error),
        ]
        .into_iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
    }
}

#[cfg(test)]
mod final_message_tests {
    use super::FinalMessage;

    #[test]
    fn a_final_record_reads_back_under_the_live_names() {
        let record = FinalMessage::parse(
            "m7",
            "delivered|1|2|1764780000000|1000|transactional|earn|||| ",
        )
        .unwrap();
        let fields = record.into_fields();
        assert_eq!(fields["status"], "delivered");
        assert_eq!(fields["segments"], "2");
        assert_eq!(fields["delivered_at"], "2025-12-03T16:40:01.000Z");
        assert!(!fields.contains_key("campaign"));
        assert_eq!(FinalMessage::parse("m7", "delivered|1"), None);
    }
}
