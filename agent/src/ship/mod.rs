//! Getting reports to the collector: the enrolled state on disk, the
//! HTTPS client, and finding the collector's CA from the fingerprint in a
//! one-line enrollment ([`discover`]).

pub mod client;
pub mod discover;
pub mod queue;
pub mod state;

pub use client::{Client, Outcome};
pub use state::{Enrollment, StateDir};
