//! The Redis connection every component shares.
//!
//! One multiplexed [`ConnectionManager`] per process: it pipelines concurrent requests over one
//! socket and reconnects by itself after an outage. Every call made on behalf of a request is
//! bounded by `redis.timeout_ms`, so an outage turns into a prompt 503 instead of a hung till.

use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use secrecy::ExposeSecret;

use crate::configuration::RedisSettings;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Redis did not answer in time or the connection is down: the caller may retry later.
    #[error("redis is unavailable: {0}")]
    Unavailable(String),
    /// Redis answered with an error or a reply we cannot read: a bug or a corrupted key.
    #[error("unexpected redis reply: {0}")]
    Unexpected(String),
}

impl From<redis::RedisError> for StoreError {
    fn from(e: redis::RedisError) -> Self {
        if is_transient(&e) {
            Self::Unavailable(e.to_string())
        } else {
            Self::Unexpected(e.to_string())
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
}

impl Store {
    /// Creates the connection lazily: the process starts (and reports not-ready) even when Redis
    /// is down, and connects as soon as it answers.
    pub fn connect(settings: &RedisSettings) -> anyhow::Result<Self> {
        let client = redis::Client::open(settings.url.expose_secret())
            .map_err(|e| anyhow::anyhow!("redis.url is not a valid Redis URL: {:?}", e.kind()))?;
        let timeout = settings.timeout();
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(timeout))
            .set_response_timeout(Some(timeout))
            .set_number_of_retries(2)
            .set_max_delay(Duration::from_millis(500));
        let conn = ConnectionManager::new_lazy_with_config(client, config)?;
        Ok(Self { conn, timeout })
    }

    /// A clone of the connection for commands; cheap, it shares the socket.
    pub fn conn(&self) -> ConnectionManager {
        self.conn.clone()
    }

    /// Runs `op` with the configured deadline, mapping timeouts and I/O errors to `Unavailable`.
    pub async fn run<T, F>(&self, op: F) -> Result<T, StoreError>
    where
        F: std::future::Future<Output = redis::RedisResult<T>>,
    {
        match tokio::time::timeout(self.timeout, op).await {
            Ok(result) => result.map_err(StoreError::from),
            Err(_) => Err(StoreError::Unavailable(format!(
                "no answer within {} ms",
                self.timeout.as_millis()
            ))),
        }
    }

    /// Runs a script invocation with the configured deadline.
    pub async fn invoke<T: redis::FromRedisValue>(
        &self,
        invocation: redis::ScriptInvocation<'_>,
    ) -> Result<T, StoreError> {
        let mut conn = self.conn();
        self.run(async move { invocation.invoke_async(&mut conn).await })
            .await
    }

    pub async fn ping(&self) -> Result<(), StoreError> {
        let mut conn = self.conn();
        self.run(async move { redis::cmd("PING").query_async::<String>(&mut conn).await })
            .await
            .map(|_| ())
    }
}
