//! SNMP polling of the school's network devices that carry no agent:
//! switches, routers, UPS units, printers.
//!
//! - [`client`]: who to ask ([`Target`], [`Credentials`] for v1, v2c and
//!   v3) and the session that asks (GET, GETBULK walks, timeouts, retries,
//!   [`SnmpError`] messages an IT person can act on).
//! - `oids`: the numeric OIDs polled (no MIB files at run time).
//! - [`poll`]: [`Poller::poll`] reads a device into the protocol's
//!   [`SnmpData`](schoolwatch_protocol::SnmpData); [`system`] reads only
//!   the system group, for LAN discovery.
//! - [`rates`]: octet counters into bits/s across counter wraps, resets
//!   and device reboots (pure functions).
//! - [`config`]: the `[snmp]` section of `agent.toml`.
//! - [`command`]: `schoolwatch-agent snmp`, one poll printed.

pub mod client;
pub mod command;
pub mod config;
mod oids;
pub mod poll;
pub mod rates;

pub use client::{AuthProtocol, Credentials, PrivProtocol, SnmpError, Target};
pub use config::{SnmpConfig, SnmpDevice};
pub use poll::{Poller, system};
