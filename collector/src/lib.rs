//! The schoolwatch collector.
pub mod coverage;
pub mod registry;
pub mod targets;
pub mod store;
