//! [`Store::rewrite_text`](shotfarm_actors::ports::Store::rewrite_text) on Redis: the video's text fields
//! (the title in `meta`, each prompt in `s:<i>`) are read, mapped, and written back by a
//! compare-and-set script; a field a concurrent write changed is read and mapped again.

use std::collections::HashMap;
use std::time::Duration;

use redis::aio::ConnectionManager;
use redis::Script;
use serde_json::Value;

use crate::conn::{self, corrupt, unavailable};
use shotfarm_actors::ports::store::TextField;
use shotfarm_actors::ports::{StoreError, TextMap, TextRewritten};
use shotfarm_core::ids::VideoId;

/// Rounds of compare-and-set before giving up on a video whose shots never stop changing.
const ROUNDS: usize = 64;

/// Where a hash field keeps its texts: `meta`'s `title`; a shot's `spec.prompt` and, for a story
/// video's script job, its `output` (the script, sealed like prompts).
fn texts_of<'a>(field: &str, value: &'a mut Value) -> Vec<(TextField, &'a mut Value)> {
    if field == "meta" {
        return value
            .get_mut("title")
            .filter(|t| t.is_string())
            .map(|t| vec![(TextField::Title, t)])
            .unwrap_or_default();
    }
    let i = field
        .strip_prefix("s:")
        .and_then(|i| i.parse().ok())
        .unwrap_or(0);
    let Some(obj) = value.as_object_mut() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (k, v) in obj.iter_mut() {
        match k.as_str() {
            "spec" => out.extend(v.get_mut("prompt").map(|p| (TextField::Prompt(i), p))),
            "output" if v.is_string() => out.push((TextField::Output(i), v)),
            _ => {}
        }
    }
    out
}

/// A field's text after the mapping.
enum Mapped {
    /// The field holds no text (a video without a title).
    NoText,
    /// The mapping leaves it.
    Same,
    /// The field's new JSON.
    New(String),
}

/// The field's JSON with its texts mapped.
fn mapped(id: &VideoId, field: &str, json: &str, map: &TextMap<'_>) -> Result<Mapped, StoreError> {
    let mut value: Value =
        serde_json::from_str(json).map_err(|e| corrupt(format!("video {id} {field}: {e}")))?;
    let texts = texts_of(field, &mut value);
    if texts.is_empty() {
        return Ok(Mapped::NoText);
    }
    let mut changed = false;
    for (which, text) in texts {
        let Some(old) = text.as_str() else {
            return Err(corrupt(format!("video {id} {field}: text is not a string")));
        };
        if let Some(new) = map(old).map_err(|reason| StoreError::unreadable(id, which, reason))? {
            *text = Value::String(new);
            changed = true;
        }
    }
    Ok(if changed {
        Mapped::New(value.to_string())
    } else {
        Mapped::Same
    })
}

/// Maps and compare-and-sets the video's title and prompts; `script` is `rewrite_text.lua`.
pub(super) async fn rewrite_text(
    conn: &ConnectionManager,
    script: &Script,
    id: &VideoId,
    map: &TextMap<'_>,
) -> Result<TextRewritten, StoreError> {
    let key = conn::video_key(id);
    let mut h: HashMap<String, String> = redis::cmd("HGETALL")
        .arg(&key)
        .query_async(&mut conn.clone())
        .await
        .map_err(unavailable)?;
    let n: usize = match h.get("n") {
        Some(n) => n
            .parse()
            .map_err(|e| corrupt(format!("video {id} n: {e}")))?,
        None => return Err(StoreError::NoSuchVideo(id.clone())),
    };
    let mut pending: Vec<(String, String)> = std::iter::once("meta".to_owned())
        .chain((0..n).map(|i| format!("s:{i}")))
        .filter_map(|f| h.remove(&f).map(|v| (f, v)))
        .collect();
    let mut done = TextRewritten::default();
    for round in 0..ROUNDS {
        let mut call = script.prepare_invoke();
        call.key(&key);
        let mut writes = 0;
        for (field, old) in &pending {
            match mapped(id, field, old, map)? {
                Mapped::NoText => {}
                Mapped::Same => done.unchanged += 1,
                Mapped::New(new) => {
                    call.arg(field).arg(old).arg(new);
                    writes += 1;
                }
            }
        }
        if writes == 0 {
            return Ok(done);
        }
        let reply: Vec<String> = call
            .invoke_async(&mut conn.clone())
            .await
            .map_err(unavailable)?;
        if reply.first().map(String::as_str) == Some("novideo") {
            return Err(StoreError::NoSuchVideo(id.clone()));
        }
        let raced = &reply[1.min(reply.len())..];
        done.rewritten += writes - raced.len();
        if raced.is_empty() {
            return Ok(done);
        }
        // Read what the concurrent writes left, and map that.
        let values: Vec<Option<String>> = redis::cmd("HMGET")
            .arg(&key)
            .arg(raced)
            .query_async(&mut conn.clone())
            .await
            .map_err(unavailable)?;
        pending = raced
            .iter()
            .cloned()
            .zip(values)
            .filter_map(|(f, v)| v.map(|v| (f, v)))
            .collect();
        tokio::time::sleep(Duration::from_millis(1 << round.min(6))).await;
    }
    Err(StoreError::Unavailable(format!(
        "video {id}: its text kept changing during {ROUNDS} rewrite rounds"
    )))
}
