//! The future that completes when the process is asked to stop.

/// Completes on SIGINT or SIGTERM (Ctrl-C on Windows).
pub async fn shutdown() {
    imp::shutdown().await;
}

#[cfg(unix)]
mod imp {
    use tokio::signal::unix::{SignalKind, signal};

    pub async fn shutdown() {
        // Installing a handler fails only if the runtime has no signal
        // driver, which ours always has; fall back to waiting forever.
        let (Ok(mut term), Ok(mut int)) = (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) else {
            return std::future::pending().await;
        };
        tokio::select! {
            _ = term.recv() => tracing::info!("Received SIGTERM, stopping."),
            _ = int.recv() => tracing::info!("Received SIGINT, stopping."),
        }
    }
}

#[cfg(not(unix))]
mod imp {
    pub async fn shutdown() {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
        tracing::info!("Received Ctrl-C, stopping.");
    }
}
