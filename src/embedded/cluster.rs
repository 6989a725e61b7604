//! A real Redis Cluster on this machine, for the tests and the benchmark: three masters with
//! one replica each (six `redis-server` processes), joined by `redis-cli --cluster create`,
//! with a short `cluster-node-timeout` so a failover takes a second or two. Its nodes are
//! [`RedisServer`]s: they die with the thread that starts them.

use std::net::TcpListener;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use super::RedisServer;

/// Milliseconds before a silent master is failed over.
pub const NODE_TIMEOUT_MS: u64 = 1000;

pub struct LocalCluster {
    /// `None` for a node taken out ([`LocalCluster::take_node`]).
    pub nodes: Vec<Option<RedisServer>>,
    pub ports: Vec<u16>,
}

fn redis(port: u16) -> redis::Connection {
    redis::Client::open(format!("redis://127.0.0.1:{port}/"))
        .unwrap()
        .get_connection_with_timeout(Duration::from_secs(2))
        .unwrap()
}

/// A port for a cluster node: free, and so is its cluster bus port, port + 10,000, which must
/// be a port at all (an ephemeral port above 55,535 has none). Another process may still take
/// either before the node binds them: `LocalCluster::start` tries again on another.
fn free_node_port() -> std::io::Result<u16> {
    loop {
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        if port <= u16::MAX - 10_000 && TcpListener::bind(("127.0.0.1", port + 10_000)).is_ok() {
            return Ok(port);
        }
    }
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
    pub fn start(dir: &Path) -> Self {
        let mut nodes = Vec::new();
        let mut ports = Vec::new();
        for i in 0..6 {
            let node_dir = dir.join(format!("node{i}"));
            let start = |port: u16| {
                // Append-only persistence (fsync every second), as a cluster should run: a
                // master that restarts without its data would hand its replica an empty data set.
                RedisServer::start_with(
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
                    ],
                )
            };
            // A port taken between its choice and the node's start: another port, twice more.
            let mut attempt = 0;
            let (port, node) = loop {
                let port = free_node_port().unwrap();
                match start(port) {
                    Ok(node) => break (port, node),
                    Err(e) if attempt == 2 => panic!("cluster node {i}: {e:?}"),
                    Err(_) => {
                        // Nothing of a node that did not start is kept (its nodes.conf).
                        let _ = std::fs::remove_dir_all(&node_dir);
                        attempt += 1;
                    }
                }
            };
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
        let cluster = Self { nodes, ports };
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

    /// Kills node `index` outright (SIGKILL), as a crash would.
    pub fn kill(&mut self, index: usize) {
        self.nodes[index].as_mut().expect("a node of ours").kill();
    }

    /// Takes node `index` out, to restart it on another thread.
    pub fn take_node(&mut self, index: usize) -> RedisServer {
        self.nodes[index].take().expect("a node of ours")
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
