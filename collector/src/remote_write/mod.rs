//! Prometheus remote-write 1.0 from the collector to any number of
//! endpoints (VictoriaMetrics, Prometheus's receiver, Mimir, …): every
//! accepted report's samples with their **original timestamps**, so an
//! agent's offline days appear in the TSDB once it drains its queue —
//! something scraping `/metrics` can never do.
//!
//! # Flow
//! 1. The ingest writer thread stores a group of batches in one
//!    transaction. Before it commits, [`RemoteWrite::enqueue`] turns the
//!    reports the store took as new ([`crate::store::IngestOutcome::fresh`])
//!    into series ([`samples`]), encodes them ([`proto`]) and appends them
//!    to each endpoint's durable [`queue`], synced. Only then the
//!    transaction commits and the agents are acknowledged: a crash can
//!    queue a report's samples twice (the agent sends it again, the TSDB
//!    ignores the identical samples), never lose them.
//! 2. One [`sender`] task per endpoint reads its queue in batches, POSTs
//!    them (protobuf, snappy), retries with backoff, and advances only on
//!    an answer.
//! 3. Per-endpoint figures are on `/metrics` ([`RemoteWriteMetrics`]).
//!
//! # Layout
//! - [`config`]: `[[remote_write]]` entries.
//! - [`proto`]: the WriteRequest messages, headers, snappy.
//! - [`samples`]: a report's series, named and labelled as on `/metrics`.
//! - [`hosts`]: the host labels and state, from the store, cached.
//! - [`queue`]: the durable outbound queue of one endpoint.
//! - [`sender`]: the delivery loop and its retry decision.

pub mod config;
pub mod hosts;
pub mod proto;
pub mod queue;
pub mod samples;
pub mod sender;

pub use config::{Auth, EndpointConfig, RawEndpoint};

use crate::store::{Identity, IngestOutcome};
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use queue::{DropReason, Queue, QueueConfig, Record};
use schoolwatch_protocol::Report;
use sender::FailReason;
use std::path::Path;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use thiserror::Error;
use tokio_util::sync::CancellationToken;

/// Setting up remote_write failed.
#[derive(Debug, Error)]
pub enum RemoteWriteError {
    /// The queue directory could not be opened.
    #[error("remote_write endpoint {endpoint:?}: {source}")]
    Queue {
        /// Endpoint name.
        endpoint: String,
        /// Why.
        source: queue::QueueError,
    },
    /// The HTTP client could not be built (TLS settings).
    #[error("remote_write endpoint {endpoint:?}: cannot set up its HTTP client: {reason}")]
    Client {
        /// Endpoint name.
        endpoint: String,
        /// Why.
        reason: String,
    },
}

/// Lets a repeated log line through at most once per period, so a full
/// queue or an endpoint refusing everything cannot flood the log (or block
/// a writer on a full pipe).
#[derive(Debug)]
pub struct Every {
    period: Duration,
    /// When a line last went through, and how many were held back since.
    state: Mutex<(Option<std::time::Instant>, u64)>,
}

impl Every {
    /// At most once per `period`.
    pub const fn new(period: Duration) -> Self {
        Self {
            period,
            state: Mutex::new((None, 0)),
        }
    }

    /// `Some(lines held back since the last one)` when a line may go out.
    pub fn ready(&self) -> Option<u64> {
        let mut s = self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if s.0.is_some_and(|t| t.elapsed() < self.period) {
            s.1 += 1;
            return None;
        }
        s.0 = Some(std::time::Instant::now());
        Some(std::mem::take(&mut s.1))
    }
}

/// Sender-side figures of one endpoint.
#[derive(Debug)]
pub struct SenderStats {
    /// Samples of attempts that failed and were retried, by
    /// [`FailReason::ALL`] index.
    pub failed: [AtomicU64; 4],
    /// Last 2xx, ms since the epoch (0: none yet).
    pub last_success_ms: AtomicI64,
    /// Limits the "batch refused" log line.
    pub reject_log: Every,
}

impl Default for SenderStats {
    fn default() -> Self {
        Self {
            failed: Default::default(),
            last_success_ms: AtomicI64::new(0),
            reject_log: Every::new(Duration::from_secs(60)),
        }
    }
}

/// One endpoint: its settings, queue, client and figures.
pub struct Endpoint {
    /// Settings.
    pub config: EndpointConfig,
    /// The durable outbound queue, appended by the writer thread.
    pub queue: Queue,
    client: reqwest::Client,
    /// Figures of the sender.
    pub stats: SenderStats,
}

/// Every endpoint, and what the writer thread needs to make samples.
pub struct RemoteWrite {
    endpoints: Vec<Arc<Endpoint>>,
    /// Used by the writer thread only; the mutex is never contended.
    hosts: Mutex<hosts::HostBook>,
    /// Limits the error lines of a failing disk or database.
    error_log: Every,
}

impl RemoteWrite {
    /// Opens the queue of each endpoint under
    /// `<data_dir>/remote_write/<name>/` and builds its client. With no
    /// endpoints this is a no-op value.
    pub fn open(
        configs: &[EndpointConfig],
        data_dir: &Path,
        postgres_url: Option<&str>,
    ) -> Result<Self, RemoteWriteError> {
        let mut endpoints = Vec::with_capacity(configs.len());
        for c in configs {
            let queue = Queue::open(
                &data_dir.join("remote_write").join(&c.name),
                QueueConfig::with_max_bytes(c.max_queue_bytes),
            )
            .map_err(|source| RemoteWriteError::Queue {
                endpoint: c.name.clone(),
                source,
            })?;
            let client = client(c).map_err(|reason| RemoteWriteError::Client {
                endpoint: c.name.clone(),
                reason,
            })?;
            endpoints.push(Arc::new(Endpoint {
                config: c.clone(),
                queue,
                client,
                stats: SenderStats::default(),
            }));
        }
        Ok(Self {
            endpoints,
            hosts: Mutex::new(hosts::HostBook::new(data_dir, postgres_url)),
            error_log: Every::new(Duration::from_secs(10)),
        })
    }

    /// No endpoint configured.
    pub fn is_empty(&self) -> bool {
        self.endpoints.is_empty()
    }

    /// The endpoints.
    pub fn endpoints(&self) -> &[Arc<Endpoint>] {
        &self.endpoints
    }

    /// Queues the samples of the reports the store took as new, in every
    /// endpoint's queue, synced to disk. Called by the ingest writer
    /// thread before it commits; local disk only, never the network.
    pub fn enqueue(&self, batches: &[(&Identity, &[Report])], outcomes: &[IngestOutcome]) {
        if self.endpoints.is_empty() {
            return;
        }
        let now = crate::fleet::now_ms();
        let mut records = Vec::new();
        {
            let mut book = self
                .hosts
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            book.begin_group();
            for ((who, reports), outcome) in batches.iter().zip(outcomes) {
                for &i in &outcome.fresh {
                    let Some(report) = reports.get(i) else {
                        continue;
                    };
                    let host = match book.host_for(&who.agent_id, report) {
                        Ok(Some(h)) => h,
                        Ok(None) => continue,
                        Err(e) => {
                            if let Some(held_back) = self.error_log.ready() {
                                tracing::error!(agent = %who.agent_id, error = %e, errors_not_logged = held_back, "Cannot read the host for remote_write; this report's samples are not sent.");
                            }
                            continue;
                        }
                    };
                    let series = samples::for_report(&host, report);
                    records.push(Record {
                        samples: series.len() as u32,
                        enqueued_ms: now,
                        payload: proto::compress(&proto::encode(series)),
                    });
                }
            }
        }
        if records.is_empty() {
            return;
        }
        for ep in &self.endpoints {
            if let Err(e) = ep.queue.append(&records)
                && let Some(held_back) = self.error_log.ready()
            {
                tracing::error!(endpoint = %ep.config.name, error = %e, errors_not_logged = held_back, "Cannot queue samples for remote_write; they will be missing from the TSDB (counted as dropped, write_error).");
            }
        }
    }

    /// Starts one sender task per endpoint (on the current runtime).
    pub fn start(&self) -> Senders {
        let cancel = CancellationToken::new();
        let tasks = self
            .endpoints
            .iter()
            .map(|ep| tokio::spawn(sender::run(ep.clone(), cancel.clone())))
            .collect();
        Senders { cancel, tasks }
    }

    /// The `/metrics` collector of every endpoint.
    pub fn metrics(&self) -> RemoteWriteMetrics {
        RemoteWriteMetrics {
            endpoints: self.endpoints.clone(),
        }
    }
}

/// The running senders; dropping them stops them at once.
pub struct Senders {
    cancel: CancellationToken,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Senders {
    /// Stops the senders: each finishes the request it has on the wire
    /// (within `grace`); unsent samples stay queued for the next start.
    pub async fn shutdown(mut self, grace: Duration) {
        self.cancel.cancel();
        let tasks = std::mem::take(&mut self.tasks);
        let aborts: Vec<_> = tasks.iter().map(|t| t.abort_handle()).collect();
        if tokio::time::timeout(grace, futures_util::future::join_all(tasks))
            .await
            .is_err()
        {
            tracing::warn!(grace = ?grace, "Remote-write requests still on the wire after the grace period; they will be sent again at the next start.");
            for a in aborts {
                a.abort();
            }
        }
    }
}

impl Drop for Senders {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

/// A reqwest client for `c`: rustls with `ca_pem` or the Mozilla roots.
fn client(c: &EndpointConfig) -> Result<reqwest::Client, String> {
    use rustls_pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    match &c.ca_pem {
        Some(pem) => {
            for cert in rustls_pki_types::CertificateDer::pem_slice_iter(pem) {
                let cert = cert.map_err(|e| format!("reading ca_file: {e}"))?;
                roots
                    .add(cert)
                    .map_err(|e| format!("adding ca_file's certificate: {e}"))?;
            }
        }
        None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
    }
    let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| e.to_string())?
    .with_root_certificates(roots)
    .with_no_client_auth();
    reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .connect_timeout(Duration::from_secs(10))
        .pool_idle_timeout(Duration::from_secs(90))
        .user_agent(concat!("schoolwatch-collector/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| e.to_string())
}

// === metrics ===

/// Per-endpoint series, read at scrape time: counters from atomics, queue
/// figures from the queue.
#[derive(Clone)]
pub struct RemoteWriteMetrics {
    endpoints: Vec<Arc<Endpoint>>,
}

impl std::fmt::Debug for RemoteWriteMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteWriteMetrics").finish_non_exhaustive()
    }
}

fn family<M: EncodeMetric>(
    e: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    kind: MetricType,
    samples: impl IntoIterator<Item = (Vec<(&'static str, String)>, M)>,
) -> std::fmt::Result {
    let mut metric = e.encode_descriptor(name, help, None, kind)?;
    for (labels, value) in samples {
        value.encode(metric.encode_family(&labels)?)?;
    }
    Ok(())
}

impl prometheus_client::collector::Collector for RemoteWriteMetrics {
    fn encode(&self, mut e: DescriptorEncoder) -> std::fmt::Result {
        let now_ms = crate::fleet::now_ms();
        let eps = &self.endpoints;
        let l = |ep: &Endpoint| vec![("endpoint", ep.config.name.clone())];
        let lr = |ep: &Endpoint, reason: &str| {
            vec![
                ("endpoint", ep.config.name.clone()),
                ("reason", reason.to_owned()),
            ]
        };
        let pending: Vec<queue::Pending> = eps.iter().map(|ep| ep.queue.pending()).collect();
        let counter = |n: u64| ConstCounter::new(n);
        family(
            &mut e,
            "schoolwatch_remote_write_samples_enqueued",
            "Samples queued for the endpoint (from reports accepted as new)",
            MetricType::Counter,
            eps.iter().map(|ep| {
                (
                    l(ep),
                    counter(ep.queue.counters.enqueued.load(Ordering::Relaxed)),
                )
            }),
        )?;
        family(
            &mut e,
            "schoolwatch_remote_write_samples_sent",
            "Samples the endpoint accepted (2xx)",
            MetricType::Counter,
            eps.iter().map(|ep| {
                (
                    l(ep),
                    counter(ep.queue.counters.sent.load(Ordering::Relaxed)),
                )
            }),
        )?;
        family(
            &mut e,
            "schoolwatch_remote_write_samples_failed",
            "Samples of requests that failed and are retried, by reason: network, timeout, too_many_requests, server_error",
            MetricType::Counter,
            eps.iter().flat_map(|ep| {
                FailReason::ALL.iter().map(move |r| {
                    (
                        lr(ep, r.as_str()),
                        counter(ep.stats.failed[r_index(*r)].load(Ordering::Relaxed)),
                    )
                })
            }),
        )?;
        family(
            &mut e,
            "schoolwatch_remote_write_samples_dropped",
            "Samples that will never be sent, by reason: queue_full (oldest dropped to stay in max_queue_bytes), rejected (a 4xx answer), corrupt, write_error",
            MetricType::Counter,
            eps.iter().flat_map(|ep| {
                DropReason::ALL
                    .iter()
                    .map(move |r| (lr(ep, r.as_str()), counter(ep.queue.counters.dropped(*r))))
            }),
        )?;
        family(
            &mut e,
            "schoolwatch_remote_write_pending_samples",
            "Samples queued and not yet sent (waiting or on the wire)",
            MetricType::Gauge,
            eps.iter()
                .zip(&pending)
                .map(|(ep, p)| (l(ep), ConstGauge::new(p.samples as f64))),
        )?;
        family(
            &mut e,
            "schoolwatch_remote_write_queue_bytes",
            "Size of the endpoint's queue files",
            MetricType::Gauge,
            eps.iter()
                .zip(&pending)
                .map(|(ep, p)| (l(ep), ConstGauge::new(p.bytes as f64))),
        )?;
        family(
            &mut e,
            "schoolwatch_remote_write_queue_max_bytes",
            "The queue's bound (max_queue_bytes)",
            MetricType::Gauge,
            eps.iter()
                .map(|ep| (l(ep), ConstGauge::new(ep.config.max_queue_bytes as f64))),
        )?;
        family(
            &mut e,
            "schoolwatch_remote_write_lag_seconds",
            "How long the oldest pending sample has waited in the queue (0 when none waits)",
            MetricType::Gauge,
            eps.iter().zip(&pending).map(|(ep, p)| {
                let lag = p
                    .oldest_enqueued_ms
                    .map_or(0.0, |t| (now_ms - t).max(0) as f64 / 1000.0);
                (l(ep), ConstGauge::new(lag))
            }),
        )?;
        family(
            &mut e,
            "schoolwatch_remote_write_last_success_timestamp_seconds",
            "When the endpoint last accepted a request (0: not since start)",
            MetricType::Gauge,
            eps.iter().map(|ep| {
                let t = ep.stats.last_success_ms.load(Ordering::Relaxed);
                (l(ep), ConstGauge::new(t as f64 / 1000.0))
            }),
        )
    }
}

fn r_index(r: FailReason) -> usize {
    FailReason::ALL.iter().position(|x| *x == r).unwrap_or(0)
}
