//! Platforms without posture checks yet (Windows, macOS, the BSDs): every
//! check is `unknown`, so the collector sees the machine and knows why its
//! posture is missing. A Windows set (Windows Firewall profiles, Defender
//! state, Windows Update) belongs here behind `#[cfg(windows)]`.

use super::{Ctx, Finding};
use schoolwatch_protocol::ListeningSocket;

const UNSUPPORTED: &str = "not supported on this platform yet";

/// Nothing to share between checks here.
#[derive(Default)]
pub struct Cache;

/// Every check: unknown.
pub fn evaluate(_id: &str, _ctx: &Ctx) -> Finding {
    Finding::unknown(UNSUPPORTED)
}

/// The listening sockets: unknown.
pub fn listening(_ctx: &Ctx) -> Result<Vec<ListeningSocket>, String> {
    Err(UNSUPPORTED.to_owned())
}
