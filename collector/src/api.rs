//! HTTP routes: enrollment, report ingest, `/metrics`, `/healthz`.
//!
//! Everything an agent sends is untrusted. Each refusal has one status and
//! one `schoolwatch_ingest_rejected_total{reason}`: 400 malformed, 401
//! unknown or revoked credential, 413 too large (as sent or decompressed),
//! 415 wrong content type or encoding, 422 unsupported version or over a
//! limit, 429 rate-limited (with `Retry-After`), 408 body too slow. The
//! school always comes from the credential, never from the payload.

use crate::body::BodyError;
use crate::config::IngestLimits;
use crate::fleet::{Fleet, now_ms};
use crate::metrics::{Metrics, Reject};
use crate::ratelimit::RateLimiter;
use crate::store::{Identity, Store};
use crate::targets::Targets;
use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use schoolwatch_protocol::api::{
    Ack, ENROLL_PATH, EnrollRequest, EnrollResponse, ErrorBody, REPORTS_PATH,
    SPEEDTEST_DOWNLOAD_PATH, SPEEDTEST_UPLOAD_PATH,
};
use schoolwatch_protocol::{DecodeError, Limits, decode_batch};
use std::sync::Arc;
use std::time::Duration;

/// What every handler shares.
pub struct AppState {
    /// The database.
    pub store: Arc<Store>,
    /// Group-committing writer for reports.
    pub ingester: crate::ingest::Ingester,
    /// Counters and exposition.
    pub metrics: Arc<Metrics>,
    /// Request bounds.
    pub limits: IngestLimits,
    /// Per-credential request budget.
    pub rate: RateLimiter,
    /// Online window for `/metrics`.
    pub online_window: Duration,
    /// The plan's targets, for coverage gauges.
    pub targets: Targets,
    /// The fleet picture `/metrics` encodes, shared by scrapes close in time.
    pub fleet: crate::fleet::FleetCache,
    /// remote_write endpoints and their queues; `run` starts their senders.
    pub remote_write: Arc<crate::remote_write::RemoteWrite>,
}

/// The collector's routes.
pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route(ENROLL_PATH, post(enroll))
        .route(REPORTS_PATH, post(reports))
        .route(SPEEDTEST_DOWNLOAD_PATH, get(crate::speedtest::download))
        .route(SPEEDTEST_UPLOAD_PATH, post(crate::speedtest::upload))
        .route("/metrics", get(metrics))
        .route("/healthz", get(healthz))
        .with_state(state)
}

/// An error answer: status, the counter's reason, and a message for people.
struct Refusal {
    status: StatusCode,
    reason: Option<Reject>,
    message: String,
    retry_after: Option<u64>,
}

impl Refusal {
    fn new(status: StatusCode, reason: Reject, message: impl Into<String>) -> Self {
        Self {
            status,
            reason: Some(reason),
            message: message.into(),
            retry_after: None,
        }
    }

    fn internal(e: impl std::fmt::Display) -> Self {
        tracing::error!(error = %e, "Request failed inside the collector.");
        Self {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            reason: None,
            message: "internal error; the agent will retry".into(),
            retry_after: None,
        }
    }

    fn into_response(self, metrics: &Metrics) -> Response {
        match self.reason {
            Some(r) => metrics.reject(r),
            None => {
                metrics.internal_errors.inc();
            }
        }
        let mut resp = (
            self.status,
            axum::Json(ErrorBody {
                error: self.message,
            }),
        )
            .into_response();
        if let Some(secs) = self.retry_after {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        resp
    }
}

/// Reads the body within the size and time limits, then decompresses it
/// (gzip) within the decompressed limit.
async fn read_body(
    limits: &IngestLimits,
    headers: &HeaderMap,
    body: Body,
) -> Result<Vec<u8>, Refusal> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limits.max_body_bytes) {
        return Err(too_large(limits.max_body_bytes));
    }
    let raw = match tokio::time::timeout(
        limits.body_timeout,
        axum::body::to_bytes(body, limits.max_body_bytes),
    )
    .await
    {
        Err(_) => {
            return Err(Refusal::new(
                StatusCode::REQUEST_TIMEOUT,
                Reject::Timeout,
                "the request body did not arrive in time",
            ));
        }
        // to_bytes fails when the limit is hit (or the client went away).
        Ok(Err(_)) => return Err(too_large(limits.max_body_bytes)),
        Ok(Ok(b)) => b,
    };
    let encoding = headers
        .get(header::CONTENT_ENCODING)
        .map(|v| v.to_str().unwrap_or("?"));
    crate::body::decode(encoding, &raw, limits.max_decompressed_bytes).map_err(|e| {
        let (status, reason) = match e {
            BodyError::Corrupt(_) => (StatusCode::BAD_REQUEST, Reject::Malformed),
            BodyError::TooLarge { .. } => {
                (StatusCode::PAYLOAD_TOO_LARGE, Reject::DecompressedTooLarge)
            }
            BodyError::UnsupportedEncoding(_) => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                Reject::UnsupportedMediaType,
            ),
        };
        Refusal::new(status, reason, e.to_string())
    })
}

fn too_large(max: usize) -> Refusal {
    Refusal::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        Reject::TooLarge,
        format!("the request body is over {max} bytes; send smaller batches"),
    )
}

fn require_json(headers: &HeaderMap) -> Result<(), Refusal> {
    let ok = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(';')
                .next()
                .is_some_and(|m| m.trim() == "application/json")
        });
    if ok {
        Ok(())
    } else {
        Err(Refusal::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Reject::UnsupportedMediaType,
            "send Content-Type: application/json",
        ))
    }
}

/// Runs blocking store work off the async threads.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, crate::store::StoreError> + Send + 'static,
) -> Result<T, Refusal> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(Refusal::internal)?
        .map_err(Refusal::internal)
}

// === enroll ===

async fn enroll(State(st): State<Arc<AppState>>, headers: HeaderMap, body: Body) -> Response {
    match enroll_inner(&st, &headers, body).await {
        Ok(r) => {
            st.metrics.enrollments.inc();
            axum::Json(r).into_response()
        }
        Err(e) => e.into_response(&st.metrics),
    }
}

async fn enroll_inner(
    st: &AppState,
    headers: &HeaderMap,
    body: Body,
) -> Result<EnrollResponse, Refusal> {
    require_json(headers)?;
    let bytes = read_body(&st.limits, headers, body).await?;
    let req: EnrollRequest = serde_json::from_slice(&bytes).map_err(|e| {
        Refusal::new(
            StatusCode::BAD_REQUEST,
            Reject::Malformed,
            format!("malformed enrollment: {e}"),
        )
    })?;
    let max = Limits::DEFAULT.max_string_bytes;
    if req.token.len() > max
        || req.fingerprint.len() > max
        || req.hostname.len() > max
        || req.fingerprint.is_empty()
    {
        return Err(Refusal::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            Reject::Limits,
            format!("token, fingerprint and hostname must be 1 to {max} bytes"),
        ));
    }
    let store = st.store.clone();
    let result =
        blocking(move || store.enroll(&req.token, &req.fingerprint, &req.hostname, now_ms()))
            .await?;
    match result {
        Ok(e) => {
            tracing::info!(agent = %e.agent_id, school = %e.school_id, reenrolled = e.reenrolled, "Agent enrolled.");
            Ok(EnrollResponse {
                agent_id: e.agent_id,
                credential: e.credential,
                school_id: e.school_id,
                reenrolled: e.reenrolled,
                last_sequence: e.last_sequence,
            })
        }
        Err(e) => Err(Refusal::new(
            StatusCode::UNAUTHORIZED,
            Reject::Unauthorized,
            e.to_string(),
        )),
    }
}

// === reports ===

async fn reports(State(st): State<Arc<AppState>>, headers: HeaderMap, body: Body) -> Response {
    match reports_inner(&st, &headers, body).await {
        Ok(ack) => axum::Json(ack).into_response(),
        Err(e) => e.into_response(&st.metrics),
    }
}

async fn authenticate(st: &AppState, headers: &HeaderMap) -> Result<Identity, Refusal> {
    let unauthorized = |m: &str| Refusal::new(StatusCode::UNAUTHORIZED, Reject::Unauthorized, m);
    let credential = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or_else(|| {
            unauthorized(
                "send the agent credential as `Authorization: Bearer ...`; enroll the agent first",
            )
        })?
        .to_owned();
    if credential.len() > 128 {
        return Err(unauthorized(
            "unknown or revoked credential; re-enroll the agent",
        ));
    }
    // One indexed lookup on its own connection: cheaper inline than the
    // thread hand-off of spawn_blocking.
    st.store
        .authenticate(&credential)
        .map_err(Refusal::internal)?
        .ok_or_else(|| unauthorized("unknown or revoked credential; re-enroll the agent"))
}

/// Authenticates and charges the request to the credential's budget.
async fn authenticate_within_budget(
    st: &AppState,
    headers: &HeaderMap,
) -> Result<Identity, Refusal> {
    let who = authenticate(st, headers).await?;
    if let Err(wait) = st.rate.check(&who.agent_id) {
        let secs = wait.as_secs().max(1);
        let mut r = Refusal::new(
            StatusCode::TOO_MANY_REQUESTS,
            Reject::RateLimited,
            format!("too many requests from this agent; retry in {secs} s"),
        );
        r.retry_after = Some(secs);
        return Err(r);
    }
    Ok(who)
}

/// For other routes that need an agent (the throughput test): the same
/// authentication, budget and counted refusals as report ingest.
pub(crate) async fn admit(st: &AppState, headers: &HeaderMap) -> Result<Identity, Response> {
    authenticate_within_budget(st, headers)
        .await
        .map_err(|r| r.into_response(&st.metrics))
}

async fn reports_inner(st: &AppState, headers: &HeaderMap, body: Body) -> Result<Ack, Refusal> {
    let who = authenticate_within_budget(st, headers).await?;
    require_json(headers)?;
    let bytes = read_body(&st.limits, headers, body).await?;
    let reports = decode_batch(&bytes, &Limits::DEFAULT, st.limits.max_reports_per_batch).map_err(|e| {
        let (status, reason) = match &e {
            DecodeError::TooLarge { .. } => (StatusCode::PAYLOAD_TOO_LARGE, Reject::TooLarge),
            DecodeError::Malformed(_) => (StatusCode::BAD_REQUEST, Reject::Malformed),
            DecodeError::UnsupportedVersion { .. } => (StatusCode::UNPROCESSABLE_ENTITY, Reject::UnsupportedVersion),
            DecodeError::Limit(_) => (StatusCode::UNPROCESSABLE_ENTITY, Reject::Limits),
        };
        tracing::warn!(agent = %who.agent_id, school = %who.school_id, error = %e, "Report batch refused.");
        Refusal::new(status, reason, e.to_string())
    })?;
    let acknowledged: Vec<u64> = reports.iter().map(|r| r.sequence).collect();
    let outcome = st
        .ingester
        .submit(who, reports)
        .await
        .map_err(Refusal::internal)?;
    st.metrics
        .reports_accepted
        .inc_by(u64::from(outcome.accepted));
    st.metrics
        .reports_duplicate
        .inc_by(u64::from(outcome.duplicates));
    Ok(Ack {
        acknowledged,
        accepted: outcome.accepted,
        duplicates: outcome.duplicates,
    })
}

// === metrics and health ===

/// `/metrics[?part=all|fleet|hosts][&district=NAME]`.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct MetricsQuery {
    part: Option<String>,
    district: Option<String>,
}

async fn metrics(
    State(st): State<Arc<AppState>>,
    headers: HeaderMap,
    axum::extract::RawQuery(query): axum::extract::RawQuery,
) -> Response {
    let openmetrics = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/openmetrics-text"));
    let selection = match selection(query.as_deref()) {
        Ok(s) => s,
        Err(message) => {
            return (
                StatusCode::BAD_REQUEST,
                axum::Json(ErrorBody { error: message }),
            )
                .into_response();
        }
    };
    let store = st.store.clone();
    let targets = st.targets.clone();
    let window = st.online_window;
    // Several collectors sharing one database would each expose the same
    // fleet, and sums over them would count every school twice: only the
    // leader does; the others expose their own counters (README, "Scaling
    // out").
    let leader = {
        let store = st.store.clone();
        tokio::task::spawn_blocking(move || store.is_leader())
            .await
            .unwrap_or(false)
    };
    let fleet = if leader {
        match st
            .fleet
            .get(move || Fleet::load(&store, &targets, window, now_ms()))
            .await
        {
            Ok(f) => Some(f),
            Err(e) => return Refusal::internal(e).into_response(&st.metrics),
        }
    } else {
        None
    };
    // Encoding tens of thousands of hosts takes a while: off the async
    // threads, so ingest goes on meanwhile, and streamed in chunks as it
    // is written (the whole text of 50,000 hosts is about 300 MB).
    let window_ms = i64::try_from(window.as_millis()).unwrap_or(i64::MAX);
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    let state = st.clone();
    tokio::task::spawn_blocking(move || {
        let mut out = crate::body::ChunkWriter::new(tx);
        // A failure here is the client going away: nothing to report.
        if state
            .metrics
            .encode_into(
                &mut out,
                fleet,
                window_ms,
                &state.targets,
                &selection,
                openmetrics,
            )
            .is_ok()
        {
            out.finish();
        }
    });
    let chunks = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv()
            .await
            .map(|chunk| (Ok::<_, std::io::Error>(chunk), rx))
    });
    (
        [(
            header::CONTENT_TYPE,
            crate::metrics::content_type(openmetrics),
        )],
        Body::from_stream(chunks),
    )
        .into_response()
}

/// Reads the query of `/metrics`; an unknown part or key is a clear 400.
fn selection(query: Option<&str>) -> Result<crate::metrics::Selection, String> {
    use crate::metrics::{Part, Selection};
    let Some(query) = query else {
        return Ok(Selection::default());
    };
    let q: MetricsQuery = serde_urlencoded::from_str(query).map_err(|e| {
        format!("bad /metrics query {query:?}: {e}; allowed: part=all|fleet|hosts, district=NAME")
    })?;
    let part = match q.part.as_deref() {
        None => Part::All,
        Some(p) => Part::parse(p).ok_or_else(|| {
            format!("unknown part {p:?} in /metrics?part=; allowed: all, fleet, hosts")
        })?,
    };
    if q.district.is_some() && part == Part::Fleet {
        return Err("district= selects hosts; use it with part=hosts (or no part)".to_owned());
    }
    Ok(Selection {
        part,
        district: q.district,
    })
}

async fn healthz(State(st): State<Arc<AppState>>) -> Response {
    let store = st.store.clone();
    match blocking(move || store.schools().map(|s| s.len())).await {
        Ok(n) => (StatusCode::OK, format!("ok: {n} schools\n")).into_response(),
        Err(_) => (StatusCode::SERVICE_UNAVAILABLE, "database unavailable\n").into_response(),
    }
}
