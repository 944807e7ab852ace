//! Getting reports to the collector: the enrolled state on disk and the
//! HTTPS client.

pub mod client;
pub mod queue;
pub mod state;

pub use client::{Client, Outcome};
pub use state::{Enrollment, StateDir};
