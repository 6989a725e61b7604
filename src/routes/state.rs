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
    pub fn program(&self, id: &ProgramId) -> Option<Arc<Program>> {
        self.programs.get(id)
    }
}
