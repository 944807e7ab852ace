//! Structured logs for both binaries: `tracing` to stderr, which systemd
//! sends to the journal.

/// Installs the subscriber with a filter such as `info` or
/// `schoolwatch_agent=debug`; a filter that does not parse means `info`.
pub fn init(filter: &str) {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_new(filter)
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
}
