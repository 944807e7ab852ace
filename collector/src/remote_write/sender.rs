//! The sender of one endpoint: takes batches from its queue, POSTs them,
//! and settles them by the answer.
//!
//! - 2xx: sent; the queue moves on.
//! - 408, 429 and 5xx, network errors and timeouts: the same batch again
//!   after a jittered, doubling delay (250 ms up to `max_backoff`, or the
//!   endpoint's `Retry-After`), for as long as it takes. The queue keeps
//!   filling meanwhile (up to its bound).
//! - Any other 4xx: refused for good (an out-of-order sample, a sample
//!   outside the TSDB's window, a bad label): the batch is dropped,
//!   counted as `rejected` and logged, so one bad batch never wedges the
//!   queue. This is what Prometheus's own remote-write client does.
//!
//! On shutdown the loop stops between requests or while waiting; a
//! request already on the wire finishes or times out within the grace
//! period, and an unanswered batch stays queued for the next start.

use super::Endpoint;
use super::proto;
use super::queue::{Queue, Settled};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// First retry delay.
const MIN_BACKOFF: Duration = Duration::from_millis(250);
/// How often a long failure is logged again.
const LOG_EVERY: Duration = Duration::from_secs(60);

/// Why an attempt failed; the `reason` label of
/// `schoolwatch_remote_write_samples_failed_total`. Each is retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailReason {
    /// Connection refused or reset, DNS, TLS.
    Network,
    /// No answer within `timeout_secs`, or 408.
    Timeout,
    /// 429 Too Many Requests.
    TooManyRequests,
    /// A 5xx answer.
    ServerError,
}

impl FailReason {
    /// Every reason, in exposition order.
    pub const ALL: [FailReason; 4] = [
        FailReason::Network,
        FailReason::Timeout,
        FailReason::TooManyRequests,
        FailReason::ServerError,
    ];

    /// The label value.
    pub const fn as_str(self) -> &'static str {
        match self {
            FailReason::Network => "network",
            FailReason::Timeout => "timeout",
            FailReason::TooManyRequests => "too_many_requests",
            FailReason::ServerError => "server_error",
        }
    }

    fn index(self) -> usize {
        Self::ALL.iter().position(|r| *r == self).unwrap_or(0)
    }
}

/// What became of one request.
#[derive(Debug, PartialEq)]
pub enum Outcome {
    /// 2xx.
    Delivered,
    /// Try the same batch again later.
    Retry {
        /// Why.
        reason: FailReason,
        /// What the endpoint said, for the log.
        detail: String,
        /// Its `Retry-After`, if any.
        after: Option<Duration>,
    },
    /// Refused for good.
    Reject {
        /// HTTP status.
        status: u16,
        /// The endpoint's explanation.
        detail: String,
    },
}

/// The decision for an HTTP status.
pub fn decide(status: u16, detail: String, after: Option<Duration>) -> Outcome {
    match status {
        200..=299 => Outcome::Delivered,
        408 => Outcome::Retry {
            reason: FailReason::Timeout,
            detail,
            after,
        },
        429 => Outcome::Retry {
            reason: FailReason::TooManyRequests,
            detail,
            after,
        },
        500..=599 => Outcome::Retry {
            reason: FailReason::ServerError,
            detail,
            after,
        },
        _ => Outcome::Reject { status, detail },
    }
}

/// Runs until `cancel`.
pub async fn run(ep: Arc<Endpoint>, cancel: CancellationToken) {
    let name = ep.config.name.clone();
    loop {
        if !wait_for_batch(&ep, &cancel).await {
            return;
        }
        let Some(batch) = ep.queue.take(ep.config.batch_samples) else {
            continue;
        };
        let read = {
            let b = batch.clone();
            tokio::task::spawn_blocking(move || Queue::read(&b)).await
        };
        let body = match read {
            Ok(Ok(body)) => body,
            Ok(Err(e)) => {
                tracing::error!(endpoint = %name, error = %e, "Cannot read the remote_write queue; retrying.");
                ep.queue.untake();
                if sleep_or_cancel(ep.config.max_backoff, &cancel).await {
                    return;
                }
                continue;
            }
            Err(e) => {
                tracing::error!(endpoint = %name, error = %e, "Reading the remote_write queue failed; retrying.");
                ep.queue.untake();
                continue;
            }
        };
        // The records are compressed one by one; the request is one
        // WriteRequest, compressed whole.
        let mut protobuf = Vec::new();
        let mut unreadable = 0u64;
        for (samples, payload) in &body.records {
            match snap::raw::Decoder::new().decompress_vec(payload) {
                Ok(p) => protobuf.extend_from_slice(&p),
                Err(_) => unreadable += u64::from(*samples),
            }
        }
        let mut body = body;
        body.samples -= unreadable;
        body.corrupt_samples += unreadable;
        if body.corrupt_samples > 0 {
            tracing::warn!(endpoint = %name, samples = body.corrupt_samples, "Damaged records in the remote_write queue dropped.");
        }
        let outcome = if body.samples == 0 {
            // Nothing readable (dropped or damaged meanwhile).
            Some(Settled::Sent(0))
        } else {
            deliver(
                &ep,
                bytes::Bytes::from(proto::compress(&protobuf)),
                body.samples,
                &cancel,
            )
            .await
        };
        let Some(outcome) = outcome else {
            ep.queue.untake();
            return;
        };
        let settled = {
            let ep = ep.clone();
            let corrupt = body.corrupt_samples;
            tokio::task::spawn_blocking(move || ep.queue.settle(&batch, outcome, corrupt)).await
        };
        match settled {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                tracing::error!(endpoint = %name, error = %e, "Cannot record delivery in the remote_write queue; these samples may be sent again after a restart.");
            }
            Err(e) => tracing::error!(endpoint = %name, error = %e, "Recording delivery failed."),
        }
    }
}

/// Waits until a batch is worth sending: a full one, or the oldest sample
/// has waited `batch_wait`. False on cancellation.
async fn wait_for_batch(ep: &Endpoint, cancel: &CancellationToken) -> bool {
    loop {
        if cancel.is_cancelled() {
            return false;
        }
        let p = ep.queue.pending();
        if p.samples >= ep.config.batch_samples {
            return true;
        }
        let notified = ep.queue.appended.notified();
        match p.oldest_enqueued_ms {
            Some(oldest) => {
                let waited = crate::fleet::now_ms().saturating_sub(oldest).max(0) as u64;
                let wait_ms = (ep.config.batch_wait.as_millis() as u64).saturating_sub(waited);
                if wait_ms == 0 {
                    return true;
                }
                tokio::select! {
                    _ = notified => {}
                    _ = tokio::time::sleep(Duration::from_millis(wait_ms)) => {}
                    _ = cancel.cancelled() => return false,
                }
            }
            None => tokio::select! {
                _ = notified => {}
                _ = cancel.cancelled() => return false,
            },
        }
    }
}

/// Sends `body` until it is delivered or refused; `None` if cancelled
/// first.
async fn deliver(
    ep: &Endpoint,
    body: bytes::Bytes,
    samples: u64,
    cancel: &CancellationToken,
) -> Option<Settled> {
    let name = &ep.config.name;
    let mut backoff = MIN_BACKOFF;
    let mut failures = 0u64;
    let mut last_log: Option<tokio::time::Instant> = None;
    loop {
        match send(ep, body.clone()).await {
            Outcome::Delivered => {
                ep.stats
                    .last_success_ms
                    .store(crate::fleet::now_ms(), Ordering::Relaxed);
                if failures > 0 {
                    tracing::info!(endpoint = %name, failures, "Remote-write endpoint accepting again.");
                }
                return Some(Settled::Sent(samples));
            }
            Outcome::Reject { status, detail } => {
                if let Some(held_back) = ep.stats.reject_log.ready() {
                    tracing::warn!(endpoint = %name, status, samples, detail = %detail, refusals_not_logged = held_back, "Remote-write endpoint refused a batch; dropped, it would be refused again (logged at most once a minute; see schoolwatch_remote_write_samples_dropped_total).");
                }
                return Some(Settled::Rejected(samples));
            }
            Outcome::Retry {
                reason,
                detail,
                after,
            } => {
                failures += 1;
                ep.stats.failed[reason.index()].fetch_add(samples, Ordering::Relaxed);
                if last_log.is_none_or(|t| t.elapsed() >= LOG_EVERY) {
                    tracing::warn!(endpoint = %name, reason = reason.as_str(), failures, pending = ep.queue.pending().samples, detail = %detail, "Remote-write endpoint unavailable; retrying (samples wait in the queue).");
                    last_log = Some(tokio::time::Instant::now());
                }
                let delay = after
                    .unwrap_or_else(|| schoolwatch_agent::runner::jitter(backoff))
                    .min(ep.config.max_backoff);
                backoff = (backoff * 2).min(ep.config.max_backoff);
                if sleep_or_cancel(delay, cancel).await {
                    return None;
                }
            }
        }
    }
}

/// True when cancelled before `d` passed.
async fn sleep_or_cancel(d: Duration, cancel: &CancellationToken) -> bool {
    tokio::select! {
        _ = tokio::time::sleep(d) => false,
        _ = cancel.cancelled() => true,
    }
}

/// One POST.
async fn send(ep: &Endpoint, body: bytes::Bytes) -> Outcome {
    use reqwest::header;
    let c = &ep.config;
    let mut req = ep
        .client
        .post(c.url.clone())
        .header(header::CONTENT_ENCODING, proto::CONTENT_ENCODING)
        .header(header::CONTENT_TYPE, proto::CONTENT_TYPE)
        .header(proto::VERSION_HEADER, proto::VERSION)
        .timeout(c.timeout)
        .body(body);
    match &c.auth {
        super::Auth::None => {}
        super::Auth::Bearer(t) => req = req.bearer_auth(t.expose()),
        super::Auth::Basic { user, password } => {
            req = req.basic_auth(user, Some(password.expose()));
        }
    }
    for (k, v) in &c.headers {
        req = req.header(k.clone(), v.clone());
    }
    let resp = match req.send().await {
        Ok(r) => r,
        Err(e) => {
            let reason = if e.is_timeout() {
                FailReason::Timeout
            } else {
                FailReason::Network
            };
            return Outcome::Retry {
                reason,
                detail: schoolwatch_agent::ship::client::chain(&e),
                after: None,
            };
        }
    };
    let status = resp.status().as_u16();
    let after = resp
        .headers()
        .get(header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs);
    // Read the answer so the connection can be reused; keep a line of it.
    let text = resp.bytes().await.unwrap_or_default();
    let mut detail: String = String::from_utf8_lossy(&text).chars().take(300).collect();
    detail = detail.trim().replace('\n', " ");
    decide(status, detail, after)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_decisions() {
        assert_eq!(decide(204, String::new(), None), Outcome::Delivered);
        for s in [408, 429, 500, 502, 503, 504] {
            assert!(
                matches!(decide(s, String::new(), None), Outcome::Retry { .. }),
                "{s}"
            );
        }
        // A 400 for an out-of-order sample must not wedge the queue.
        for s in [400, 401, 403, 404, 409, 413, 422] {
            assert!(
                matches!(decide(s, String::new(), None), Outcome::Reject { .. }),
                "{s}"
            );
        }
        match decide(429, "slow down".into(), Some(Duration::from_secs(7))) {
            Outcome::Retry { reason, after, .. } => {
                assert_eq!(reason, FailReason::TooManyRequests);
                assert_eq!(after, Some(Duration::from_secs(7)));
            }
            other => panic!("{other:?}"),
        }
    }
}
