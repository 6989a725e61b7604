//! A real Redis Cluster on this machine: three masters with one replica each (six
//! `redis-server` processes), made with `redis-cli --cluster create`, with a short
//! `cluster-node-timeout` so a failover takes a second or two.

use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use loyalty_gateway::embedded::{free_port, RedisServer};

/// Milliseconds before a silent master is failed over.
pub const NODE_TIMEOUT_MS: u64 = 1000;

pub struct LocalCluster {
    /// `None` for a node handed to a thread of its own ([`LocalCluster::restart`]).
    pub nodes: Vec<Option<RedisServer>>,
    pub ports: Vec<u16>,
    _dir: tempfile::TempDir,
}

fn redis(port: u16) -> redis::Connection {
    redis::Client::open(format!("redis://127.0.0.1:{port}/"))
        .unwrap()
        .get_connection_with_timeout(Duration::from_secs(2))
        .unwrap()
}

/// Polls `check` every 20 ms until it holds, for at most `limit` (then panics with `what`).
fn poll(what: &str, limit: Duration, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

impl LocalCluster {
    /// Starts six nodes and joins them: the first three are masters (slots 0-5460, 5461-10922,
    /// 10923-16383), each of the others a replica of one of them. Blocks until every node says
    /// the cluster is ok and every replica is in sync. Call from a plain thread.
    pub fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut nodes = Vec::new();
        let mut ports = Vec::new();
        for i in 0..6 {
            let port = free_port().unwrap();
            let node_dir = dir.path().join(format!("node{i}"));
            let node = RedisServer::start_with(
                port,
                &node_dir,
                true,
                &[
                    "--cluster-enabled",
                    "yes",
                    "--cluster-config-file",
                    "nodes.conf",
                    "--cluster-node-timeout",
                    &NODE_TIMEOUT_MS.to_string(),
                    // A replica may take over however long it was cut off.
                    "--cluster-replica-validity-factor",
                    "0",
                    "--appendfsync",
                    "always",
                ],
            )
            .unwrap();
            nodes.push(Some(node));
            ports.push(port);
        }
        let output = Command::new("redis-cli")
            .arg("--cluster")
            .arg("create")
            .args(ports.iter().map(|p| format!("127.0.0.1:{p}")))
            .args(["--cluster-replicas", "1", "--cluster-yes"])
            .output()
            .expect("redis-cli is installed with redis-server");
        assert!(
            output.status.success(),
            "redis-cli --cluster create failed: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        let cluster = Self {
            nodes,
            ports,
            _dir: dir,
        };
        cluster.wait_until_healthy(Duration::from_secs(30));
        cluster
    }

    /// Every live node reports `cluster_state:ok`, and every replica's link to its master is up.
    pub fn wait_until_healthy(&self, limit: Duration) {
        for &port in &self.live_ports() {
            poll("cluster_state:ok", limit, || {
                let info: String = redis::cmd("CLUSTER")
                    .arg("INFO")
                    .query(&mut redis(port))
                    .unwrap_or_default();
                info.contains("cluster_state:ok")
            });
            poll("replicas in sync", limit, || {
                let info: String = redis::cmd("INFO")
                    .arg("replication")
                    .query(&mut redis(port))
                    .unwrap_or_default();
                info.contains("role:master") || info.contains("master_link_status:up")
            });
        }
    }

    fn live_ports(&self) -> Vec<u16> {
        self.ports
            .iter()
            .zip(&self.nodes)
            .filter(|(_, node)| node.as_ref().is_some_and(RedisServer::is_running))
            .map(|(port, _)| *port)
            .collect()
    }

    /// `redis://` URLs of every node, for `redis.cluster_nodes`.
    pub fn urls(&self) -> Vec<String> {
        self.ports
            .iter()
            .map(|p| format!("redis://127.0.0.1:{p}"))
            .collect()
    }

    /// The index of the node that is master of `key`'s slot now.
    pub fn master_of(&self, key: &str) -> usize {
        let port = self.live_ports()[0];
        let slot: u16 = redis::cmd("CLUSTER")
            .arg("KEYSLOT")
            .arg(key)
            .query(&mut redis(port))
            .unwrap();
        let shards: Vec<redis::Value> = redis::cmd("CLUSTER")
            .arg("SLOTS")
            .query(&mut redis(port))
            .unwrap();
        for shard in shards {
            let redis::Value::Array(fields) = shard else {
                continue;
            };
            let start: u16 = redis::from_redis_value_ref(&fields[0]).unwrap();
            let end: u16 = redis::from_redis_value_ref(&fields[1]).unwrap();
            if (start..=end).contains(&slot) {
                let redis::Value::Array(master) = &fields[2] else {
                    panic!("CLUSTER SLOTS: no master for {start}-{end}");
                };
                let master_port: u16 = redis::from_redis_value_ref(&master[1]).unwrap();
                return self.ports.iter().position(|p| *p == master_port).unwrap();
            }
        }
        panic!("no master owns slot {slot}");
    }

    /// The master nodes' ports now.
    pub fn master_ports(&self) -> Vec<u16> {
        self.live_ports()
            .into_iter()
            .filter(|port| {
                let info: String = redis::cmd("INFO")
                    .arg("replication")
                    .query(&mut redis(*port))
                    .unwrap_or_default();
                info.contains("role:master")
            })
            .collect()
    }

    /// Every key under `prefix` on every master.
    pub fn keys(&self, prefix: &str) -> Vec<String> {
        let mut keys = Vec::new();
        for port in self.master_ports() {
            let found: Vec<String> = redis::cmd("KEYS")
                .arg(format!("{prefix}:*"))
                .query(&mut redis(port))
                .unwrap();
            keys.extend(found);
        }
        keys
    }

    pub fn keyslot(&self, key: &str) -> u16 {
        redis::cmd("CLUSTER")
            .arg("KEYSLOT")
            .arg(key)
            .query(&mut redis(self.live_ports()[0]))
            .unwrap()
    }
}

/// Keeps the thread that started a [`LocalCluster`] alive (its nodes die with that thread);
/// dropping it lets the thread end.
pub struct KeepAlive(Option<std::sync::mpsc::Sender<()>>);

impl Drop for KeepAlive {
    fn drop(&mut self) {
        drop(self.0.take());
    }
}

impl LocalCluster {
    /// Kills node `index` outright (SIGKILL).
    pub fn kill(&mut self, index: usize) {
        self.nodes[index].as_mut().expect("a node of ours").kill();
    }

    /// Starts the killed node `index` again with its data, as a supervisor restarts a crashed
    /// process: it rejoins the cluster (a master that was failed over comes back as a replica).
    /// It runs on a thread of its own (its process dies with that thread) until the KeepAlive
    /// is dropped.
    pub async fn restart(&mut self, index: usize) -> KeepAlive {
        let mut node = self.nodes[index].take().expect("a node of ours");
        let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
        let (keep_tx, keep_rx) = std::sync::mpsc::channel::<()>();
        std::thread::spawn(move || {
            let _ = ready_tx.send(node.restart().map_err(|e| e.to_string()));
            let _ = keep_rx.recv();
            drop(node);
        });
        ready_rx.await.unwrap().expect("the node restarted");
        KeepAlive(Some(keep_tx))
    }

    /// Starts a cluster of the caller's own (for tests that kill nodes), on a thread of its own,
    /// without blocking the caller's runtime.
    pub async fn start_owned() -> (Self, KeepAlive) {
        let (cluster_tx, cluster_rx) = tokio::sync::oneshot::channel();
        let (keep_tx, keep_rx) = std::sync::mpsc::channel::<()>();
        std::thread::spawn(move || {
            let _ = cluster_tx.send(LocalCluster::start());
            // Until the KeepAlive is dropped (the sender closes).
            let _ = keep_rx.recv();
        });
        let cluster = cluster_rx.await.expect("the cluster started");
        (cluster, KeepAlive(Some(keep_tx)))
    }
}

/// The test process's shared cluster, started once on a thread that lives as long as the
/// process (its nodes die with it). Tests that kill nodes start their own.
pub fn shared_cluster() -> &'static LocalCluster {
    static CLUSTER: OnceLock<&'static LocalCluster> = OnceLock::new();
    CLUSTER.get_or_init(|| {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let cluster: &'static LocalCluster = Box::leak(Box::new(LocalCluster::start()));
            tx.send(cluster).unwrap();
            loop {
                std::thread::park();
            }
        });
        rx.recv().unwrap()
    })
}
