//! The tests' Redis Clusters (see `loyalty_gateway::embedded::cluster`): one shared by the
//! tests of this process, or one of a test's own for the tests that kill nodes. Nodes die with
//! the thread that started them, so each cluster gets a thread that outlives its use.

use std::sync::OnceLock;

pub use loyalty_gateway::embedded::cluster::{LocalCluster, NODE_TIMEOUT_MS};

/// Keeps the thread that started a cluster or a node alive (its processes die with that
/// thread); dropping it lets the thread end.
pub struct KeepAlive(Option<std::sync::mpsc::Sender<()>>);

impl Drop for KeepAlive {
    fn drop(&mut self) {
        drop(self.0.take());
    }
}

/// Runs `start` on a thread of its own that lives until the returned KeepAlive is dropped.
async fn on_own_thread<T: Send + 'static>(
    start: impl FnOnce() -> T + Send + 'static,
) -> (T, KeepAlive) {
    let (value_tx, value_rx) = tokio::sync::oneshot::channel();
    let (keep_tx, keep_rx) = std::sync::mpsc::channel::<()>();
    std::thread::spawn(move || {
        let _ = value_tx.send(start());
        let _ = keep_rx.recv();
    });
    (value_rx.await.expect("started"), KeepAlive(Some(keep_tx)))
}

/// A cluster of the caller's own (for tests that kill nodes), without blocking its runtime.
pub async fn start_owned() -> (LocalCluster, tempfile::TempDir, KeepAlive) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_owned();
    let (cluster, keep) = on_own_thread(move || LocalCluster::start(&path)).await;
    (cluster, dir, keep)
}

/// Starts the killed node `index` again with its data, as a supervisor restarts a crashed
/// process: it rejoins the cluster (a master that was failed over comes back as a replica).
pub async fn restart(cluster: &mut LocalCluster, index: usize) -> KeepAlive {
    let mut node = cluster.take_node(index);
    let (restarted, keep) = on_own_thread(move || {
        let result = node.restart().map_err(|e| e.to_string());
        // The node lives as long as this thread: keep it here.
        std::mem::forget(node);
        result
    })
    .await;
    restarted.expect("the node restarted");
    keep
}

/// The test process's shared cluster, started once on a thread that lives as long as the
/// process (its nodes die with it).
pub fn shared_cluster() -> &'static LocalCluster {
    static CLUSTER: OnceLock<&'static LocalCluster> = OnceLock::new();
    CLUSTER.get_or_init(|| {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let dir: &'static tempfile::TempDir = Box::leak(Box::new(tempfile::tempdir().unwrap()));
            let cluster: &'static LocalCluster =
                Box::leak(Box::new(LocalCluster::start(dir.path())));
            tx.send(cluster).unwrap();
            loop {
                std::thread::park();
            }
        });
        rx.recv().unwrap()
    })
}
