//! The progress display on stderr: a bar over the reports the fleet makes
//! and a live summary (acknowledged, rate, retries, refused, fleet clock,
//! schools dark). Hidden when stderr is not a terminal or with
//! `--quiet`; the summary at the end is printed either way.

use crate::ship::Shared;
use indicatif::{HumanCount, ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::time::Instant;

/// Counters every host task bumps, read by the display.
#[derive(Debug, Default)]
pub struct Live {
    /// Reports made.
    pub made: AtomicU64,
    /// Reports acknowledged.
    pub acked: AtomicU64,
    /// Reports refused for good.
    pub refused: AtomicU64,
    /// Requests made.
    pub requests: AtomicU64,
    /// Requests to be retried.
    pub retries: AtomicU64,
}

/// A bar on stderr, or nothing.
fn bar(len: u64, visible: bool, template: &str) -> ProgressBar {
    let pb = ProgressBar::with_draw_target(
        Some(len),
        if visible {
            ProgressDrawTarget::stderr_with_hz(4)
        } else {
            ProgressDrawTarget::hidden()
        },
    );
    if let Ok(style) = ProgressStyle::with_template(template) {
        pb.set_style(style.progress_chars("=> "));
    }
    pb
}

/// The bar shown while hosts enroll.
pub fn enrolling(hosts: u64, visible: bool) -> ProgressBar {
    let pb = bar(
        hosts,
        visible,
        "{spinner} enrolling  [{wide_bar}] {human_pos}/{human_len} hosts ({per_sec}, {eta} left)",
    );
    pb.enable_steady_tick(Duration::from_millis(250));
    pb
}

/// The running display: updated by a task of its own until finished.
pub struct Running {
    pb: ProgressBar,
    task: tokio::task::JoinHandle<()>,
}

impl Running {
    /// Starts the display of a run of `total` reports.
    pub fn start(total: u64, visible: bool, shared: Arc<Shared>) -> Self {
        let pb = bar(
            total,
            visible,
            "{spinner} {elapsed_precise} [{wide_bar}] {percent:>3}% of the reports made\n  {msg}",
        );
        let shown = pb.clone();
        let task = tokio::spawn(async move {
            let start = Instant::now();
            let mut tick = tokio::time::interval(Duration::from_millis(250));
            loop {
                tick.tick().await;
                shown.set_position(shared.live.made.load(Ordering::Relaxed));
                shown.set_message(summary_line(&shared, start.elapsed()));
                shown.tick();
            }
        });
        Self { pb, task }
    }

    /// Stops and clears the display.
    pub fn finish(self) {
        self.task.abort();
        self.pb.finish_and_clear();
    }
}

/// `12,345 acked · 830 reports/s · ... · fleet clock ... · 3 schools dark`
fn summary_line(shared: &Shared, elapsed: Duration) -> String {
    let live = &shared.live;
    let acked = live.acked.load(Ordering::Relaxed);
    let rate = acked as f64 / elapsed.as_secs_f64().max(0.001);
    let offset = shared.clock.offset_now().min(shared.fleet.duration_ms);
    let down = shared
        .fleet
        .schools
        .iter()
        .filter(|s| s.outage.is_some_and(|o| o.covers(offset)))
        .count();
    let fleet_time = humantime::format_rfc3339_seconds(
        std::time::UNIX_EPOCH + Duration::from_millis(shared.clock.unix_ms(offset)),
    );
    format!(
        "{} acked · {:.0} reports/s · {} requests · {} retried · {} refused · fleet clock {} · {} schools dark",
        HumanCount(acked),
        rate,
        HumanCount(live.requests.load(Ordering::Relaxed)),
        HumanCount(live.retries.load(Ordering::Relaxed)),
        HumanCount(live.refused.load(Ordering::Relaxed)),
        fleet_time,
        down
    )
}
