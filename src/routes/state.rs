//! What the HTTP handlers share. Only the HTTP layer sees it: the ledger, the keyword engine
//! and the outbound side are built with their own dependencies (see `startup`).

use std::sync::Arc;

use crate::campaigns::Campaigns;
use crate::clock::Clock;
use crate::commands::Engine;
use crate::configuration::Settings;
use crate::domain::{Program, ProgramId, Programs};
use crate::events::Events;
use crate::ledger::Ledger;
use crate::metrics::Metrics;
use crate::outbound::Outbox;
use crate::store::Store;
use crate::templates::Templates;

#[derive(Clone)]
pub struct AppState {
    pub settings: Arc<Settings>,
    pub campaigns: Arc<Campaigns>,
    pub store: Store,
    pub ledger: Ledger,
    pub outbox: Outbox,
    pub events: Arc<Events>,
    pub inbound: Arc<Engine>,
    pub programs: Arc<Programs>,
    pub templates: Arc<Templates>,
    pub metrics: Arc<Metrics>,
    pub clock: Clock,
    /// Enables `/webhooks/telnyx` when set.
    pub telnyx_key: Option<ed25519_dalek::VerifyingKey>,
}

impl AppState {
    /// The same services on a Redis connection of their own, driven on the calling thread's
    /// runtime: each HTTP worker makes its own (`startup::run`). On the one connection of the
    /// process, driven by the main runtime, every call from a handler crossed to another thread
    /// and back: two thread wake-ups per request, about a tenth of the gateway's CPU per earn and
    /// of an idle request's latency. Falls back to the shared connection if one cannot be made.
    pub fn on_own_connection(&self) -> Self {
        let store = match self.store.reconnected() {
            Ok(store) => store,
            Err(error) => {
                tracing::warn!(%error, "an HTTP worker shares the process's Redis connection");
                return self.clone();
            }
        };
        Self {
            campaigns: Arc::new(self.campaigns.with_store(store.clone())),
            ledger: self.ledger.with_store(store.clone()),
            outbox: self.outbox.with_store(store.clone()),
            events: Arc::new(self.events.with_store(store.clone())),
            inbound: Arc::new(self.inbound.with_store(store.clone())),
            store,
            ..self.clone()
        }
    }

    pub fn program(&self, id: &ProgramId) -> Option<Arc<Program>> {
        self.programs.get(id)
    }
}
