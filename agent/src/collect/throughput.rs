//! The throughput test: a bounded download and upload against the
//! collector, on a schedule (daily, in an off-hours window, under a
//! monthly byte cap, because 4G data is metered).

use crate::ship::Client;
use schoolwatch_protocol::Throughput;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::time::Duration;

/// Settings of the throughput test (`[throughput]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThroughputConfig {
    /// Run the test at all (off unless a config file turns it on).
    pub enabled: bool,
    /// Time between tests.
    pub every: Duration,
    /// Local hours `[start, end)` in which a test may run; may wrap midnight.
    pub window: (u8, u8),
    /// Offset of the school's local time from UTC, hours.
    pub utc_offset_hours: i8,
    /// Bytes to download per test.
    pub download_bytes: u64,
    /// Bytes to upload per test.
    pub upload_bytes: u64,
    /// Most bytes all tests may use in one calendar month.
    pub monthly_cap_bytes: u64,
}

impl Default for ThroughputConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            every: Duration::from_secs(24 * 3600),
            window: (22, 5),
            utc_offset_hours: 7,
            download_bytes: 10_000_000,
            upload_bytes: 2_000_000,
            monthly_cap_bytes: 500_000_000,
        }
    }
}

/// Runs one download and one upload.
pub async fn measure(
    client: &Client,
    credential: &str,
    down: u64,
    up: u64,
) -> anyhow::Result<Throughput> {
    let (got, d) = client.speedtest_download(credential, down).await?;
    let (sent, u) = client.speedtest_upload(credential, up).await?;
    let rate = |bytes: u64, t: Duration| {
        if t.is_zero() {
            0.0
        } else {
            bytes as f64 / t.as_secs_f64()
        }
    };
    Ok(Throughput {
        measured_at_ms: now_ms(),
        download_bytes: got,
        download_bytes_per_second: rate(got, d),
        upload_bytes: sent,
        upload_bytes_per_second: rate(sent, u),
    })
}

/// What the schedule remembers across restarts (in the state directory).
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Usage {
    last_ms: u64,
    month: String,
    used_bytes: u64,
}

/// Decides when a test is due and keeps the month's byte count.
pub struct Schedule {
    config: ThroughputConfig,
    path: PathBuf,
    usage: Usage,
}

impl Schedule {
    /// The schedule with its memory in `state_dir/throughput.json`.
    pub fn new(config: ThroughputConfig, state_dir: &std::path::Path) -> Self {
        let path = state_dir.join("throughput.json");
        let usage = std::fs::read(&path)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
        Self {
            config,
            path,
            usage,
        }
    }

    /// Whether a test should run at `now_ms`.
    pub fn due(&self, now_ms: u64) -> bool {
        let c = &self.config;
        if !c.enabled {
            return false;
        }
        let local = local_seconds(now_ms, c.utc_offset_hours);
        let hour = ((local / 3600) % 24) as u8;
        let in_window = if c.window.0 <= c.window.1 {
            (c.window.0..c.window.1).contains(&hour)
        } else {
            hour >= c.window.0 || hour < c.window.1
        };
        let cost = c.download_bytes + c.upload_bytes;
        let used = if self.usage.month == month(local) {
            self.usage.used_bytes
        } else {
            0
        };
        in_window
            && now_ms.saturating_sub(self.usage.last_ms) >= c.every.as_millis() as u64
            && used + cost <= c.monthly_cap_bytes
    }

    /// Records a test that used `bytes` at `now_ms`.
    pub fn record(&mut self, now_ms: u64, bytes: u64) {
        let m = month(local_seconds(now_ms, self.config.utc_offset_hours));
        if self.usage.month != m {
            self.usage = Usage {
                month: m,
                ..Usage::default()
            };
        }
        self.usage.last_ms = now_ms;
        self.usage.used_bytes += bytes;
        if let Ok(b) = serde_json::to_vec(&self.usage)
            && let Err(e) = std::fs::write(&self.path, b)
        {
            tracing::warn!(error = %e, "Could not record the throughput test's data use.");
        }
    }

    /// The settings.
    pub fn config(&self) -> &ThroughputConfig {
        &self.config
    }
}

fn local_seconds(now_ms: u64, offset_hours: i8) -> u64 {
    (now_ms / 1000).saturating_add_signed(i64::from(offset_hours) * 3600)
}

/// `YYYY-MM` of a count of seconds since the epoch (civil calendar).
fn month(secs: u64) -> String {
    let t = std::time::UNIX_EPOCH + Duration::from_secs(secs);
    humantime::format_rfc3339_seconds(t).to_string()[..7].to_owned()
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(y_m_d_h: &str) -> u64 {
        humantime::parse_rfc3339(y_m_d_h)
            .unwrap()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64
    }

    #[test]
    fn window_interval_and_monthly_cap() {
        let dir = tempfile::tempdir().unwrap();
        let config = ThroughputConfig {
            enabled: true,
            monthly_cap_bytes: 25_000_000,
            ..ThroughputConfig::default()
        };
        let mut s = Schedule::new(config, dir.path());
        // 15:00 UTC is 22:00 in UTC+7: inside the 22-5 window.
        assert!(s.due(at("2026-11-28T15:00:00Z")));
        // 10:00 UTC is 17:00 local: school hours, not due.
        assert!(!s.due(at("2026-11-28T10:00:00Z")));
        s.record(at("2026-11-28T15:00:00Z"), 12_000_000);
        // Later that night: in the window, but not a day since.
        assert!(!s.due(at("2026-11-28T21:00:00Z")));
        assert!(s.due(at("2026-11-29T15:00:00Z")));
        s.record(at("2026-11-29T15:00:00Z"), 12_000_000);
        // 24 MB of 25 used: the month's cap stops a third test in November
        // (in the window, a day later)...
        assert!(!s.due(at("2026-11-30T15:00:00Z")));
        // ...until the next month (local time) begins.
        assert!(s.due(at("2026-12-01T15:00:00Z")));
        // The memory survives a restart.
        let s2 = Schedule::new(s.config().clone(), dir.path());
        assert!(!s2.due(at("2026-11-30T15:00:00Z")));
    }

    #[test]
    fn off_unless_enabled() {
        let dir = tempfile::tempdir().unwrap();
        let s = Schedule::new(ThroughputConfig::default(), dir.path());
        assert!(!s.due(at("2026-11-29T15:00:00Z")));
    }
}
