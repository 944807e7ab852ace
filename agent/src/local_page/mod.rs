//! The local page at the school: a small read-only page (and JSON) of this
//! agent's own newest measurements, its queue and whether the collector
//! answered, served on the school LAN when `[local_page] listen` is set.
//!
//! It is served by the agent itself, so it works when the WAN is down,
//! which is when a school's IT person needs it most. It carries nothing
//! secret (no credential) and changes nothing; bind it to the school LAN
//! address, not to an address reachable from the Internet.
//!
//! The runner owns a [`LocalPage`] and records what it does into a
//! [`Snapshot`] behind a `watch` channel; the page's handlers read the
//! newest one. Without an address the handle is inert and costs nothing.
//! The server stops with the runner ([`LocalPage::shutdown`]).

mod html;
mod snapshot;

pub use snapshot::{CollectorLink, LastReport, SendResult, Snapshot};

use crate::lang::Lang;
use axum::Router;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::sync::{oneshot, watch};

/// How long to wait before binding again when the address is not there
/// yet (at boot, before DHCP gave the school LAN address).
const BIND_RETRY: Duration = Duration::from_secs(30);

/// How long shutdown waits for open page requests.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// The runner's handle: records into the snapshot and owns the server.
pub struct LocalPage {
    /// `None` when no page is served: every record is then a no-op.
    tx: Option<watch::Sender<Snapshot>>,
    /// Stops the server; taken by [`LocalPage::shutdown`].
    stop: Option<oneshot::Sender<()>>,
    /// The server task, awaited on shutdown.
    task: Option<tokio::task::JoinHandle<()>>,
}

impl LocalPage {
    /// A handle that serves nothing.
    pub fn off() -> Self {
        Self {
            tx: None,
            stop: None,
            task: None,
        }
    }

    /// Starts serving on `listen` (when given) with `initial` as the first
    /// snapshot. Binding happens in the background and is retried every
    /// 30 s while the address is missing, so a page that cannot start never
    /// stops the agent from reporting.
    pub fn start(listen: Option<SocketAddr>, initial: Snapshot) -> Self {
        let Some(addr) = listen else {
            return Self::off();
        };
        let (tx, rx) = watch::channel(initial);
        let (stop, stopped) = oneshot::channel();
        let task = tokio::spawn(serve(addr, rx, stopped));
        Self {
            tx: Some(tx),
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// Whether a page is served (so callers can skip work only it needs).
    pub fn is_on(&self) -> bool {
        self.tx.is_some()
    }

    /// Changes the snapshot (no-op when off).
    pub fn update(&self, f: impl FnOnce(&mut Snapshot)) {
        if let Some(tx) = &self.tx {
            tx.send_modify(f);
        }
    }

    /// Stops the server, letting open requests finish for a few seconds.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(mut task) = self.task.take()
            && tokio::time::timeout(SHUTDOWN_GRACE, &mut task)
                .await
                .is_err()
        {
            task.abort();
        }
    }
}

impl Drop for LocalPage {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}

/// The page's routes over the snapshot channel.
pub fn router(rx: watch::Receiver<Snapshot>) -> Router {
    Router::new()
        .route("/", get(page))
        .route("/status.json", get(json))
        .route("/local.css", get(css))
        .with_state(rx)
}

/// Binds (retrying while the address is missing) and serves until `stop`.
async fn serve(addr: SocketAddr, rx: watch::Receiver<Snapshot>, mut stop: oneshot::Receiver<()>) {
    let mut failures = 0u32;
    let listener = loop {
        match tokio::net::TcpListener::bind(addr).await {
            Ok(l) => break l,
            Err(e) => {
                if failures.is_multiple_of(20) {
                    tracing::warn!(listen = %addr, error = %e, "Local page cannot listen yet; retrying every 30 s. Check `[local_page] listen` names this machine's school LAN address.");
                }
                failures += 1;
                tokio::select! {
                    _ = tokio::time::sleep(BIND_RETRY) => {}
                    _ = &mut stop => return,
                }
            }
        }
    };
    tracing::info!(listen = %addr, "Local page serving.");
    let shutdown = async move {
        let _ = stop.await;
    };
    if let Err(e) = axum::serve(listener, router(rx))
        .with_graceful_shutdown(shutdown)
        .await
    {
        tracing::warn!(error = %e, "Local page stopped with an error.");
    }
}

/// The newest snapshot, stamped with the time of the answer.
fn current(rx: &watch::Receiver<Snapshot>) -> Snapshot {
    let mut s = rx.borrow().clone();
    s.now_ms = now_ms();
    s
}

/// Headers of every answer: never cached, never framed, no script.
fn guarded(mut resp: Response) -> Response {
    let h = resp.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
        ),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    resp
}

async fn page(
    State(rx): State<watch::Receiver<Snapshot>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let lang_param = query.as_deref().and_then(|q| {
        q.split('&')
            .find_map(|kv| kv.strip_prefix("lang="))
            .map(str::to_owned)
    });
    let accept = headers
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok());
    let lang = Lang::negotiate(lang_param.as_deref(), accept);
    let markup = html::page(&current(&rx), lang);
    guarded(axum::response::Html(markup.into_string()).into_response())
}

async fn json(State(rx): State<watch::Receiver<Snapshot>>) -> Response {
    guarded(axum::Json(current(&rx)).into_response())
}

async fn css() -> Response {
    guarded(
        (
            [(header::CONTENT_TYPE, "text/css; charset=utf-8")],
            html::CSS,
        )
            .into_response(),
    )
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}
