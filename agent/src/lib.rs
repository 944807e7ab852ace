//! The schoolwatch agent: knows its own machine and reports it.
//!
//! # Layout
//! - [`config`]: `agent.toml`, strict parse then validated [`config::Config`].
//! - [`collect`]: one module per source (system, net), each filling its
//!   section of a report.
//! - [`table`]: aligned tables for people at a terminal.
//! - [`logging`]: structured logs to stderr (the journal under systemd).
//! - [`signal`]: the shutdown future (SIGINT/SIGTERM, Ctrl-C on Windows).
//! - [`commands`]: what each subcommand does; `main.rs` only parses and
//!   dispatches.
//! - [`local_page`]: the read-only page (and JSON) the school's IT person
//!   opens on the LAN: last measurements, queue, collector reachability.
//! - [`lang`]: Vietnamese or English for pages, and numbers written the
//!   way each language writes them (the collector's status page uses it
//!   too).

pub mod collect;
pub mod commands;
pub mod config;
pub mod identity;
pub mod lang;
pub mod local_page;
pub mod logging;
pub mod runner;
pub mod ship;
pub mod signal;
pub mod table;
