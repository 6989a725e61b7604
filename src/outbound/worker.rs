//! The workers: one loop per program in every `serve` process, reading the outbox through the
//! consumer group, reclaiming the entries of crashed workers, promoting due retries, and
//! stopping after the batch in hand when shutdown is signalled.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::{Outbox, Sender};
use crate::domain::{Program, Programs};
use crate::store::Store;

/// How long one blocking read of the stream waits for new entries.
const READ_BLOCK: Duration = Duration::from_secs(1);

/// What the workers need: the outbox, the sender, the programs, and how they run.
pub struct Workers {
    pub store: Store,
    pub outbox: Outbox,
    pub sender: Arc<Sender>,
    pub programs: Arc<Programs>,
    /// Unacknowledged entries of another consumer are taken over after this long.
    pub visibility_timeout: Duration,
    pub max_in_flight: usize,
}

/// Processes everything the outbox of `program` holds right now (due retries included), without
/// blocking: the tests' way to deliver synchronously. Returns how many entries it handled.
pub async fn drain(
    store: &Store,
    outbox: &Outbox,
    sender: &Sender,
    program: &Program,
) -> anyhow::Result<usize> {
    outbox.ensure_group(program).await?;
    outbox.promote_due(program).await?;
    let mut handled = 0;
    loop {
        let batch = outbox.read_new(store, program, "drain", 100, None).await?;
        if batch.is_empty() {
            return Ok(handled);
        }
        // One at a time, so that tests see the texts arrive in the order they were queued.
        sender.process(program, &batch, 1).await?;
        handled += batch.len();
    }
}

impl Workers {
    /// Runs one sender loop per program until `shutdown`.
    pub async fn run(self, shutdown: CancellationToken) {
        let workers = Arc::new(self);
        let consumer = format!("{}-{}", hostname(), std::process::id());
        let loops = workers.programs.iter().cloned().map(|program| {
            let workers = workers.clone();
            let shutdown = shutdown.clone();
            let consumer = consumer.clone();
            async move { workers.program_loop(&program, &consumer, shutdown).await }
        });
        futures_util::future::join_all(loops).await;
    }

    async fn program_loop(&self, program: &Program, consumer: &str, shutdown: CancellationToken) {
        let blocking = match self.store.dedicated(READ_BLOCK) {
            Ok(store) => store,
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
                    self.outbox.ensure_group(program).await?;
                    self.outbox.promote_due(program).await?;
                    self.outbox
                        .reclaim(program, consumer, self.visibility_timeout)
                        .await
                };
                match maintenance.await {
                    Ok(reclaimed) => batch.extend(reclaimed),
                    Err(e) => {
                        tracing::warn!(error = %crate::telemetry::Chain(&e), "outbox maintenance failed");
                    }
                }
            }
            let read = tokio::select! {
                _ = shutdown.cancelled() => break,
                read = self.outbox.read_new(&blocking, program, consumer, self.max_in_flight, Some(READ_BLOCK)) => read,
            };
            match read {
                Ok(entries) => {
                    backoff = Duration::from_millis(100);
                    batch.extend(entries);
                }
                Err(e) => {
                    tracing::warn!(error = %crate::telemetry::Chain(&e), "outbox read failed; retrying");
                    tokio::select! {
                        _ = shutdown.cancelled() => break,
                        _ = tokio::time::sleep(backoff) => {}
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                    continue;
                }
            }
            // Finish what is in hand even when shutdown arrives meanwhile.
            for chunk in batch.chunks(self.max_in_flight) {
                if let Err(e) = self
                    .sender
                    .process(program, chunk, self.max_in_flight)
                    .await
                {
                    // Unacknowledged: another worker reclaims them after the visibility timeout.
                    tracing::warn!(error = %crate::telemetry::Chain(&e), texts = chunk.len(), "sends not recorded; will be reclaimed");
                }
            }
        }
    }
}

fn hostname() -> String {
    std::env::var("HOSTNAME").unwrap_or_else(|_| "gateway".into())
}
