//! The HTTP/1.1 connection loop, so that every connection has bounds:
//! headers must arrive within a deadline (a client that opens a connection
//! and trickles bytes, "slowloris", is cut off), idle keep-alive
//! connections close, and shutdown drains in-flight requests for a bounded
//! grace period.
//!
//! axum's own `serve` sets no timer, so hyper's header timeout never fires
//! there; this loop is the same hyper server with the timer set.

use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use std::future::Future;
use std::time::Duration;

/// How long shutdown waits for in-flight requests before it gives up.
const GRACE: Duration = Duration::from_secs(10);

/// Serves `app` on `listener` until `shutdown`; each connection must send
/// its request headers within `header_timeout`.
pub async fn serve<L>(
    mut listener: L,
    app: Router,
    header_timeout: Duration,
    shutdown: impl Future<Output = ()>,
) where
    L: axum::serve::Listener,
{
    let graceful = GracefulShutdown::new();
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout)
        .keep_alive(true);
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            (io, _peer) = listener.accept() => {
                let service = TowerToHyperService::new(app.clone());
                let conn = graceful.watch(builder.serve_connection(TokioIo::new(io), service));
                tokio::spawn(async move {
                    if let Err(e) = conn.await {
                        tracing::debug!(error = %e, "Connection ended with an error.");
                    }
                });
            }
            _ = &mut shutdown => break,
        }
    }
    drop(listener);
    tokio::select! {
        _ = graceful.shutdown() => tracing::info!("All connections drained."),
        _ = tokio::time::sleep(GRACE) => tracing::warn!(grace = ?GRACE, "Connections still open after the grace period; closing."),
    }
}
