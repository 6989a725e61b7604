//! Building and running the application: HTTP API plus background workers, started and stopped
//! together. This is where the services are made and handed their dependencies: the ledger, the
//! keyword engine, the outbox, the sender and the workers get what they use here, and only the
//! HTTP handlers see the [`AppState`] that bundles them.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::Server;
use actix_web::{web, App, HttpResponse, HttpServer};
use anyhow::Context;
use tokio_util::sync::CancellationToken;
use tracing_actix_web::TracingLogger;
use utoipa_actix_web::AppExt;

use crate::campaigns::{self, CampaignPolicy, Campaigns};
use crate::clock::Clock;
use crate::commands::{Engine, InboundPolicy};
use crate::configuration::{ServerSettings, Settings};
use crate::domain::Programs;
use crate::error::{ApiError, ErrorKind};
use crate::events::Events;
use crate::inbound::signature::telnyx_public_key;
use crate::ledger::Ledger;
use crate::metrics::Metrics;
use crate::outbound::{providers, Outbox, Sender, Workers};
use crate::routes::extract::BodyLimit;
use crate::routes::{self, AppState};
use crate::store::Store;
use crate::telemetry::MaskedRootSpan;
use crate::templates::Templates;

/// The services of one process, each built with what it uses.
pub fn services(settings: Settings, clock: Clock) -> anyhow::Result<AppState> {
    let metrics = Arc::new(Metrics::default());
    let store = Store::connect(&settings.redis)?.with_metrics(metrics.clone());
    let templates = Arc::new(
        Templates::load(settings.templates.dir.as_deref()).context("cannot load templates")?,
    );
    templates
        .validate(&settings.programs)
        .context("a template does not render")?;
    let prefix = &settings.redis.key_prefix;
    let programs = Arc::new(Programs::new(&settings.programs));
    let ledger = Ledger::new(store.clone(), prefix, clock.clone(), &settings.ledger);
    let outbox = Outbox::new(
        store.clone(),
        prefix,
        clock.clone(),
        settings.campaigns.pause_on_filtered_percent,
    );
    let inbound = Arc::new(Engine::new(
        store.clone(),
        prefix,
        clock.clone(),
        programs.clone(),
        InboundPolicy::from_settings(&settings),
        metrics.clone(),
    ));
    let campaigns = Arc::new(Campaigns::new(
        store.clone(),
        prefix,
        clock.clone(),
        templates.clone(),
        outbox.clone(),
        CampaignPolicy::from_settings(&settings),
    ));
    let events = Arc::new(Events::new(
        store.clone(),
        prefix,
        clock.clone(),
        settings.webhooks.clone(),
    )?);
    let telnyx_key = Some(settings.sms.telnyx.public_key.trim())
        .filter(|k| !k.is_empty())
        .and_then(telnyx_public_key);
    Ok(AppState {
        settings: Arc::new(settings),
        campaigns,
        store,
        ledger,
        outbox,
        events,
        inbound,
        programs,
        templates,
        metrics,
        clock,
        telnyx_key,
    })
}

/// A sender for `state`'s programs through the configured provider.
pub fn sender(state: &AppState) -> anyhow::Result<Sender> {
    let settings = &state.settings;
    Sender::new(
        state.outbox.clone(),
        providers::build(&settings.sms, &settings.server.public_url)?,
        state.templates.clone(),
        settings.sms.clone(),
        state.metrics.clone(),
        state.clock.clone(),
    )
}

/// The outbound workers for `state`'s programs.
pub fn workers(state: &AppState) -> anyhow::Result<Workers> {
    Ok(Workers {
        store: state.store.clone(),
        outbox: state.outbox.clone(),
        sender: Arc::new(sender(state)?),
        programs: state.programs.clone(),
        visibility_timeout: Duration::from_millis(state.settings.sms.visibility_timeout_ms),
        max_in_flight: state.settings.sms.max_in_flight,
    })
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
        let server_settings = settings.server.clone();
        let shutdown_timeout = server_settings.shutdown_timeout_secs;
        let state = web::Data::new(services(settings, clock)?);
        let server = run(listener, state.clone(), &server_settings)?;
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
            let workers = workers(&self.state)?;
            let shutdown = self.shutdown.clone();
            let scheduler = campaigns::run_scheduler(
                self.state.campaigns.clone(),
                self.state.ledger.clone(),
                self.state.programs.clone(),
                shutdown.clone(),
            );
            let events = self
                .state
                .events
                .clone()
                .run(self.state.programs.clone(), shutdown.clone());
            Some(tokio::spawn(async move {
                tokio::join!(workers.run(shutdown.clone()), scheduler, events);
            }))
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
    settings: &ServerSettings,
) -> anyhow::Result<Server> {
    let body_limit = settings.body_limit;
    let server = HttpServer::new(move || {
        // Run on each worker thread, in its runtime.
        let state = web::Data::new(state.on_own_connection());
        App::new()
            .wrap(actix_web::middleware::from_fn(
                crate::telemetry::observe_requests,
            ))
            .wrap(TracingLogger::<MaskedRootSpan>::new())
            .wrap(actix_web::middleware::from_fn(crate::telemetry::request_id))
            .app_data(state)
            .app_data(web::Data::new(BodyLimit(body_limit)))
            .app_data(web::PayloadConfig::new(body_limit))
            .app_data(web::QueryConfig::default().error_handler(|e, _| problem_for_query(e).into()))
            .app_data(web::PathConfig::default().error_handler(|e, _| problem_for_path(e).into()))
            .into_utoipa_app()
            .configure(routes::register)
            .into_app()
            .configure(crate::web::configure)
            .default_service(web::to(unmatched))
    })
    .workers(settings.http_workers())
    .shutdown_timeout(settings.shutdown_timeout_secs)
    .disable_signals()
    .listen(listener)?
    .run();
    Ok(server)
}
