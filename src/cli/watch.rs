//! Follows one video on its progress websocket: applies the snapshot and each event once, in
//! `seq` order, and reconnects with `since` after a dropped connection, so what it shows ends
//! the same as if the connection had never dropped.

use std::net::TcpStream;
use std::time::Duration;

use anyhow::bail;
use tungstenite::client::IntoClientRequest;
use tungstenite::http::header::AUTHORIZATION;
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::stream::MaybeTlsStream;
use tungstenite::{Message, WebSocket};

use super::bars::Bars;
use super::follow::{Follow, Frame};

/// Reconnections in a row that may fail before giving up.
const MAX_RETRIES: u32 = 10;
/// Longer than the server's ping period: silence this long means the connection is dead.
const READ_TIMEOUT: Duration = Duration::from_secs(45);

/// Follows `video` until it is final, drawing bars on the terminal; returns what it saw last.
pub fn follow(server: &str, token: &str, video: &str) -> anyhow::Result<Follow> {
    let mut follow = Follow::default();
    let mut bars = Bars::new();
    let mut failures = 0;
    loop {
        match session(server, token, video, &mut follow, &mut bars) {
            Ok(()) if follow.is_final() => break,
            Ok(()) => failures = 0,
            Err(Refused(why)) => bail!(why),
            Err(Dropped(why)) => {
                failures += 1;
                if failures > MAX_RETRIES {
                    bail!("gave up after {MAX_RETRIES} failed reconnections: {why}");
                }
                bars.note(&format!("connection lost ({why}); reconnecting"));
                std::thread::sleep(Duration::from_millis(200 * 2u64.pow(failures.min(5))));
            }
        }
    }
    bars.finish(&follow);
    Ok(follow)
}

/// Why a session ended other than normally.
enum Ended {
    /// The server said no (401, 404, 1008): retrying would not help.
    Refused(String),
    /// The connection broke: reconnect with `since`.
    Dropped(String),
}
use Ended::{Dropped, Refused};

/// One websocket connection, until it closes.
fn session(
    server: &str,
    token: &str,
    video: &str,
    follow: &mut Follow,
    bars: &mut Bars,
) -> Result<(), Ended> {
    let mut ws = connect(server, token, video, follow.last_seq)?;
    loop {
        match ws.read() {
            Ok(Message::Text(text)) => {
                let Ok(frame) = serde_json::from_str::<Frame>(text.as_str()) else {
                    continue;
                };
                let change = follow.apply(frame);
                bars.show(follow, &change);
            }
            Ok(Message::Close(close)) => {
                let code = close.as_ref().map(|c| c.code);
                if code == Some(CloseCode::Policy) {
                    return Err(Refused(
                        "the token expired while watching; get a new one and run again".into(),
                    ));
                }
                // Sends the close reply tungstenite queued; the connection then ends.
                let _ = ws.flush();
                return if follow.is_final() {
                    Ok(())
                } else {
                    Err(Dropped(format!("closed by the server ({code:?})")))
                };
            }
            Ok(_) => {}
            Err(tungstenite::Error::ConnectionClosed) if follow.is_final() => return Ok(()),
            Err(e) => return Err(Dropped(e.to_string())),
        }
    }
}

fn connect(
    server: &str,
    token: &str,
    video: &str,
    since: Option<u64>,
) -> Result<WebSocket<MaybeTlsStream<TcpStream>>, Ended> {
    let base = server
        .strip_prefix("http://")
        .map(|rest| format!("ws://{rest}"))
        .or_else(|| {
            server
                .strip_prefix("https://")
                .map(|r| format!("wss://{r}"))
        })
        .ok_or_else(|| {
            Refused(format!(
                "--server must start with http:// or https://: {server}"
            ))
        })?;
    let mut url = format!("{base}/api/v1/videos/{video}/progress");
    if let Some(since) = since {
        url.push_str(&format!("?since={since}"));
    }
    let mut request = url
        .as_str()
        .into_client_request()
        .map_err(|e| Refused(format!("bad url {url}: {e}")))?;
    let bearer = format!("Bearer {token}")
        .parse()
        .map_err(|_| Refused("the token has characters a header cannot carry".into()))?;
    request.headers_mut().insert(AUTHORIZATION, bearer);
    match tungstenite::connect(request) {
        Ok((ws, _)) => {
            if let MaybeTlsStream::Plain(stream) = ws.get_ref() {
                stream
                    .set_read_timeout(Some(READ_TIMEOUT))
                    .map_err(|e| Dropped(e.to_string()))?;
            }
            Ok(ws)
        }
        Err(tungstenite::Error::Http(resp)) => {
            let status = resp.status();
            let detail = resp
                .body()
                .as_deref()
                .and_then(|b| serde_json::from_slice::<serde_json::Value>(b).ok())
                .and_then(|p| p["detail"].as_str().map(str::to_owned))
                .unwrap_or_default();
            if status.is_server_error() {
                Err(Dropped(format!("{status} {detail}")))
            } else {
                Err(Refused(format!(
                    "the server refused to stream: {status} {detail}"
                )))
            }
        }
        Err(e) => Err(Dropped(e.to_string())),
    }
}
