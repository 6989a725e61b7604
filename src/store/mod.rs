//! The Redis store every component shares: the connection, the typed script calls, and what
//! its errors mean.
//!
//! One multiplexed connection per process pipelines concurrent requests over one socket and
//! reconnects by itself after an outage. Every call made on behalf of a request is bounded by
//! `redis.timeout_ms`, so an outage turns into a prompt 503 instead of a hung till. Blocking
//! stream reads get a [`Store::dedicated`] connection of their own: a blocked multiplexed
//! connection would stall every request queued behind it.
//!
//! Callers never build a script invocation by hand: they make a typed call
//! ([`scripts::ScriptCall`]) and get a typed reply. The key layout is in [`keys`].

pub mod keys;
pub mod scripts;

use std::time::Duration;

use chrono::{DateTime, Utc};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::FromRedisValue;
use secrecy::ExposeSecret;

use crate::clock::rfc3339;
use crate::configuration::RedisSettings;
pub use keys::ProgramKeys;
use scripts::ScriptCall;

/// Why a store call failed, with the cause kept for the logs.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Redis did not answer in time, the connection is down, or the server cannot serve the
    /// command yet: the caller may retry later.
    #[error("Redis is unavailable")]
    Unavailable(#[source] Cause),
    /// Redis answered with an error or a reply we cannot read: a bug or a corrupted key.
    #[error("Redis answered something unexpected")]
    Unexpected(#[source] Cause),
}

#[derive(Debug, thiserror::Error)]
pub enum Cause {
    #[error(transparent)]
    Redis(#[from] redis::RedisError),
    #[error("no answer within {0} ms")]
    Timeout(u128),
    #[error("the reply of {script}.lua is not what it promises")]
    Reply {
        script: &'static str,
        #[source]
        source: serde_json::Error,
    },
}

impl From<redis::RedisError> for StoreError {
    fn from(e: redis::RedisError) -> Self {
        if is_transient(&e) {
            Self::Unavailable(Cause::Redis(e))
        } else {
            Self::Unexpected(Cause::Redis(e))
        }
    }
}

impl StoreError {
    /// The Redis error code of the cause (`BUSYGROUP`), when Redis answered with one.
    pub fn code(&self) -> Option<&str> {
        match self {
            Self::Unavailable(Cause::Redis(e)) | Self::Unexpected(Cause::Redis(e)) => e.code(),
            _ => None,
        }
    }
}

/// Errors that say "not now" rather than "never": the connection is down, or the server is
/// there but cannot serve the command yet (reloading its data after a restart, running a long
/// script, a replica promoted or demoted, a cluster failing over). Recognised by the error's
/// kind or code, never by its text.
pub fn is_transient(e: &redis::RedisError) -> bool {
    use redis::{ErrorKind, ServerErrorKind};
    if e.is_io_error()
        || e.is_timeout()
        || e.is_connection_dropped()
        || e.is_connection_refusal()
        || e.is_cluster_error()
    {
        return true;
    }
    match e.kind() {
        ErrorKind::Server(
            ServerErrorKind::BusyLoading
            | ServerErrorKind::TryAgain
            | ServerErrorKind::ClusterDown
            | ServerErrorKind::MasterDown
            | ServerErrorKind::ReadOnly
            | ServerErrorKind::Moved
            | ServerErrorKind::Ask,
        )
        | ErrorKind::ClusterConnectionNotFound => true,
        _ => e.code() == Some("BUSY"),
    }
}

#[derive(Clone)]
pub struct Store {
    conn: ConnectionManager,
    timeout: Duration,
    client: redis::Client,
    connect_timeout: Duration,
}

impl Store {
    /// Creates the connection lazily: the process starts (and reports not-ready) even when Redis
    /// is down, and connects as soon as it answers.
    pub fn connect(settings: &RedisSettings) -> anyhow::Result<Self> {
        let client = redis::Client::open(settings.url.expose_secret())
            .map_err(|e| anyhow::anyhow!("redis.url is not a valid Redis URL: {:?}", e.kind()))?;
        let timeout = settings.timeout();
        let conn = Self::manager(&client, timeout, timeout)?;
        Ok(Self {
            conn,
            timeout,
            client,
            connect_timeout: timeout,
        })
    }

    fn manager(
        client: &redis::Client,
        connect: Duration,
        response: Duration,
    ) -> anyhow::Result<ConnectionManager> {
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(connect))
            .set_response_timeout(Some(response))
            .set_number_of_retries(2)
            .set_max_delay(Duration::from_millis(500));
        Ok(ConnectionManager::new_lazy_with_config(
            client.clone(),
            config,
        )?)
    }

    /// A connection of its own, for commands that block for up to `block` (stream reads).
    pub fn dedicated(&self, block: Duration) -> anyhow::Result<Self> {
        let response = block + self.timeout;
        Ok(Self {
            conn: Self::manager(&self.client, self.connect_timeout, response)?,
            timeout: response,
            client: self.client.clone(),
            connect_timeout: self.connect_timeout,
        })
    }

    /// Runs `op` on the connection with the configured deadline, mapping timeouts and I/O
    /// errors to `Unavailable`.
    async fn bounded<T>(
        &self,
        op: impl std::future::Future<Output = redis::RedisResult<T>>,
    ) -> Result<T, StoreError> {
        match tokio::time::timeout(self.timeout, op).await {
            Ok(result) => result.map_err(StoreError::from),
            Err(_) => Err(StoreError::Unavailable(Cause::Timeout(
                self.timeout.as_millis(),
            ))),
        }
    }

    /// One command.
    pub async fn command<T: FromRedisValue>(&self, cmd: &redis::Cmd) -> Result<T, StoreError> {
        let mut conn = self.conn.clone();
        self.bounded(cmd.query_async(&mut conn)).await
    }

    /// Several commands in one round trip.
    pub async fn pipeline<T: FromRedisValue>(
        &self,
        pipe: &redis::Pipeline,
    ) -> Result<T, StoreError> {
        let mut conn = self.conn.clone();
        self.bounded(pipe.query_async(&mut conn)).await
    }

    /// A typed script call on `keys`' program at `now`: the call becomes the script's named
    /// arguments, its JSON answer the typed reply.
    pub async fn call<S: ScriptCall>(
        &self,
        keys: &ProgramKeys,
        now: DateTime<Utc>,
        call: &S,
    ) -> Result<S::Reply, StoreError> {
        let args = serde_json::to_string(call).expect("script arguments serialise");
        let mut invocation = call.script().prepare_invoke();
        invocation
            .key(keys.base())
            .arg(now.timestamp_millis())
            .arg(rfc3339(now))
            .arg(args);
        if let Some(rules) = call.rules() {
            invocation.arg(rules);
        }
        let mut conn = self.conn.clone();
        let answer: String = self.bounded(invocation.invoke_async(&mut conn)).await?;
        serde_json::from_str(&answer).map_err(|source| {
            StoreError::Unexpected(Cause::Reply {
                script: S::NAME,
                source,
            })
        })
    }

    pub async fn ping(&self) -> Result<(), StoreError> {
        self.command::<String>(&redis::cmd("PING"))
            .await
            .map(|_| ())
    }
}
