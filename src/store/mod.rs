//! The Redis store every component shares: the connection, the typed script calls, and what
//! its errors mean.
//!
//! One multiplexed connection per process (one per node on a Redis Cluster, set by
//! `redis.cluster_nodes`) pipelines concurrent requests and reconnects by itself after an outage. Every call made on behalf of a request is bounded by
//! `redis.timeout_ms`, so an outage turns into a prompt 503 instead of a hung till. Blocking
//! stream reads get a [`Store::dedicated`] connection of their own: a blocked multiplexed
//! connection would stall every request queued behind it.
//!
//! Callers never build a script invocation by hand: they make a typed call
//! ([`scripts::ScriptCall`]) and get a typed reply. The key layout is in [`keys`].

pub mod keys;
pub mod scripts;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::cluster_async::ClusterConnection;
use redis::cluster_routing::{Route, RoutingInfo, SingleNodeRoutingInfo, SlotAddr};
use redis::{FromRedisValue, RedisFuture, Value};
use secrecy::ExposeSecret;

use crate::clock::rfc3339;
use crate::configuration::RedisSettings;
use crate::metrics::{Metrics, RedisFailure};
pub use keys::ProgramKeys;
use scripts::{Library, ScriptCall};

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
    #[error("{acked} of the {wanted} replicas confirmed the write in time")]
    Replication { acked: i64, wanted: u32 },
    #[error("no script {0} in the library")]
    NotInLibrary(&'static str),
    #[error("the reply of {script}.lua is not what it promises")]
    Reply {
        script: &'static str,
        #[source]
        source: serde_json::Error,
    },
    /// Data read directly (not through a script) that is not in the stored format.
    #[error("{what} is not in the stored format: {problem}")]
    Invalid { what: &'static str, problem: String },
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

/// Whether `e` says the function called is not loaded: a Redis restarted without its data, a
/// node added to a cluster, or the first call of this build. Redis gives this error no code of
/// its own, only `ERR` and its text.
fn is_function_missing(e: &StoreError) -> bool {
    match e {
        StoreError::Unexpected(Cause::Redis(e)) => {
            e.code() == Some("ERR")
                && e.detail()
                    .is_some_and(|d| d.starts_with("Function not found"))
        }
        _ => false,
    }
}

/// A connection to one Redis, or to a Redis Cluster (which follows MOVED and ASK, and
/// refreshes its view of the slots after a failover): the rest of the crate cannot tell.
#[derive(Clone)]
enum Connection {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
}

impl ConnectionLike for Connection {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a redis::Cmd) -> RedisFuture<'a, Value> {
        match self {
            Self::Single(c) => c.req_packed_command(cmd),
            Self::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        cmd: &'a redis::Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Self::Single(c) => c.req_packed_commands(cmd, offset, count),
            Self::Cluster(c) => c.req_packed_commands(cmd, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Self::Single(c) => c.get_db(),
            Self::Cluster(c) => c.get_db(),
        }
    }
}

/// Where the connection comes from: a single node's manager (lazy, reconnecting), or a
/// cluster's connection (see [`ClusterBackend`]).
#[derive(Clone)]
enum Backend {
    Single(ConnectionManager),
    Cluster(Arc<ClusterBackend>),
}

/// A Redis Cluster connection that is made on first use, and made anew from the configured
/// nodes when calls keep failing in ways that say the topology moved (a master died and its
/// replica took over): redis-rs follows MOVED and ASK by itself, but a connection that lost a
/// node can keep trying it. A fresh connection discovers the slots again. At most one fresh
/// connection every [`ClusterBackend::RENEW_AFTER`].
struct ClusterBackend {
    client: redis::cluster::ClusterClient,
    /// The connection and its generation.
    current: std::sync::RwLock<Option<(u64, ClusterConnection)>>,
    /// Held while a connection is made, so concurrent callers make one.
    making: tokio::sync::Mutex<()>,
    generations: std::sync::atomic::AtomicU64,
    last_renewal: std::sync::Mutex<Option<std::time::Instant>>,
}

impl ClusterBackend {
    const RENEW_AFTER: Duration = Duration::from_millis(500);

    fn current(&self) -> Option<(u64, ClusterConnection)> {
        self.current.read().expect("not poisoned").clone()
    }

    async fn connection(&self) -> redis::RedisResult<(u64, ClusterConnection)> {
        if let Some(current) = self.current() {
            return Ok(current);
        }
        let _making = self.making.lock().await;
        if let Some(current) = self.current() {
            return Ok(current);
        }
        let conn = self.client.get_async_connection().await?;
        let generation = self
            .generations
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            + 1;
        *self.current.write().expect("not poisoned") = Some((generation, conn.clone()));
        Ok((generation, conn))
    }

    /// Drops connection `generation` after a failure that may mean the topology moved; the next
    /// call makes a fresh one.
    fn renew(&self, generation: u64) {
        let mut last = self.last_renewal.lock().expect("not poisoned");
        if last.is_some_and(|at| at.elapsed() < Self::RENEW_AFTER) {
            return;
        }
        let mut current = self.current.write().expect("not poisoned");
        if matches!(&*current, Some((g, _)) if *g == generation) {
            *current = None;
            *last = Some(std::time::Instant::now());
            tracing::info!("renewing the Redis Cluster connection after failures");
        }
    }
}

/// `WAIT` after acknowledged writes (`redis.min_replicas_acked`).
#[derive(Debug, Clone, Copy)]
struct ReplicaAcks {
    replicas: u32,
    timeout: Duration,
}

/// This process's loads of the scripts' library into one Redis (or cluster), one at a time:
/// every call in flight finds the library missing at the same moment (the first requests, a
/// Redis restarted empty, a new build's version), and each loading it again cost Redis's thread
/// a compilation of the whole library (32 requests arriving together held each other up for
/// 140-220 ms). A call that found it missing waits its turn and loads it only if no other call has
/// since. Shared by a store and the connections made from it.
#[derive(Default)]
struct LibraryLoads {
    /// How many loads this process has made.
    done: AtomicU64,
    turn: tokio::sync::Mutex<()>,
}

#[derive(Clone)]
pub struct Store {
    backend: Backend,
    library_loads: Arc<LibraryLoads>,
    /// Where call latencies and failures are counted, when the process exposes metrics.
    metrics: Option<Arc<Metrics>>,
    /// A [`Store::dedicated`] connection for blocking reads, whose latency says nothing.
    blocking: bool,
    /// Bound on one call (`redis.timeout_ms`).
    timeout: Duration,
    acks: ReplicaAcks,
    settings: Arc<RedisSettings>,
}

impl Store {
    /// Creates the connection lazily: the process starts (and reports not-ready) even when Redis
    /// is down, and connects as soon as it answers.
    pub fn connect(settings: &RedisSettings) -> anyhow::Result<Self> {
        Self::with_response_timeout(settings, settings.timeout())
    }

    fn with_response_timeout(settings: &RedisSettings, timeout: Duration) -> anyhow::Result<Self> {
        let acks = ReplicaAcks {
            replicas: settings.min_replicas_acked,
            timeout: settings.replica_ack_timeout(),
        };
        // A WAIT may take the replica timeout on top of the ordinary one.
        let response = timeout + acks.timeout;
        let backend = if settings.is_cluster() {
            let nodes: Vec<&str> = settings
                .cluster_nodes
                .iter()
                .map(|n| n.expose_secret())
                .collect();
            let client = redis::cluster::ClusterClient::builder(nodes)
                .connection_timeout(settings.timeout())
                .response_timeout(response)
                .retries(3)
                .min_retry_wait(20)
                .max_retry_wait(200)
                .build()
                .map_err(|e| {
                    anyhow::anyhow!(
                        "redis.cluster_nodes are not valid Redis URLs: {:?}",
                        e.kind()
                    )
                })?;
            Backend::Cluster(Arc::new(ClusterBackend {
                client,
                current: std::sync::RwLock::new(None),
                making: tokio::sync::Mutex::new(()),
                generations: Default::default(),
                last_renewal: std::sync::Mutex::new(None),
            }))
        } else {
            let client = redis::Client::open(settings.url.expose_secret()).map_err(|e| {
                anyhow::anyhow!("redis.url is not a valid Redis URL: {:?}", e.kind())
            })?;
            let config = ConnectionManagerConfig::new()
                .set_connection_timeout(Some(settings.timeout()))
                .set_response_timeout(Some(response))
                .set_number_of_retries(2)
                .set_max_delay(Duration::from_millis(500));
            Backend::Single(ConnectionManager::new_lazy_with_config(client, config)?)
        };
        Ok(Self {
            backend,
            library_loads: Arc::default(),
            metrics: None,
            blocking: false,
            timeout,
            acks,
            settings: Arc::new(settings.clone()),
        })
    }

    /// The same store, counting its calls' latencies and failures in `metrics`.
    pub fn with_metrics(mut self, metrics: Arc<Metrics>) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// The same Redis over a connection of its own, counted in the same metrics. A single node's
    /// connection is driven on the runtime of the thread that calls this (a cluster's, of the
    /// thread of its first call): see `AppState::on_own_connection`.
    pub fn reconnected(&self) -> anyhow::Result<Self> {
        self.own_connection(self.timeout, self.blocking)
    }

    /// A connection of its own, for commands that block for up to `block` (stream reads).
    pub fn dedicated(&self, block: Duration) -> anyhow::Result<Self> {
        self.own_connection(block + self.settings.timeout(), true)
    }

    /// A connection of its own to the same Redis, answering within `timeout`, with these metrics.
    fn own_connection(&self, timeout: Duration, blocking: bool) -> anyhow::Result<Self> {
        let mut store = Self::with_response_timeout(&self.settings, timeout)?;
        store.library_loads = self.library_loads.clone();
        store.metrics = self.metrics.clone();
        store.blocking = blocking;
        Ok(store)
    }

    /// Counts one call named `op` that started at `started`.
    fn observe<T>(&self, op: &'static str, started: Instant, result: &Result<T, StoreError>) {
        let Some(metrics) = &self.metrics else {
            return;
        };
        let failure = result.as_ref().err().map(|e| match e {
            StoreError::Unavailable(_) => RedisFailure::Unavailable,
            StoreError::Unexpected(_) => RedisFailure::Unexpected,
        });
        if self.blocking && failure.is_none() {
            return;
        }
        metrics.redis_call(op, started.elapsed(), failure);
    }

    /// The connection (and, on a cluster, its generation), made first when it is a cluster's
    /// that is not made yet.
    async fn connection(&self) -> Result<(Connection, u64), StoreError> {
        match &self.backend {
            Backend::Single(manager) => Ok((Connection::Single(manager.clone()), 0)),
            Backend::Cluster(cluster) => {
                match tokio::time::timeout(self.timeout, cluster.connection()).await {
                    Ok(Ok((generation, conn))) => Ok((Connection::Cluster(conn), generation)),
                    Ok(Err(e)) => Err(StoreError::Unavailable(Cause::Redis(e))),
                    Err(_) => Err(StoreError::Unavailable(Cause::Timeout(
                        self.timeout.as_millis(),
                    ))),
                }
            }
        }
    }

    /// After a failed call on a cluster connection: when the failure may mean the topology
    /// moved, the connection is renewed (see [`ClusterBackend`]).
    fn after_failure(&self, generation: u64, error: &StoreError) {
        if let (Backend::Cluster(cluster), StoreError::Unavailable(_)) = (&self.backend, error) {
            cluster.renew(generation);
        }
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
        let started = Instant::now();
        let result = async {
            let (mut conn, generation) = self.connection().await?;
            let result = self.bounded(cmd.query_async(&mut conn)).await;
            if let Err(e) = &result {
                self.after_failure(generation, e);
            }
            result
        }
        .await;
        self.observe("command", started, &result);
        result
    }

    /// Several commands in one round trip (on a cluster, commands of one slot).
    pub async fn pipeline<T: FromRedisValue>(
        &self,
        pipe: &redis::Pipeline,
    ) -> Result<T, StoreError> {
        let started = Instant::now();
        let result = async {
            let (mut conn, generation) = self.connection().await?;
            let result = self.bounded(pipe.query_async(&mut conn)).await;
            if let Err(e) = &result {
                self.after_failure(generation, e);
            }
            result
        }
        .await;
        self.observe("pipeline", started, &result);
        result
    }

    /// Waits until `redis.min_replicas_acked` replicas of `keys`' node have every write sent
    /// before on this connection: `WAIT` on the master of the program's slot. Too few in time
    /// is "unavailable" (the write may have happened; a retry of it is idempotent).
    async fn replicated(
        &self,
        conn: &mut Connection,
        keys: &ProgramKeys,
    ) -> Result<(), StoreError> {
        let ReplicaAcks { replicas, timeout } = self.acks;
        if replicas == 0 {
            return Ok(());
        }
        let mut wait = redis::cmd("WAIT");
        wait.arg(replicas).arg(timeout.as_millis() as u64);
        let acked = async {
            match conn {
                Connection::Single(c) => wait.query_async::<i64>(c).await,
                Connection::Cluster(c) => {
                    let route = Route::with_key(keys.base(), SlotAddr::Master);
                    let routing =
                        RoutingInfo::SingleNode(SingleNodeRoutingInfo::SpecificNode(route));
                    let value = c.route_command(wait, routing).await?;
                    i64::from_redis_value(value).map_err(redis::RedisError::from)
                }
            }
        };
        let acked = match tokio::time::timeout(self.timeout + timeout, acked).await {
            Ok(result) => result.map_err(StoreError::from)?,
            Err(_) => return Err(StoreError::Unavailable(Cause::Timeout(timeout.as_millis()))),
        };
        if acked < i64::from(replicas) {
            return Err(StoreError::Unavailable(Cause::Replication {
                acked,
                wanted: replicas,
            }));
        }
        Ok(())
    }

    /// A typed script call on `keys`' program at `now`: the call becomes the script's named
    /// arguments, its JSON answer the typed reply.
    pub async fn call<S: ScriptCall>(
        &self,
        keys: &ProgramKeys,
        now: DateTime<Utc>,
        call: &S,
    ) -> Result<S::Reply, StoreError> {
        let started = Instant::now();
        let result = self.call_unobserved(keys, now, call).await;
        self.observe(S::NAME, started, &result);
        result
    }

    async fn call_unobserved<S: ScriptCall>(
        &self,
        keys: &ProgramKeys,
        now: DateTime<Utc>,
        call: &S,
    ) -> Result<S::Reply, StoreError> {
        let args = S::ENCODING.encode(call);
        let library = Library::get();
        let function = library
            .function(call.function())
            .ok_or(StoreError::Unexpected(Cause::NotInLibrary(S::NAME)))?;
        let mut fcall = redis::cmd("FCALL");
        fcall
            .arg(function)
            .arg(1)
            .arg(keys.base())
            .arg(now.timestamp_millis())
            .arg(rfc3339(now))
            .arg(args);
        if let Some(rules) = call.rules() {
            fcall.arg(rules);
        }
        let (mut conn, generation) = self.connection().await?;
        let answered = async {
            let loads_before = self.library_loads.done.load(Ordering::Acquire);
            let answer: String = match self.bounded(fcall.query_async(&mut conn)).await {
                Err(e) if is_function_missing(&e) => {
                    self.load_library(&mut conn, library, loads_before).await?;
                    self.bounded(fcall.query_async(&mut conn)).await?
                }
                answer => answer?,
            };
            if S::ACKNOWLEDGED {
                self.replicated(&mut conn, keys).await?;
            }
            Ok(answer)
        };
        let answer = match answered.await {
            Ok(answer) => answer,
            Err(e) => {
                self.after_failure(generation, &e);
                return Err(e);
            }
        };
        serde_json::from_str(&answer).map_err(|source| {
            StoreError::Unexpected(Cause::Reply {
                script: S::NAME,
                source,
            })
        })
    }

    /// Loads this build's library (on a cluster, on every master; replicas get it from their
    /// master), unless another call of this process has loaded it since `loads_before` (see
    /// [`LibraryLoads`]). Another process may be loading it at the same moment: `REPLACE`
    /// makes the second load a harmless repeat of the first rather than an error.
    async fn load_library(
        &self,
        conn: &mut Connection,
        library: &Library,
        loads_before: u64,
    ) -> Result<(), StoreError> {
        let _turn = self.library_loads.turn.lock().await;
        if self.library_loads.done.load(Ordering::Acquire) != loads_before {
            return Ok(());
        }
        let mut load = redis::cmd("FUNCTION");
        load.arg("LOAD").arg("REPLACE").arg(&library.source);
        let _: redis::Value = self.bounded(load.query_async(conn)).await?;
        self.library_loads.done.fetch_add(1, Ordering::Release);
        tracing::info!("loaded the scripts' library into Redis");
        Ok(())
    }

    /// Up to `count` new entries of `stream` for `consumer` of `group`, waiting up to `block`
    /// when given (on a [`Store::dedicated`] connection). Entries a consumer never acknowledges
    /// are left to [`Store::reclaim`]. The outbox and the event queues both read this way.
    pub async fn read_group(
        &self,
        stream: &str,
        group: &str,
        consumer: &str,
        count: usize,
        block: Option<Duration>,
    ) -> Result<Vec<redis::streams::StreamId>, StoreError> {
        let mut cmd = redis::cmd("XREADGROUP");
        cmd.arg("GROUP")
            .arg(group)
            .arg(consumer)
            .arg("COUNT")
            .arg(count);
        if let Some(block) = block {
            cmd.arg("BLOCK").arg(block.as_millis() as u64);
        }
        cmd.arg("STREAMS").arg(stream).arg(">");
        let reply: Option<redis::streams::StreamReadReply> = self.command(&cmd).await?;
        Ok(reply
            .into_iter()
            .flat_map(|r| r.keys)
            .flat_map(|k| k.ids)
            .collect())
    }

    /// The first `count` entries of `stream`, oldest first (dead letters are read this way).
    pub async fn oldest(
        &self,
        stream: &str,
        count: usize,
    ) -> Result<Vec<redis::streams::StreamId>, StoreError> {
        let reply: redis::streams::StreamRangeReply = self
            .command(
                redis::cmd("XRANGE")
                    .arg(stream)
                    .arg("-")
                    .arg("+")
                    .arg("COUNT")
                    .arg(count),
            )
            .await?;
        Ok(reply.ids)
    }

    /// Entries of `stream` another consumer of `group` took more than `min_idle` ago and never
    /// acknowledged (a crashed worker's), now `consumer`'s.
    pub async fn reclaim(
        &self,
        stream: &str,
        group: &str,
        consumer: &str,
        min_idle: Duration,
    ) -> Result<Vec<redis::streams::StreamId>, StoreError> {
        let reply: redis::streams::StreamAutoClaimReply = self
            .command(
                redis::cmd("XAUTOCLAIM")
                    .arg(stream)
                    .arg(group)
                    .arg(consumer)
                    .arg(min_idle.as_millis() as u64)
                    .arg("0-0")
                    .arg("COUNT")
                    .arg(100),
            )
            .await?;
        Ok(reply.claimed)
    }

    pub async fn ping(&self) -> Result<(), StoreError> {
        self.command::<String>(&redis::cmd("PING"))
            .await
            .map(|_| ())
    }
}
