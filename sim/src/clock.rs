//! Fleet time against the wall clock.
//!
//! With `--speed X` fleet time runs X times faster than the wall clock.
//! The simulated period is placed so that it ends when the run ends (if
//! the collector keeps up): it starts `duration - duration / X` in the
//! past, so no report is ever sampled in the future, and at X = 1 the
//! fleet's clock is the wall clock.

use std::time::Duration;
use tokio::time::Instant;

/// Maps fleet time (ms from the start of the run) to wall-clock instants.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    /// Fleet time of the start of the run, ms since the Unix epoch.
    pub fleet_start_ms: u64,
    /// When the run started on the wall clock.
    wall_start: Instant,
    /// Fleet seconds per wall second.
    speed: f64,
}

impl Clock {
    /// A clock for a run of `duration_ms` fleet time at `speed`, starting
    /// now (`wall_now_ms` is the wall clock as ms since the epoch).
    pub fn start(duration_ms: u64, speed: f64, wall_now_ms: u64, now: Instant) -> Self {
        let wall_length = duration_ms as f64 / speed;
        let fleet_start_ms =
            (wall_now_ms as f64 + wall_length - duration_ms as f64).max(0.0) as u64;
        Self {
            fleet_start_ms,
            wall_start: now,
            speed,
        }
    }

    /// The wall-clock instant of fleet offset `at_ms`.
    pub fn instant_at(&self, at_ms: u64) -> Instant {
        self.wall_start + Duration::from_secs_f64(at_ms as f64 / 1000.0 / self.speed)
    }

    /// The fleet offset now, ms.
    pub fn offset_now(&self) -> u64 {
        (self.wall_start.elapsed().as_secs_f64() * self.speed * 1000.0) as u64
    }

    /// The Unix time (ms) of fleet offset `at_ms`.
    pub fn unix_ms(&self, at_ms: u64) -> u64 {
        self.fleet_start_ms + at_ms
    }

    /// Fleet seconds per wall second.
    pub fn speed(&self) -> f64 {
        self.speed
    }

    /// When the run started on the wall clock.
    pub fn wall_start(&self) -> Instant {
        self.wall_start
    }
}

/// The wall clock, ms since the Unix epoch.
pub fn wall_now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_period_ends_with_the_run_and_never_runs_ahead() {
        let now = Instant::now();
        let wall = 1_700_000_000_000;
        let hour = 3_600_000;
        // 6 h at 60x: 6 min of wall time, starting 5 h 54 min in the past.
        let c = Clock::start(6 * hour, 60.0, wall, now);
        assert_eq!(c.fleet_start_ms, wall + 6 * 60_000 - 6 * hour);
        for at in [0, hour, 6 * hour] {
            let wall_then = wall + (c.instant_at(at) - now).as_millis() as u64;
            assert!(c.unix_ms(at) <= wall_then + 1, "{at}");
        }
        assert_eq!(
            c.unix_ms(6 * hour),
            wall + (c.instant_at(6 * hour) - now).as_millis() as u64
        );
        // Real time: the fleet's clock is the wall clock.
        let c = Clock::start(hour, 1.0, wall, now);
        assert_eq!(c.fleet_start_ms, wall);
    }
}
