//! The HTTP messages around reports: enrollment and acknowledgement.
//!
//! Paths: `POST /api/v1/enroll` takes an [`EnrollRequest`] and answers an
//! [`EnrollResponse`]; `POST /api/v1/reports` takes a [`crate::Batch`]
//! (JSON, optionally gzip) with `Authorization: Bearer <credential>` and
//! answers an [`Ack`]. Errors answer `{"error": "..."}`.

use serde::{Deserialize, Serialize};

/// Path of the enrollment endpoint.
pub const ENROLL_PATH: &str = "/api/v1/enroll";
/// Path of the report endpoint.
pub const REPORTS_PATH: &str = "/api/v1/reports";

/// Path of the throughput test's download (`GET ...?bytes=N`) and upload
/// (`POST`, answered with [`UploadResult`]); both need the credential.
pub const SPEEDTEST_DOWNLOAD_PATH: &str = "/api/v1/speedtest/download";
/// See [`SPEEDTEST_DOWNLOAD_PATH`].
pub const SPEEDTEST_UPLOAD_PATH: &str = "/api/v1/speedtest/upload";
/// Largest download or upload of one throughput test, bytes.
pub const SPEEDTEST_MAX_BYTES: u64 = 64 << 20;

/// The collector's answer to a throughput upload.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UploadResult {
    /// Bytes the collector received.
    pub bytes: u64,
}

/// What `schoolwatch-agent enroll` sends.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnrollRequest {
    /// The school's enrollment token.
    pub token: String,
    /// A hash of the machine's hardware identity; re-enrolling the same
    /// machine keeps its host.
    pub fingerprint: String,
    /// Host name, a label for people.
    pub hostname: String,
}

/// The collector's answer to an enrollment.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnrollResponse {
    /// The host's agent id.
    pub agent_id: String,
    /// The secret to send with every request.
    pub credential: String,
    /// The school the agent now belongs to.
    pub school_id: String,
    /// True when this machine already had a host in the school.
    pub reenrolled: bool,
    /// The highest report sequence the collector holds for this host (0
    /// for a new one). A machine enrolled again with a fresh state
    /// directory numbers its reports after it; starting again at 1 would
    /// make them duplicates of the old ones.
    #[serde(default)]
    pub last_sequence: u64,
}

/// The collector's acknowledgement of a batch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ack {
    /// Every sequence of the batch: stored now or before. The agent may
    /// drop these from its queue.
    pub acknowledged: Vec<u64>,
    /// How many were new.
    pub accepted: u32,
    /// How many had been stored already.
    pub duplicates: u32,
}

/// The body of every error answer.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ErrorBody {
    /// What went wrong and what to do, for people.
    pub error: String,
}
