//! `schoolwatch-sim`: a province's fleet of school machines, simulated,
//! reporting to a real collector through the real enroll and report
//! endpoints, with the agent's own client, queue and report format.
//!
//! Each simulated host is a school's server, office PC or lab PC from the
//! registry: it enrolls with its school's token and its own hardware
//! fingerprint, then makes one report per interval of fleet time
//! (interface counters that follow the school day, CPU and memory, its
//! inventory, posture checks, the school's throughput test) and ships it
//! as the agent does, with the ICMP probes of its gateway and of the
//! collector; a school's server also reports its network devices (the
//! switch and its uplink, the UPS, printers, what a LAN sweep finds).
//! Some PCs are old and under the plan's minimum, some fail posture
//! checks, some schools go dark for a while: their operator's link (WAN),
//! their own network (LAN) or their power. The run ends with a ground
//! truth of what the collector should now show.
//!
//! # Layout
//! - [`fleet`]: the deterministic model: hosts, hardware, outages and their
//!   kinds, paths to the collector, posture.
//! - [`traffic`]: the school-day curve and the byte counters it gives.
//! - [`devices`]: each school's network devices and their pictures in the
//!   server's reports.
//! - [`report`]: protocol reports of a simulated host.
//! - [`clock`]: fleet time against the wall clock (`--speed`).
//! - [`spool`]: a host's backlog, in the agent's queue or in memory.
//! - [`ship`]: enrollment and each host's send loop.
//! - [`progress`]: the progress bar and live summary on stderr.
//! - [`truth`]: the ground-truth tally and the end-of-run summary.

pub mod clock;
pub mod devices;
pub mod fleet;
pub mod progress;
pub mod report;
pub mod ship;
pub mod spool;
pub mod traffic;
pub mod truth;

use crate::clock::Clock;
use crate::fleet::{Fleet, FleetSpec};
use crate::progress::Live;
use crate::ship::{Enrolled, HostResult, Shared};
use crate::spool::Spool;
use crate::truth::Truth;
use anyhow::Context;
use futures_util::StreamExt;
use schoolwatch_agent::config::TlsOptions;
use schoolwatch_agent::ship::Client;
use schoolwatch_agent::ship::queue::QueueConfig;
use schoolwatch_collector::registry::School;
use schoolwatch_collector::targets::Targets;
use std::collections::HashMap;
use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// A validated run.
pub struct Options {
    /// The collector's base URL, e.g. `https://collector:8443`.
    pub collector: String,
    /// The CA to trust for the collector (PEM); the public roots when
    /// `None`.
    pub ca_pem: Option<Vec<u8>>,
    /// Client certificate and plain-HTTP policy, as the agent's `[tls]`.
    pub tls: TlsOptions,
    /// Enrollment tokens by school id; every simulated school has one.
    pub tokens: HashMap<String, String>,
    /// The schools to simulate, in registry order.
    pub schools: Vec<School>,
    /// The fleet to build.
    pub spec: FleetSpec,
    /// Fleet seconds per wall second.
    pub speed: f64,
    /// Fleet time between posture reports of a host.
    pub security_every: Duration,
    /// Fleet time between devices pictures of a school's server.
    pub devices_every: Duration,
    /// The plan's targets, for the ground truth.
    pub targets: Targets,
    /// The agent's queue per host under this directory, with this
    /// configuration; in memory when `None`.
    pub queue: Option<(PathBuf, QueueConfig)>,
    /// Requests in flight at most.
    pub concurrency: usize,
    /// How long to go on sending backlog after the run's fleet time.
    pub drain: Duration,
    /// Show the progress display (stderr is a terminal and not `--quiet`).
    pub progress: bool,
}

/// Runs the simulation until its fleet time is over (or `shutdown`), and
/// returns the ground truth.
pub async fn run(
    opts: Options,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<Truth> {
    let fleet = Fleet::build(&opts.schools, &opts.spec);
    let client = Client::new(&opts.collector, opts.ca_pem.as_deref(), &opts.tls)?;
    let permits = Semaphore::new(opts.concurrency);
    let cancel = CancellationToken::new();
    let on_signal = cancel.clone();
    tokio::spawn(async move {
        shutdown.await;
        on_signal.cancel();
    });

    // Enroll every host (or reuse the credential its state directory
    // holds), a bounded number at a time.
    let states: Vec<Option<schoolwatch_agent::ship::StateDir>> = (0..fleet.hosts.len())
        .map(|h| {
            opts.queue
                .as_ref()
                .map(|(dir, _)| ship::state_dir(dir, &fleet, h))
        })
        .collect();
    let bar = progress::enrolling(fleet.hosts.len() as u64, opts.progress);
    let enroller = ship::Enroller {
        client: &client,
        collector: &opts.collector,
        fleet: &fleet,
        permits: &permits,
        ca_pem: opts.ca_pem.as_deref(),
    };
    let mut enrolled: Vec<Option<Enrolled>> = vec![None; fleet.hosts.len()];
    {
        let mut stream = futures_util::stream::iter(0..fleet.hosts.len())
            .map(|h| {
                let school = &fleet.schools[fleet.hosts[h].school].school.id;
                let token = opts.tokens.get(school).map_or("", String::as_str);
                let enroller = &enroller;
                let state = states[h].as_ref();
                async move { (h, enroller.enroll(h, token, state).await) }
            })
            .buffer_unordered(opts.concurrency);
        loop {
            let next = tokio::select! {
                n = stream.next() => n,
                _ = cancel.cancelled() => anyhow::bail!("interrupted while enrolling"),
            };
            let Some((h, r)) = next else { break };
            enrolled[h] = Some(r?);
            bar.inc(1);
        }
    }
    bar.finish_and_clear();
    let reenrolled = enrolled.iter().flatten().filter(|e| e.reenrolled).count();
    if reenrolled > 0 && opts.queue.is_none() {
        eprintln!(
            "warning: {reenrolled} hosts were already enrolled at this collector (an earlier run with seed {} and the same schools); \
             their sequence numbers start again at 1, so the collector counts those reports as duplicates. \
             Use another --seed, or --queue-dir to continue the same hosts.",
            opts.spec.seed
        );
    }

    // Each host's spool: the agent's queue in its state directory, or
    // memory.
    let mut spools = Vec::with_capacity(fleet.hosts.len());
    for state in states {
        spools.push(match (&opts.queue, state) {
            (Some((_, config)), Some(state)) => {
                tokio::task::block_in_place(|| Spool::disk(state, *config))?
            }
            _ => Spool::memory(),
        });
    }

    let total = fleet.total_reports();
    let clock = Clock::start(
        fleet.duration_ms,
        opts.speed,
        clock::wall_now_ms(),
        Instant::now(),
    );
    let shared = Arc::new(Shared {
        client,
        collector: opts.collector.clone(),
        collector_host: ship::collector_host(&opts.collector),
        fleet,
        clock,
        security_every_ms: opts.security_every.as_millis() as u64,
        devices_every_ms: u64::try_from(opts.devices_every.as_millis())
            .unwrap_or(u64::MAX)
            .max(1),
        baseline: opts.targets.security.baseline.clone(),
        permits,
        live: Arc::new(Live::default()),
        cancel: cancel.clone(),
        drain: opts.drain,
    });
    let display = progress::Running::start(total, opts.progress, shared.clone());
    let mut tasks = tokio::task::JoinSet::new();
    for (h, (agent, spool)) in enrolled.into_iter().zip(spools).enumerate() {
        // Every host was enrolled above or the run stopped there.
        let agent = agent.context("a host was not enrolled")?;
        let shared = shared.clone();
        tasks.spawn(async move { (h, ship::run_host(shared, h, agent, spool).await) });
    }
    let mut results = vec![HostResult::default(); shared.fleet.hosts.len()];
    let mut failure = None;
    while let Some(joined) = tasks.join_next().await {
        let (h, r) = joined.context("a host task panicked")?;
        match r {
            Ok(r) => results[h] = r,
            Err(e) if failure.is_none() => {
                // A host that cannot use its queue stops the run: the
                // accounting would no longer hold.
                failure = Some(e.context(format!("host {}", shared.fleet.hosts[h].hostname)));
                cancel.cancel();
            }
            Err(_) => {}
        }
    }
    let ended = Instant::now();
    display.finish();
    if let Some(e) = failure {
        return Err(e);
    }
    Ok(truth::tally(
        &shared,
        &results,
        &opts.targets,
        opts.spec.seed,
        ended,
    ))
}
