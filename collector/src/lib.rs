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
//! - [`remote_write`]: samples with their original timestamps to
//!   Prometheus-compatible TSDBs, through a durable queue per endpoint.

pub mod api;
pub mod body;
pub mod calendar;
pub mod config;
pub mod coverage;
pub mod demo;
pub mod devices;
pub mod enroll_line;
pub mod fleet;
pub mod ingest;
pub mod metrics;
pub mod outage;
pub mod ratelimit;
pub mod registry;
pub mod remote_write;
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
    // Dropped on an early return, which stops them too.
    let senders = state.remote_write.start();
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
    // After the connections drained: every acknowledged report is queued.
    senders.shutdown(std::time::Duration::from_secs(5)).await;
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
        // Of several collectors sharing a database, the leader prunes.
        match tokio::task::spawn_blocking(move || {
            if store.is_leader() {
                store.prune(horizon)
            } else {
                Ok(0)
            }
        })
        .await
        {
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

/// Opens the store the config names: the SQLite file in `data_dir`, or the
/// PostgreSQL database of `[store] url`.
pub fn open_store(config: &config::Config) -> anyhow::Result<store::Store> {
    use anyhow::Context;
    store::Store::open_with(&config.data_dir, config.postgres_url.as_deref()).with_context(|| {
        match &config.postgres_url {
            Some(_) => "opening the PostgreSQL database of `store.url`".to_owned(),
            None => format!("opening the database in {}", config.data_dir.display()),
        }
    })
}

/// The shared state for a config: opens the store.
pub fn state(config: &config::Config) -> anyhow::Result<Arc<api::AppState>> {
    let store = open_store(config)?;
    store.set_online_window(config.online_window);
    let store = Arc::new(store);
    let remote_write = Arc::new(remote_write::RemoteWrite::open(
        &config.remote_write,
        &config.data_dir,
        config.postgres_url.as_deref(),
    )?);
    let mut metrics = metrics::Metrics::new();
    if !remote_write.is_empty() {
        metrics.register_collector(Box::new(remote_write.metrics()));
    }
    Ok(Arc::new(api::AppState {
        ingester: ingest::Ingester::start(store.clone(), remote_write.clone()),
        remote_write,
        store,
        metrics: Arc::new(metrics),
        limits: config.limits,
        rate: ratelimit::RateLimiter::new(config.limits.requests_per_minute),
        online_window: config.online_window,
        targets: config.targets.clone(),
        fleet: fleet::FleetCache::default(),
    }))
}
