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

pub mod collect;
pub mod commands;
pub mod config;
pub mod identity;
pub mod logging;
pub mod runner;
pub mod ship;
pub mod signal;
pub mod table;
