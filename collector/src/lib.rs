//! The schoolwatch collector: enrolls agents, ingests their reports into
//! SQLite, computes coverage against the plan's targets, and serves
//! Prometheus metrics.
//!
//! # Layout
//! - [`config`]: `collector.toml`, strict and validated.
//! - [`registry`]: schools from CSV; [`targets`]: the plan's targets;
//!   [`calendar`]: school hours and holidays.
//! - [`store`]: SQLite (WAL, `synchronous = FULL`): registry, enrollment,
//!   reports, host state.
//! - [`api`]: HTTP routes; [`body`]: bounded content decoding;
//!   [`ingest`]: group commit of report batches;
//!   [`ratelimit`]: per-credential budget.
//! - [`fleet`]: one consistent picture of the fleet; [`coverage`]: the
//!   arithmetic on it (pure); [`outage`]: what kind of outage a school
//!   had (pure); [`metrics`]: its exposition.
//! - [`serve`]: the connection loop (header deadline, graceful drain);
//!   [`tls`]: rustls listener and the demo's certificates.
//! - [`demo`]: the one-command demo.
//! - [`enroll_line`]: the one-line enrollment (and its QR code) per school.
//! - [`status`]: the staff status page (HTML and CSV, login, districts).

pub mod api;
pub mod body;
pub mod calendar;
pub mod config;
pub mod coverage;
pub mod demo;
pub mod enroll_line;
pub mod fleet;
pub mod ingest;
pub mod metrics;
pub mod outage;
pub mod ratelimit;
pub mod registry;
pub mod serve;
pub mod speedtest;
pub mod status;
pub mod store;
pub mod targets;
pub mod tls;

use std::future::Future;
use std::sync::Arc;

/// Serves `state` on `listener` until `shutdown` completes; in-flight
/// requests finish first.
pub async fn run(
    config: &config::Config,
    state: Arc<api::AppState>,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let pruner = tokio::spawn(prune_every_hour(state.store.clone(), config.retention));
    let app = api::router(state.clone()).merge(status::router(state, &config.status));
    let header_timeout = config.limits.header_timeout;
    match &config.transport {
        config::Transport::Plain => serve::serve(listener, app, header_timeout, shutdown).await,
        config::Transport::Tls {
            cert,
            key,
            client_ca,
        } => {
            let tls = tls::server_config(cert, key, client_ca.as_deref())?;
            let listener = tls::TlsListener::new(listener, tls)?;
            serve::serve(listener, app, header_timeout, shutdown).await;
        }
    }
    pruner.abort();
    Ok(())
}

/// Prunes reports older than `retention`, at start and then every hour.
/// A prune cut short by shutdown leaves whole schools done or not done.
async fn prune_every_hour(store: Arc<store::Store>, retention: std::time::Duration) {
    let retention_ms = i64::try_from(retention.as_millis()).unwrap_or(i64::MAX);
    let mut hourly = tokio::time::interval(std::time::Duration::from_secs(3600));
    loop {
        hourly.tick().await;
        let store = store.clone();
        let horizon = fleet::now_ms().saturating_sub(retention_ms);
        match tokio::task::spawn_blocking(move || store.prune(horizon)).await {
            Ok(Ok(0)) => {}
            Ok(Ok(n)) => tracing::info!(reports = n, "Pruned reports older than the retention."),
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "Pruning old reports failed; will retry in an hour.")
            }
            Err(e) => {
                tracing::warn!(error = %e, "Pruning old reports failed; will retry in an hour.")
            }
        }
    }
}

/// The shared state for a config: opens the store.
pub fn state(config: &config::Config) -> anyhow::Result<Arc<api::AppState>> {
    use anyhow::Context;
    let store = store::Store::open(&config.data_dir)
        .with_context(|| format!("opening the database in {}", config.data_dir.display()))?;
    store.set_online_window(config.online_window);
    let store = Arc::new(store);
    Ok(Arc::new(api::AppState {
        ingester: ingest::Ingester::start(store.clone()),
        store,
        metrics: Arc::new(metrics::Metrics::new()),
        limits: config.limits,
        rate: ratelimit::RateLimiter::new(config.limits.requests_per_minute),
        online_window: config.online_window,
        targets: config.targets.clone(),
        fleet: fleet::FleetCache::default(),
    }))
}
