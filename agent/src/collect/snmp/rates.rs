//! Octet counters into bits per second, between two polls of one device.
//!
//! Pure functions over two [`Reading`]s; the [`Poller`](super::Poller)
//! keeps the previous reading per device. The cases:
//!
//! - **First poll**: no rate.
//! - **Counter wrap**: a counter that went down wrapped if the wrapped
//!   difference is plausible for the port (at most its speed, with some
//!   slack for timing); otherwise the counter was reset (a port cleared, a
//!   line card replaced) and there is no rate this round. A 32-bit counter
//!   on a busy gigabit port wraps in 34 s, which is why the poller prefers
//!   the 64-bit ones.
//! - **Device reboot**: sysUpTime grew less than the wall time between the
//!   polls (it restarted in between), or went backwards other than by its
//!   own 497-day wrap: no rates this round, the new reading is the baseline.
//! - **Renumbered or vanished ports**: rates pair ports by ifIndex and
//!   name; a port whose name changed at the same ifIndex, or that changed
//!   between 32- and 64-bit counters, starts again from a baseline, and
//!   ports that disappeared are simply absent from the new reading.

/// Size of a counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Width {
    /// Counter32 (ifInOctets).
    Bits32,
    /// Counter64 (ifHCInOctets).
    Bits64,
}

impl Width {
    /// The largest value before the counter wraps to 0.
    pub const fn max(self) -> u64 {
        match self {
            Width::Bits32 => u32::MAX as u64,
            Width::Bits64 => u64::MAX,
        }
    }
}

/// One counter value with its size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counter {
    /// Octets.
    pub value: u64,
    /// 32 or 64 bits.
    pub width: Width,
}

/// One port's counters in a reading.
#[derive(Debug, Clone, PartialEq)]
pub struct PortReading {
    /// ifIndex.
    pub index: u32,
    /// ifName (or ifDescr): a different name at the same index is a
    /// different port.
    pub name: String,
    /// Octets received; `None` when the device gives no counter.
    pub in_octets: Option<Counter>,
    /// Octets sent.
    pub out_octets: Option<Counter>,
    /// Port speed, bits/s; 0 when unknown.
    pub speed_bps: u64,
}

/// What one poll read of a device, as far as rates need.
#[derive(Debug, Clone, PartialEq)]
pub struct Reading {
    /// When the counters were read, seconds on a monotonic clock.
    pub at_secs: f64,
    /// sysUpTime in hundredths of a second, when the device gave it.
    pub uptime_ticks: Option<u32>,
    /// Every port read.
    pub ports: Vec<PortReading>,
}

/// Slack for comparing the device's clock with ours: request round trips,
/// a device answering from a cache a second or two old.
fn tolerance_secs(elapsed: f64) -> f64 {
    2.0 + elapsed * 0.05
}

/// How far a wrap may exceed the port's speed before it is called a reset.
const SPEED_SLACK: f64 = 1.2;

/// Whether the device restarted between two readings `elapsed` seconds
/// apart, judged by sysUpTime (hundredths of a second, Timeticks wrap at
/// 2³²). Without an uptime from both readings, counters are trusted.
pub fn rebooted(prev_ticks: Option<u32>, now_ticks: Option<u32>, elapsed: f64) -> bool {
    let (Some(prev), Some(now)) = (prev_ticks, now_ticks) else {
        return false;
    };
    let tol = tolerance_secs(elapsed);
    let grown = if now >= prev {
        f64::from(now - prev) / 100.0
    } else {
        // Timeticks wrap after 497 days; that is no reboot when the
        // wrapped growth matches the wall time.
        let wrapped = (u64::from(u32::MAX) - u64::from(prev) + u64::from(now) + 1) as f64 / 100.0;
        if (wrapped - elapsed).abs() <= tol {
            wrapped
        } else {
            return true;
        }
    };
    // It was up for less time than passed: it started again in between.
    grown + tol < elapsed
}

/// Octets counted between two readings of one counter, or `None` when the
/// counter was reset rather than wrapped.
pub fn counter_delta(
    prev: u64,
    now: u64,
    width: Width,
    elapsed: f64,
    speed_bps: u64,
) -> Option<u64> {
    if now >= prev {
        return Some(now - prev);
    }
    // now < prev ≤ max, so neither step overflows.
    let wrapped = (width.max() - prev) + now + 1;
    let plausible = if speed_bps > 0 {
        wrapped as f64 * 8.0 / elapsed <= speed_bps as f64 * SPEED_SLACK
    } else {
        // Speed unknown: a wrap moves the counter less than half its range
        // past the top; a reset from the lower half cannot look like one.
        wrapped <= width.max() / 2
    };
    plausible.then_some(wrapped)
}

/// Bits per second over `elapsed` seconds for one counter, when both
/// readings have it with the same width.
fn rate(prev: Option<Counter>, now: Option<Counter>, elapsed: f64, speed_bps: u64) -> Option<f64> {
    let (p, n) = (prev?, now?);
    if p.width != n.width {
        return None;
    }
    let delta = counter_delta(p.value, n.value, n.width, elapsed, speed_bps)?;
    Some(delta as f64 * 8.0 / elapsed)
}

/// Receive and transmit rates (bits/s) for each port of `now`, in its
/// order, against the previous reading of the same device.
pub fn port_rates(prev: Option<&Reading>, now: &Reading) -> Vec<(Option<f64>, Option<f64>)> {
    let none = || vec![(None, None); now.ports.len()];
    let Some(prev) = prev else {
        return none();
    };
    let elapsed = now.at_secs - prev.at_secs;
    // Also refuses NaN.
    if elapsed.partial_cmp(&0.0) != Some(std::cmp::Ordering::Greater)
        || rebooted(prev.uptime_ticks, now.uptime_ticks, elapsed)
    {
        return none();
    }
    now.ports
        .iter()
        .map(|p| {
            let Some(old) = prev
                .ports
                .iter()
                .find(|o| o.index == p.index && o.name == p.name)
            else {
                return (None, None);
            };
            (
                rate(old.in_octets, p.in_octets, elapsed, p.speed_bps),
                rate(old.out_octets, p.out_octets, elapsed, p.speed_bps),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const GBIT: u64 = 1_000_000_000;

    fn c64(value: u64) -> Option<Counter> {
        Some(Counter {
            value,
            width: Width::Bits64,
        })
    }

    fn c32(value: u64) -> Option<Counter> {
        Some(Counter {
            value,
            width: Width::Bits32,
        })
    }

    fn port(
        index: u32,
        name: &str,
        rx: Option<Counter>,
        tx: Option<Counter>,
        speed: u64,
    ) -> PortReading {
        PortReading {
            index,
            name: name.into(),
            in_octets: rx,
            out_octets: tx,
            speed_bps: speed,
        }
    }

    fn reading(at: f64, ticks: u32, ports: Vec<PortReading>) -> Reading {
        Reading {
            at_secs: at,
            uptime_ticks: Some(ticks),
            ports,
        }
    }

    #[test]
    fn first_poll_has_no_rate() {
        let now = reading(0.0, 100, vec![port(1, "ge1", c64(10), c64(20), GBIT)]);
        assert_eq!(port_rates(None, &now), vec![(None, None)]);
    }

    #[test]
    fn steady_counters_give_bits_per_second() {
        let a = reading(
            100.0,
            10_000,
            vec![port(1, "ge1", c64(1_000), c64(5_000), GBIT)],
        );
        // 60 s later: +7,500,000 octets in = 1 Mbit/s; +750 out = 100 bit/s.
        let b = reading(
            160.0,
            16_000,
            vec![port(1, "ge1", c64(7_501_000), c64(5_750), GBIT)],
        );
        assert_eq!(
            port_rates(Some(&a), &b),
            vec![(Some(1_000_000.0), Some(100.0))]
        );
    }

    #[test]
    fn wrap_at_2_pow_32_is_counted_across_the_top() {
        // 100 Mbit/s port, 32-bit counters: 999 octets to the top, 1 to
        // wrap to 0, 4,000 more: 5,000 octets in 10 s = 4,000 bit/s.
        let max = u64::from(u32::MAX);
        let a = reading(
            0.0,
            0,
            vec![port(2, "fa0/2", c32(max - 999), c32(0), 100_000_000)],
        );
        let b = reading(
            10.0,
            1_000,
            vec![port(2, "fa0/2", c32(4_000), c32(0), 100_000_000)],
        );
        assert_eq!(port_rates(Some(&a), &b), vec![(Some(4_000.0), Some(0.0))]);
        assert_eq!(counter_delta(max, 0, Width::Bits32, 1.0, 0), Some(1));
    }

    #[test]
    fn wrap_at_2_pow_64_is_counted_across_the_top() {
        let a = reading(
            0.0,
            0,
            vec![port(1, "ge1", c64(u64::MAX - 9), c64(7), GBIT)],
        );
        let b = reading(1.0, 100, vec![port(1, "ge1", c64(115), c64(7), GBIT)]);
        // 9 octets to the top, 1 to wrap to 0, 115 more: 125 octets in 1 s.
        assert_eq!(port_rates(Some(&a), &b), vec![(Some(1_000.0), Some(0.0))]);
        // With the speed unknown it is still a wrap (upper half to lower).
        assert_eq!(
            counter_delta(u64::MAX - 9, 115, Width::Bits64, 1.0, 0),
            Some(125)
        );
    }

    #[test]
    fn counter_reset_is_no_rate() {
        // 64-bit counter from 5 GB back to 1 kB in 60 s: wrapping would mean
        // 2⁶⁴ octets, far beyond the port; it was cleared.
        let a = reading(
            0.0,
            0,
            vec![port(1, "ge1", c64(5_000_000_000), c64(10), GBIT)],
        );
        let b = reading(60.0, 6_000, vec![port(1, "ge1", c64(1_000), c64(20), GBIT)]);
        assert_eq!(port_rates(Some(&a), &b), vec![(None, Some(8.0 / 6.0))]);
        // 32-bit counter on a 10 Mbit/s port back from 3e9 to 1e6: a wrap
        // would be 1.3e9 octets in 60 s, 173 Mbit/s; a reset.
        assert_eq!(
            counter_delta(3_000_000_000, 1_000_000, Width::Bits32, 60.0, 10_000_000),
            None
        );
        // Speed unknown: from the lower half of the range down is a reset.
        assert_eq!(counter_delta(1_000_000, 10, Width::Bits32, 60.0, 0), None);
    }

    #[test]
    fn reboot_gives_no_rate_and_a_new_baseline() {
        let a = reading(
            0.0,
            500_000,
            vec![port(1, "ge1", c64(1_000_000), c64(1_000_000), GBIT)],
        );
        // Uptime went from 5,000 s to 30 s: counters restarted near 0.
        let b = reading(
            60.0,
            3_000,
            vec![port(1, "ge1", c64(5_000), c64(9_000), GBIT)],
        );
        assert_eq!(port_rates(Some(&a), &b), vec![(None, None)]);
        // The next poll rates against the post-reboot reading.
        let c = reading(
            120.0,
            9_000,
            vec![port(1, "ge1", c64(12_500), c64(9_000), GBIT)],
        );
        assert_eq!(port_rates(Some(&b), &c), vec![(Some(1_000.0), Some(0.0))]);
    }

    #[test]
    fn reboot_is_seen_even_when_uptime_grew() {
        // Polled an hour apart; the device came back 10 minutes ago, with
        // more uptime than at the last poll (2 min).
        assert!(rebooted(Some(12_000), Some(60_000), 3_600.0));
        assert!(!rebooted(Some(12_000), Some(372_000), 3_600.0));
        // No uptime from the device: trust the counters.
        assert!(!rebooted(None, Some(5), 60.0));
    }

    #[test]
    fn uptime_wrap_after_497_days_is_no_reboot() {
        let prev = u32::MAX - 2_999; // 30 s before the wrap
        assert!(!rebooted(Some(prev), Some(3_000), 60.0));
        // The same step back with an hour between polls is a reboot.
        assert!(rebooted(Some(prev), Some(3_000), 3_600.0));
    }

    #[test]
    fn renumbered_and_vanished_ports_start_again() {
        let a = reading(
            0.0,
            0,
            vec![
                port(1, "ge1", c64(100), c64(100), GBIT),
                port(2, "ge2", c64(100), c64(100), GBIT),
                port(3, "ge3", c64(100), c64(100), GBIT),
            ],
        );
        // ge2 vanished, index 3 is now ge4 (renumbered), ge3 moved to 7;
        // only ge1 is the same port as before.
        let b = reading(
            1.0,
            100,
            vec![
                port(1, "ge1", c64(200), c64(100), GBIT),
                port(3, "ge4", c64(900), c64(900), GBIT),
                port(7, "ge3", c64(900), c64(900), GBIT),
            ],
        );
        assert_eq!(
            port_rates(Some(&a), &b),
            vec![(Some(800.0), Some(0.0)), (None, None), (None, None)]
        );
    }

    #[test]
    fn counter_width_change_or_missing_counter_is_no_rate() {
        let a = reading(0.0, 0, vec![port(1, "ge1", c32(100), None, GBIT)]);
        let b = reading(1.0, 100, vec![port(1, "ge1", c64(200), c64(5), GBIT)]);
        assert_eq!(port_rates(Some(&a), &b), vec![(None, None)]);
    }

    #[test]
    fn no_time_between_readings_is_no_rate() {
        let a = reading(5.0, 0, vec![port(1, "ge1", c64(100), c64(100), GBIT)]);
        assert_eq!(port_rates(Some(&a), &a.clone()), vec![(None, None)]);
    }
}
