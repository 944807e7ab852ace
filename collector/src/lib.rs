//! The schoolwatch collector (skeleton: ingest, store and exposition follow).
pub mod coverage;
pub mod registry;
pub mod targets;
