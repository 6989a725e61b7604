//! Building and running the application: HTTP API plus background workers, started and stopped
//! together.

use std::collections::HashMap;
use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::Server;
use actix_web::{web, App, HttpResponse, HttpServer};
use anyhow::Context;
use tokio_util::sync::CancellationToken;
use tracing_actix_web::TracingLogger;

use crate::clock::Clock;
use crate::configuration::{Program, Settings};
use crate::domain::{PhoneNumber, ProgramId};
use crate::error::{ApiError, ErrorKind};
use crate::extract::BodyLimit;
use crate::inbound::signature::telnyx_public_key;
use crate::ledger::Ledger;
use crate::metrics::Metrics;
use crate::outbound::{self, Outbox};
use crate::routes;
use crate::store::Store;
use crate::telemetry::MaskedRootSpan;
use crate::templates::Templates;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use std::num::NonZeroU32;

/// What every handler and worker shares.
pub struct AppState {
    pub settings: Arc<Settings>,
    pub store: Store,
    pub ledger: Ledger,
    pub outbox: Outbox,
    pub templates: Arc<Templates>,
    pub metrics: Arc<Metrics>,
    /// Enables `/webhooks/telnyx` when set.
    pub telnyx_key: Option<ed25519_dalek::VerifyingKey>,
    programs: HashMap<ProgramId, Arc<Program>>,
    /// Which program owns each of our numbers.
    numbers: HashMap<PhoneNumber, ProgramId>,
    /// Inbound texts per (program, phone), so a flood or an auto-responder loop cannot make the
    /// gateway work (and reply) without end.
    inbound_limiter: DefaultKeyedRateLimiter<(ProgramId, PhoneNumber)>,
}

impl AppState {
    pub fn new(settings: Settings, clock: Clock) -> anyhow::Result<Self> {
        let store = Store::connect(&settings.redis)?;
        let templates =
            Templates::load(settings.templates.dir.as_deref()).context("cannot load templates")?;
        let ledger = Ledger::new(
            store.clone(),
            &settings.redis.key_prefix,
            clock.clone(),
            &settings.ledger,
        );
        let outbox = Outbox::new(store.clone(), &settings.redis.key_prefix, clock);
        let programs = settings
            .programs
            .iter()
            .map(|p| (p.id.clone(), Arc::new(p.clone())))
            .collect();
        let numbers = settings
            .programs
            .iter()
            .flat_map(|p| p.numbers.iter().map(|n| (n.clone(), p.id.clone())))
            .collect();
        let per_minute =
            NonZeroU32::new(settings.sms.inbound_per_minute).unwrap_or(NonZeroU32::MIN);
        let inbound_limiter = RateLimiter::keyed(Quota::per_minute(per_minute));
        let telnyx_key = Some(settings.sms.telnyx.public_key.trim())
            .filter(|k| !k.is_empty())
            .and_then(telnyx_public_key);
        Ok(Self {
            settings: Arc::new(settings),
            store,
            ledger,
            outbox,
            templates: Arc::new(templates),
            metrics: Arc::new(Metrics::default()),
            telnyx_key,
            programs,
            numbers,
            inbound_limiter,
        })
    }

    /// The program that owns `number` (the `To` of an inbound text).
    pub fn program_for_number(&self, number: &PhoneNumber) -> Option<Arc<Program>> {
        self.numbers.get(number).and_then(|id| self.program(id))
    }

    /// Texts from our own numbers are never answered (two gateways would talk forever).
    pub fn is_own_number(&self, number: &PhoneNumber) -> bool {
        self.numbers.contains_key(number)
    }

    /// Drops the rate-limit state of phones that have been quiet for a full period, so the
    /// limiter's memory follows current traffic rather than every number ever seen.
    pub fn forget_idle_inbound_limits(&self) {
        self.inbound_limiter.retain_recent();
        self.inbound_limiter.shrink_to_fit();
    }

    /// How many phones the inbound limiter is tracking.
    pub fn inbound_limits_tracked(&self) -> usize {
        self.inbound_limiter.len()
    }

    /// Counts an inbound text against the sender's per-minute allowance.
    pub fn inbound_allowed(&self, program: &Program, from: &PhoneNumber) -> bool {
        self.inbound_limiter
            .check_key(&(program.id.clone(), from.clone()))
            .is_ok()
    }

    pub fn program(&self, id: &ProgramId) -> Option<Arc<Program>> {
        self.programs.get(id).cloned()
    }

    pub fn programs(&self) -> impl Iterator<Item = &Arc<Program>> {
        self.programs.values()
    }
}

pub struct Application {
    port: u16,
    server: Server,
    state: web::Data<AppState>,
    shutdown: CancellationToken,
    workers: bool,
    signals: bool,
    shutdown_timeout: Duration,
}

impl Application {
    /// Binds `server.bind` (port 0 picks a free port) and prepares the workers.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        Self::build_with_clock(settings, Clock::default()).await
    }

    pub async fn build_with_clock(settings: Settings, clock: Clock) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(&settings.server.bind).map_err(|e| {
            let hint = match e.kind() {
                std::io::ErrorKind::AddrInUse => {
                    "; another process uses it: set server.bind (LOYALTY__SERVER__BIND) to a free \
                     address, or port 0 for any free port"
                }
                _ => "; set server.bind (LOYALTY__SERVER__BIND) to an address of this machine",
            };
            anyhow::anyhow!("cannot listen on {}: {e}{hint}", settings.server.bind)
        })?;
        let port = listener.local_addr()?.port();
        let shutdown_timeout = settings.server.shutdown_timeout_secs;
        let body_limit = settings.server.body_limit;
        let state = web::Data::new(AppState::new(settings, clock)?);
        let server = run(listener, state.clone(), body_limit, shutdown_timeout)?;
        Ok(Self {
            port,
            server,
            state,
            shutdown: CancellationToken::new(),
            workers: true,
            signals: false,
            shutdown_timeout: Duration::from_secs(shutdown_timeout),
        })
    }

    /// Serve the API only; tests drive the outbox themselves.
    pub fn without_workers(mut self) -> Self {
        self.workers = false;
        self
    }

    /// Stop on SIGTERM or SIGINT (Ctrl-C) alike: finish in-flight requests, then the sends in
    /// hand. A second signal stops at once. Off by default, so that an in-process test suite
    /// still dies on Ctrl-C.
    pub fn stop_on_signals(mut self) -> Self {
        self.signals = true;
        self
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn state(&self) -> web::Data<AppState> {
        self.state.clone()
    }

    /// Runs until stopped (by a signal, with [`Application::stop_on_signals`]): the server stops
    /// accepting and finishes in-flight requests, then the workers finish what they hold and
    /// stop. A second signal ends the wait.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        let force = CancellationToken::new();
        let signals = self
            .signals
            .then(|| tokio::spawn(handle_signals(self.server.handle(), force.clone())));
        let workers = if self.workers {
            Some(tokio::spawn(outbound::run_workers(
                self.state.clone(),
                self.shutdown.clone(),
            )))
        } else {
            None
        };
        let result = self.server.await;
        self.shutdown.cancel();
        if let Some(workers) = workers {
            let abort = workers.abort_handle();
            tokio::select! {
                joined = tokio::time::timeout(self.shutdown_timeout, workers) => match joined {
                    Ok(Ok(())) => tracing::info!("outbound workers stopped"),
                    Ok(Err(e)) => tracing::error!(error = %e, "outbound workers panicked"),
                    Err(_) => tracing::warn!(
                        "outbound workers did not stop within server.shutdown_timeout_secs; \
                         unfinished sends are reclaimed after a restart"
                    ),
                },
                _ = force.cancelled() => {
                    abort.abort();
                    tracing::warn!("stopped without waiting for the outbound workers; \
                        unfinished sends are reclaimed after a restart");
                }
            }
        }
        if let Some(signals) = signals {
            signals.abort();
        }
        result.context("HTTP server failed")
    }
}

/// SIGINT or SIGTERM, whichever comes first.
async fn stop_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut interrupt), Ok(mut terminate)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) else {
        tracing::error!("cannot listen for SIGINT and SIGTERM");
        return std::future::pending().await;
    };
    tokio::select! {
        _ = interrupt.recv() => {}
        _ = terminate.recv() => {}
    }
}

/// The first signal stops gracefully; a second one stops at once.
async fn handle_signals(server: actix_web::dev::ServerHandle, force: CancellationToken) {
    stop_signal().await;
    tracing::info!(
        "stopping: finishing in-flight requests and sends (signal again to stop at once)"
    );
    // Sent now; the future only reports completion.
    drop(server.stop(true));
    stop_signal().await;
    tracing::warn!("second signal: stopping at once");
    force.cancel();
    server.stop(false).await;
}

fn problem_for_query(err: actix_web::error::QueryPayloadError) -> ApiError {
    ApiError::invalid("query", err)
}

fn problem_for_path(err: actix_web::error::PathError) -> ApiError {
    ApiError::invalid("path", err)
}

/// No route matched: 405 with `Allow` when the path exists under other methods, else 404.
async fn unmatched(request: actix_web::HttpRequest) -> Result<HttpResponse, ApiError> {
    Err(match routes::allowed_methods(request.path()) {
        Some(allow) => ApiError::method_not_allowed(request.method(), allow),
        None => ApiError::new(ErrorKind::NotFound, "no such endpoint"),
    })
}

fn run(
    listener: TcpListener,
    state: web::Data<AppState>,
    body_limit: usize,
    shutdown_timeout: u64,
) -> anyhow::Result<Server> {
    let server = HttpServer::new(move || {
        App::new()
            .wrap(TracingLogger::<MaskedRootSpan>::new())
            .wrap(actix_web::middleware::from_fn(crate::telemetry::request_id))
            .app_data(state.clone())
            .app_data(web::Data::new(BodyLimit(body_limit)))
            .app_data(web::PayloadConfig::new(body_limit))
            .app_data(web::QueryConfig::default().error_handler(|e, _| problem_for_query(e).into()))
            .app_data(web::PathConfig::default().error_handler(|e, _| problem_for_path(e).into()))
            .configure(routes::health::configure)
            .configure(routes::pos::configure)
            .configure(routes::admin::configure)
            .configure(routes::webhooks::configure)
            .service(routes::openapi::openapi_json)
            .default_service(web::to(unmatched))
    })
    .shutdown_timeout(shutdown_timeout)
    .disable_signals()
    .listen(listener)?
    .run();
    Ok(server)
}
