//! The `--server` URL an agent is given, taken apart: what `shotfarm agent` dials and where
//! enrollment asks.

use anyhow::bail;

/// The host (and port) and the path (without its leading `/`) of the `--server` URL, an
/// `http://` (or `ws://`) one.
pub fn host_and_path(server: &str) -> anyhow::Result<(&str, &str)> {
    let s = server.trim().trim_end_matches('/');
    let rest = match s.split_once("://") {
        Some(("http" | "ws", rest)) if !rest.is_empty() => rest,
        Some(("https" | "wss", _)) => bail!(
            "TLS is not built into the agent: use http:// on a private network, or a TLS tunnel \
             to the server"
        ),
        _ => bail!("--server must be an http:// URL, e.g. http://farm.internal:8080"),
    };
    Ok(rest.split_once('/').unwrap_or((rest, "")))
}
