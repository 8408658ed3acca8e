//! How the driver's websocket clients connect: one config for every watcher it opens.
//!
//! tungstenite zero-fills its whole free read buffer before every read (`read_buffer_size`,
//! 128 KiB by default), so a watcher of small event frames spent most of its reading in
//! `memset`: 8% of the driver's CPU in the throughput scenario, on the cores it shares with
//! the server it measures. Event frames are a few hundred bytes; a larger frame still reads
//! whole, since the buffer grows to the frame's length as it arrives.

use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// Bytes a watcher's read buffer offers each read.
pub const READ_BUFFER: usize = 8 * 1024;

/// The config every watcher connects with.
fn config() -> WebSocketConfig {
    WebSocketConfig::default().read_buffer_size(READ_BUFFER)
}

/// Opens a websocket to `url` with [`config`]; `nodelay` sets TCP_NODELAY.
pub async fn connect(
    url: &str,
    nodelay: bool,
) -> Result<WebSocketStream<MaybeTlsStream<TcpStream>>, tokio_tungstenite::tungstenite::Error> {
    let (ws, _) =
        tokio_tungstenite::connect_async_with_config(url, Some(config()), nodelay).await?;
    Ok(ws)
}
