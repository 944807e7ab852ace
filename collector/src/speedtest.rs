//! The throughput test's two endpoints: a download of N incompressible
//! bytes and an upload that is counted and thrown away. Both need an agent
//! credential and count against its request budget, so the endpoint cannot
//! be used to flood a school's link or the collector's.

use crate::api::AppState;
use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use schoolwatch_protocol::api::{SPEEDTEST_MAX_BYTES, UploadResult};
use std::sync::{Arc, OnceLock};

/// One block of random bytes, repeated: random so that no compression on
/// the path inflates the figure, shared so a test costs no allocation.
fn block() -> &'static [u8] {
    static BLOCK: OnceLock<Vec<u8>> = OnceLock::new();
    BLOCK.get_or_init(|| {
        let mut b = vec![0u8; 64 * 1024];
        // The OS random source failing is not recoverable.
        getrandom::fill(&mut b).expect("the OS random number generator works");
        b
    })
}

#[derive(serde::Deserialize)]
pub(crate) struct DownloadQuery {
    bytes: u64,
}

pub(crate) async fn download(
    State(st): State<Arc<AppState>>,
    headers: HeaderMap,
    Query(q): Query<DownloadQuery>,
) -> Response {
    if let Err(r) = crate::api::admit(&st, &headers).await {
        return r;
    }
    if q.bytes == 0 || q.bytes > SPEEDTEST_MAX_BYTES {
        return (
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("bytes must be 1 to {SPEEDTEST_MAX_BYTES}"),
        )
            .into_response();
    }
    let block = block();
    let full = (q.bytes / block.len() as u64) as usize;
    let rest = (q.bytes % block.len() as u64) as usize;
    let chunks = std::iter::repeat_n(block, full)
        .chain((rest > 0).then(|| &block[..rest]))
        .map(|c| Ok::<_, std::io::Error>(axum::body::Bytes::from_static(c)));
    (
        [
            (header::CONTENT_TYPE, "application/octet-stream"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        [(header::CONTENT_LENGTH, q.bytes.to_string())],
        Body::from_stream(futures_util::stream::iter(chunks)),
    )
        .into_response()
}

pub(crate) async fn upload(
    State(st): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    if let Err(r) = crate::api::admit(&st, &headers).await {
        return r;
    }
    let mut bytes = 0u64;
    let mut stream = body.into_data_stream();
    while let Some(chunk) = stream.next().await {
        match chunk {
            Ok(c) => {
                bytes += c.len() as u64;
                if bytes > SPEEDTEST_MAX_BYTES {
                    return (StatusCode::PAYLOAD_TOO_LARGE, "upload too large").into_response();
                }
            }
            Err(_) => return (StatusCode::BAD_REQUEST, "upload interrupted").into_response(),
        }
    }
    axum::Json(UploadResult { bytes }).into_response()
}
