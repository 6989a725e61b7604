//! The workers: one loop per program in every `serve` process, reading the outbox through the
//! consumer group, reclaiming the entries of crashed workers, promoting due retries, and
//! stopping after the batch in hand when shutdown is signalled.

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use secrecy::ExposeSecret;
use tokio_util::sync::CancellationToken;

use super::Sender;
use crate::configuration::{Program, Settings};
use crate::startup::AppState;

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
