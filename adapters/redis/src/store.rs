//! The Redis store: videos and shots in per-video hashes, listings in lexically sorted indexes,
//! the queue's durable half (the set of queued shots every server sweeps), node leases that
//! expire, and the fenced shot write as one Lua script that also logs the write's events in seq
//! order (see [`crate::conn`] for the key layout).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::Utc;
use dashmap::DashMap;
use redis::aio::ConnectionManager;
use redis::Script;

use crate::conn::{self, corrupt, unavailable, RedisConn};
use crate::durability::FsyncWait;
use shotfarm_actors::ports::store::{ShotWritten, VideoChange};
use shotfarm_actors::ports::{
    Once, Replay, Store, StoreError, TextMap, TextRewritten, VideoPage, VideoQuery,
};
use shotfarm_core::domain::{
    FarmEvent, Priority, ShotEvent, ShotPreview, ShotRecord, ShotState, VideoHead, VideoRecord,
    VideoState,
};
use shotfarm_core::ids::{NodeId, OwnerId, ShotId, VideoId};

mod batch;
mod rewrite;
mod summary;

use summary::summary;

/// Videos loaded per round trip when listing or sweeping.
const LOAD_BATCH: usize = 256;
/// Videos whose last logged seq is remembered; past this the memory is cleared (it only spares
/// the bus a redundant append, and a video whose final events are never published here, or
/// that another server finished, is never removed).
const LOGGED_MAX: usize = 100_000;

/// The store over one Redis (or a Sentinel-managed primary).
pub struct RedisStore {
    conn: ConnectionManager,
    create: Script,
    /// Accepted videos wait for the append-only file's fsync where Redis can (7.2+).
    fsync: FsyncWait,
    /// Where shot writes go, to share pipelines and a video's script call.
    batcher: batch::Batcher,
    /// The compare-and-set of [`Store::rewrite_text`] (hashed once, not per video rekeyed).
    rewrite: Script,
    /// The owner's change of a video's priority (`prio`, read over `meta`'s).
    set_priority: Script,
    /// Per video, the last seq this store logged (shared with the bus on the same connection,
    /// which need not log those events again).
    logged: Arc<DashMap<VideoId, u64>>,
}

impl RedisStore {
    /// A store on an open connection.
    pub fn new(conn: &RedisConn) -> Self {
        let write = Script::new(include_str!("lua/write_shots.lua"));
        Self {
            batcher: batch::Batcher::spawn(conn.manager.clone(), write),
            conn: conn.manager.clone(),
            create: Script::new(include_str!("lua/create_video.lua")),
            fsync: conn.fsync.clone(),
            rewrite: Script::new(include_str!("lua/rewrite_text.lua")),
            set_priority: Script::new(include_str!("lua/set_priority.lua")),
            logged: Arc::clone(&conn.logged),
        }
    }

    /// Runs the create script: `Ok(None)` when it stored `video`, `Some` with the earlier video
    /// when `once`'s key created one, [`StoreError::Duplicate`] when `video`'s id exists, and
    /// [`StoreError::Unavailable`] when the sweep refunded its charge before it came (the caller
    /// submits again, as after any 503).
    async fn run_create(
        &self,
        video: &VideoRecord,
        once: Option<&Once>,
    ) -> Result<Option<Replay>, StoreError> {
        let meta = VideoRecord {
            shots: Vec::new(),
            ..video.clone()
        };
        let mut call = self.create.prepare_invoke();
        call.key(conn::video_key(&video.id))
            .key(conn::UNFINISHED)
            .key(conn::QUEUED)
            .key(conn::INDEX_ALL)
            .key(conn::owner_index(&video.owner))
            .key(crate::accounts::charge_key(&video.id))
            .arg(video.id.as_str())
            .arg(json(&meta)?)
            .arg(video.state.as_str())
            .arg(video.seq)
            .arg(json(&video.updated_at)?)
            .arg(video.shots.len())
            .arg(index_member(
                video.created_at.timestamp_micros(),
                video.id.as_str(),
            ));
        let counted = |f: fn(&ShotRecord) -> bool| video.shots.iter().filter(|s| f(s)).count();
        call.arg(counted(|s| s.state.is_final()))
            .arg(counted(|s| s.state == ShotState::Completed))
            .arg(counted(|s| s.state == ShotState::Failed))
            .arg(counted(|s| {
                s.state != ShotState::Queued || s.attempt > 1 || s.step > 0
            }));
        for shot in &video.shots {
            let queued = if shot.state == ShotState::Queued {
                shot.id.as_str()
            } else {
                ""
            };
            call.arg(json(shot)?).arg(summary(shot)).arg(queued);
        }
        if let Some(once) = once {
            call.key(conn::once_key(&once.owner, &once.key))
                .arg(format!("{}|{}", video.id, once.fingerprint))
                .arg(
                    u64::try_from(once.ttl.as_millis())
                        .unwrap_or(u64::MAX)
                        .max(1),
                );
        }
        let (created, seen): (i64, String) = call
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(unavailable)?;
        match (created, once) {
            (1, _) => {
                self.fsync.wait(&mut self.conn.clone()).await?;
                Ok(None)
            }
            (2, Some(once)) => replay_of(&seen, once).map(Some),
            (3, _) => Err(StoreError::Unavailable(format!(
                "video {} was not stored: its charge was refunded first (the store took longer \
                 than store.charge_grace to create it); submit it again",
                video.id
            ))),
            _ => Err(StoreError::Duplicate(video.id.clone())),
        }
    }

    async fn load_videos(&self, ids: &[String]) -> Result<Vec<VideoRecord>, StoreError> {
        let mut out = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(LOAD_BATCH) {
            let mut pipe = redis::pipe();
            for id in chunk {
                pipe.cmd("HGETALL")
                    .arg(conn::video_key(&VideoId::from(id.as_str())));
            }
            let hashes: Vec<HashMap<String, String>> = pipe
                .query_async(&mut self.conn.clone())
                .await
                .map_err(unavailable)?;
            for h in hashes {
                if let Some(v) = decode_video(h)? {
                    out.push(v);
                }
            }
        }
        Ok(out)
    }
}

/// A key's record (`<video id>|<fingerprint>`) read back against the request now made.
fn replay_of(record: &str, once: &Once) -> Result<Replay, StoreError> {
    let (video, fingerprint) = record
        .split_once('|')
        .ok_or_else(|| corrupt(format!("idempotency record {record:?}")))?;
    Ok(Replay {
        video: VideoId::from(video),
        same_request: fingerprint == once.fingerprint,
    })
}

fn json<T: serde::Serialize>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| corrupt(format!("encode: {e}")))
}

/// The index member of a video: sorts newest last lexically, read in reverse.
fn index_member(micros: i64, id: &str) -> String {
    format!("{:020}:{id}", micros.max(0))
}

/// A video hash back into its record; `None` when the hash is gone.
fn decode_video(mut h: HashMap<String, String>) -> Result<Option<VideoRecord>, StoreError> {
    let Some(meta) = h.remove("meta") else {
        return Ok(None);
    };
    let mut video: VideoRecord =
        serde_json::from_str(&meta).map_err(|e| corrupt(format!("video meta: {e}")))?;
    let field = |h: &HashMap<String, String>, name: &str| {
        h.get(name)
            .cloned()
            .ok_or_else(|| corrupt(format!("video {} has no {name}", video.id)))
    };
    if let Some(prio) = h.get("prio") {
        video.priority = Priority::parse(prio)
            .ok_or_else(|| corrupt(format!("video {} priority {prio:?}", video.id)))?;
    }
    video.state = decode_state(&video.id, h.get("state").map(String::as_str))?;
    video.seq = decode_seq(&video.id, h.get("seq").map(String::as_str))?;
    video.updated_at = serde_json::from_str(&field(&h, "upd")?)
        .map_err(|e| corrupt(format!("video {} updated_at: {e}", video.id)))?;
    let n: usize = field(&h, "n")?
        .parse()
        .map_err(|e| corrupt(format!("video {} n: {e}", video.id)))?;
    video.shots = (0..n)
        .map(|i| {
            let text = field(&h, &format!("s:{i}"))?;
            serde_json::from_str(&text).map_err(|e| corrupt(format!("shot {i}: {e}")))
        })
        .collect::<Result<_, _>>()?;
    Ok(Some(video))
}

/// A video hash's `state` field.
fn decode_state(id: &VideoId, state: Option<&str>) -> Result<VideoState, StoreError> {
    state
        .and_then(VideoState::parse)
        .ok_or_else(|| corrupt(format!("video {id} state {state:?}")))
}

/// A video hash's `seq` field.
fn decode_seq(id: &VideoId, seq: Option<&str>) -> Result<u64, StoreError> {
    seq.and_then(|s| s.parse().ok())
        .ok_or_else(|| corrupt(format!("video {id} seq {seq:?}")))
}

/// A video's head from its hash's `meta`, `state` and `seq` (as [`decode_video`] reads them).
fn decode_head(
    meta: &str,
    state: Option<String>,
    seq: Option<String>,
) -> Result<VideoHead, StoreError> {
    /// What a head takes of `meta` (the rest of it, the title above all, is not read).
    #[derive(serde::Deserialize)]
    struct Whose {
        id: VideoId,
        owner: OwnerId,
    }
    let Whose { id, owner } =
        serde_json::from_str(meta).map_err(|e| corrupt(format!("video meta: {e}")))?;
    let state = decode_state(&id, state.as_deref())?;
    let seq = decode_seq(&id, seq.as_deref())?;
    Ok(VideoHead {
        id,
        owner,
        state,
        seq,
    })
}

#[async_trait]
impl Store for RedisStore {
    async fn create_video(&self, video: VideoRecord) -> Result<(), StoreError> {
        // Without a key the script never answers a replay.
        self.run_create(&video, None).await.map(|_| ())
    }

    async fn create_video_once(
        &self,
        video: VideoRecord,
        once: &Once,
    ) -> Result<Option<Replay>, StoreError> {
        self.run_create(&video, Some(once)).await
    }

    async fn find_once(&self, once: &Once) -> Result<Option<Replay>, StoreError> {
        let seen: Option<String> = redis::cmd("GET")
            .arg(conn::once_key(&once.owner, &once.key))
            .query_async(&mut self.conn.clone())
            .await
            .map_err(unavailable)?;
        seen.map(|r| replay_of(&r, once)).transpose()
    }

    async fn video(&self, id: &VideoId) -> Result<Option<VideoRecord>, StoreError> {
        let h: HashMap<String, String> = redis::cmd("HGETALL")
            .arg(conn::video_key(id))
            .query_async(&mut self.conn.clone())
            .await
            .map_err(unavailable)?;
        decode_video(h)
    }

    async fn video_head(&self, id: &VideoId) -> Result<Option<VideoHead>, StoreError> {
        // Three fields instead of the whole hash: no shot record is sent, parsed or decoded.
        let (meta, state, seq): (Option<String>, Option<String>, Option<String>) =
            redis::cmd("HMGET")
                .arg(conn::video_key(id))
                .arg(&["meta", "state", "seq"])
                .query_async(&mut self.conn.clone())
                .await
                .map_err(unavailable)?;
        let Some(meta) = meta else {
            return Ok(None);
        };
        decode_head(&meta, state, seq).map(Some)
    }

    async fn list_videos(&self, query: VideoQuery) -> Result<VideoPage, StoreError> {
        let key = match &query.owner {
            Some(owner) => conn::owner_index(owner),
            None => conn::INDEX_ALL.to_owned(),
        };
        let limit = query.limit.max(1);
        let mut max = match query.after() {
            Some((micros, id)) => format!("({}", index_member(micros, &id)),
            None => "+".to_owned(),
        };
        let mut rows = Vec::new();
        // Newest first; a state filter may skip rows, so read on until a page and one more is
        // found (the one more says whether there is a next page).
        while rows.len() <= limit {
            let batch = (limit + 1 - rows.len()).clamp(16, LOAD_BATCH);
            let members: Vec<String> = redis::cmd("ZREVRANGEBYLEX")
                .arg(&key)
                .arg(&max)
                .arg("-")
                .arg("LIMIT")
                .arg(0)
                .arg(batch)
                .query_async(&mut self.conn.clone())
                .await
                .map_err(unavailable)?;
            let Some(last) = members.last() else {
                break;
            };
            max = format!("({last}");
            let ids: Vec<String> = members
                .iter()
                .filter_map(|m| m.split_once(':').map(|(_, id)| id.to_owned()))
                .collect();
            let videos = self.load_videos(&ids).await?;
            rows.extend(
                videos
                    .into_iter()
                    .filter(|v| query.state.is_none_or(|s| s == v.state)),
            );
            if members.len() < batch {
                break;
            }
        }
        Ok(VideoPage::first(rows, limit))
    }

    async fn write_shot(&self, shot: ShotRecord) -> Result<ShotWritten, StoreError> {
        self.write_shot_with_preview(shot, None).await
    }

    /// The write script logs the step event without the preview and announces it on the feed
    /// with it, so every server's watchers get the preview live, in seq order, while the stream
    /// (at rest, replayed by `since`) never holds one.
    async fn write_shot_with_preview(
        &self,
        shot: ShotRecord,
        preview: Option<&ShotPreview>,
    ) -> Result<ShotWritten, StoreError> {
        let video_id = shot
            .id
            .video()
            .ok_or_else(|| StoreError::NoSuchShot(shot.id.clone()))?;
        let ts = Utc::now();
        let mut args = redis::Cmd::new();
        args.arg(shot.index)
            .arg(json(&shot)?)
            .arg(shot.state.as_str())
            .arg(shot.attempt)
            .arg(shot.step)
            .arg(summary(&shot))
            .arg(shot_event_members(ShotEvent::of(0, &video_id, &shot, ts))?)
            .arg(shotfarm_core::rfc3339::json(&ts))
            .arg(shot.id.as_str())
            .arg(shot.node.as_ref().map_or("", |n| n.as_str()))
            .arg(preview_fragment(preview)?)
            .arg(shot.version);
        let write = batch::ShotWrite {
            video: video_id.clone(),
            args,
        };
        let reply: Vec<String> =
            redis::from_redis_value(self.batcher.call(write).await?).map_err(corrupt)?;
        match reply.first().map(String::as_str) {
            Some("ok") => {
                let written = decode_written(&reply)?;
                // Kept for a final write too: the writer publishes its events right after, and
                // the bus forgets the video when it skips that final video event.
                let last = written.video.as_ref().map_or(written.shot_seq, |c| c.seq);
                if self.logged.len() >= LOGGED_MAX {
                    self.logged.clear();
                }
                let mut seen = self.logged.entry(video_id).or_insert(0);
                *seen = (*seen).max(last);
                Ok(written)
            }
            Some("fenced") => Err(StoreError::Fenced {
                shot: shot.id.clone(),
                attempt: shot.attempt,
                current: reply.get(1).and_then(|a| a.parse().ok()).unwrap_or(0),
            }),
            Some("novideo") => Err(StoreError::NoSuchVideo(video_id)),
            Some("noshot") => Err(StoreError::NoSuchShot(shot.id)),
            _ => Err(corrupt(format!("write script answered {reply:?}"))),
        }
    }

    async fn set_priority(&self, id: &VideoId, priority: Priority) -> Result<(), StoreError> {
        let set: i64 = tokio::time::timeout(
            conn::RESPONSE_TIMEOUT,
            self.set_priority
                .key(conn::video_key(id))
                .arg(priority.as_str())
                .invoke_async(&mut self.conn.clone()),
        )
        .await
        .map_err(|_| StoreError::Unavailable("redis: set priority timed out".into()))?
        .map_err(unavailable)?;
        if set == 0 {
            return Err(StoreError::NoSuchVideo(id.clone()));
        }
        Ok(())
    }

    async fn ping(&self) -> Result<(), StoreError> {
        let pong = tokio::time::timeout(
            conn::RESPONSE_TIMEOUT,
            redis::cmd("PING").query_async::<String>(&mut self.conn.clone()),
        )
        .await
        .map_err(|_| StoreError::Unavailable("redis: ping timed out".into()))?;
        pong.map(|_| ()).map_err(unavailable)
    }

    async fn unfinished_videos(&self) -> Result<Vec<VideoRecord>, StoreError> {
        let ids: Vec<String> = redis::cmd("SMEMBERS")
            .arg(conn::UNFINISHED)
            .query_async(&mut self.conn.clone())
            .await
            .map_err(unavailable)?;
        let videos = self.load_videos(&ids).await?;
        Ok(videos.into_iter().filter(|v| !v.state.is_final()).collect())
    }

    async fn queued_shots(&self, limit: usize) -> Result<Vec<ShotId>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        // A random sample: servers sweeping a deep backlog spread over it instead of all racing
        // for its first shots.
        let ids: Vec<String> = redis::cmd("SRANDMEMBER")
            .arg(conn::QUEUED)
            .arg(limit)
            .query_async(&mut self.conn.clone())
            .await
            .map_err(unavailable)?;
        Ok(ids.into_iter().map(ShotId).collect())
    }

    async fn renew_leases(&self, nodes: &[NodeId], ttl: Duration) -> Result<(), StoreError> {
        if nodes.is_empty() {
            return Ok(());
        }
        let ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
        let mut pipe = redis::pipe();
        for n in nodes {
            pipe.cmd("SET")
                .arg(conn::lease_key(n))
                .arg(1)
                .arg("PX")
                .arg(ms)
                .ignore();
        }
        pipe.query_async::<()>(&mut self.conn.clone())
            .await
            .map_err(unavailable)
    }

    async fn release_leases(&self, nodes: &[NodeId]) -> Result<(), StoreError> {
        if nodes.is_empty() {
            return Ok(());
        }
        let keys: Vec<String> = nodes.iter().map(conn::lease_key).collect();
        redis::cmd("DEL")
            .arg(keys)
            .query_async::<i64>(&mut self.conn.clone())
            .await
            .map(|_| ())
            .map_err(unavailable)
    }

    async fn leases_live(&self, nodes: &[NodeId]) -> Result<Vec<bool>, StoreError> {
        if nodes.is_empty() {
            return Ok(Vec::new());
        }
        let keys: Vec<String> = nodes.iter().map(conn::lease_key).collect();
        let found: Vec<Option<String>> = redis::cmd("MGET")
            .arg(keys)
            .query_async(&mut self.conn.clone())
            .await
            .map_err(unavailable)?;
        Ok(found.into_iter().map(|v| v.is_some()).collect())
    }

    async fn rewrite_text(
        &self,
        id: &VideoId,
        map: &TextMap<'_>,
    ) -> Result<TextRewritten, StoreError> {
        rewrite::rewrite_text(&self.conn, &self.rewrite, id, map).await
    }

    async fn delete_video(&self, video: &VideoRecord) -> Result<(), StoreError> {
        // One MULTI: the hash, the stream and the index entries go together. The sets of
        // unfinished videos and queued shots hold none of a final video's ids.
        let member = index_member(video.created_at.timestamp_micros(), video.id.as_str());
        let mut pipe = redis::pipe();
        pipe.atomic()
            .del(&[conn::video_key(&video.id), conn::stream_key(&video.id)])
            .ignore()
            .zrem(conn::INDEX_ALL, &member)
            .ignore()
            .zrem(conn::owner_index(&video.owner), &member)
            .ignore()
            .srem(conn::UNFINISHED, video.id.as_str())
            .ignore();
        tokio::time::timeout(
            conn::RESPONSE_TIMEOUT,
            pipe.query_async::<()>(&mut self.conn.clone()),
        )
        .await
        .map_err(|_| StoreError::Unavailable("redis: delete timed out".into()))?
        .map_err(unavailable)
    }
}

/// A shot event's JSON members without its `seq` and without the braces around them
/// (`"type":"shot",...`): the write script wraps them with the seq it assigns in one
/// concatenation. `event` has seq 0, which serde writes right after the tag, so one cut of the
/// serialized text removes it.
fn shot_event_members(event: ShotEvent) -> Result<String, StoreError> {
    const LEAD: &str = "{\"type\":\"shot\",\"seq\":0,";
    let text = json(&FarmEvent::Shot(event))?;
    match text
        .strip_prefix(LEAD)
        .and_then(|rest| rest.strip_suffix('}'))
    {
        Some(rest) => Ok(format!("\"type\":\"shot\",{rest}")),
        None => Err(corrupt(format!(
            "a shot event to write must lead with its tag and seq 0: {text}"
        ))),
    }
}

/// The write script's last argument: `,"preview":{...}`, which it splices into the feed's copy
/// of the shot event before its closing brace (never into the stream's), or empty for none.
fn preview_fragment(preview: Option<&ShotPreview>) -> Result<String, StoreError> {
    preview.map_or(Ok(String::new()), |p| {
        Ok(format!(",\"preview\":{}", json(p)?))
    })
}

/// `["ok", shot seq, video seq (0: unchanged), state, progress, eta json]` into what was written.
fn decode_written(reply: &[String]) -> Result<ShotWritten, StoreError> {
    let bad = || corrupt(format!("write script answered {reply:?}"));
    let get = |i: usize| reply.get(i).ok_or_else(bad);
    let shot_seq: u64 = get(1)?.parse().map_err(|_| bad())?;
    let video_seq: u64 = get(2)?.parse().map_err(|_| bad())?;
    let video = if video_seq == 0 {
        None
    } else {
        Some(VideoChange {
            seq: video_seq,
            state: VideoState::parse(get(3)?).ok_or_else(bad)?,
            progress: get(4)?.parse().map_err(|_| bad())?,
            eta: serde_json::from_str(get(5)?).map_err(|_| bad())?,
        })
    };
    Ok(ShotWritten { shot_seq, video })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_lose_only_their_seq() {
        let video = VideoId::from("vid_x");
        let spec = shotfarm_core::domain::ShotSpec {
            prompt: "p".into(),
            duration_s: 8,
            model: "m".into(),
            seed: 1,
            steps: 4,
        };
        let shot = ShotRecord::new(ShotId::for_video(&video, 0), 0, spec, Utc::now());
        let event = ShotEvent::of(0, &video, &shot, Utc::now());
        let text = shot_event_members(event.clone()).expect("encode");
        assert!(!text.contains("\"seq\""), "{text}");
        assert!(!text.starts_with('{') && !text.ends_with('}'), "{text}");
        let with_seq = format!("{{\"seq\":9,{text}}}");
        let back: FarmEvent = serde_json::from_str(&with_seq).expect("decode");
        match back {
            FarmEvent::Shot(b) => {
                assert_eq!(b.seq, 9);
                assert_eq!(ShotEvent { seq: 0, ..b }, event);
            }
            other => panic!("kind changed: {other:?}"),
        }
        // A seq already set would be written twice: refused, naming the event.
        let err = shot_event_members(ShotEvent { seq: 4, ..event }).expect_err("seq 4");
        assert!(err.to_string().contains("seq 0"), "{err}");
    }

    #[test]
    fn a_preview_fragment_spliced_before_the_closing_brace_is_the_events_preview() {
        let video = VideoId::from("vid_x");
        let spec = shotfarm_core::domain::ShotSpec {
            prompt: "p".into(),
            duration_s: 8,
            model: "m".into(),
            seed: 1,
            steps: 8,
        };
        let shot = ShotRecord::new(ShotId::for_video(&video, 0), 0, spec, Utc::now());
        let event = ShotEvent::of(3, &video, &shot, Utc::now());
        let preview = ShotPreview::new(4, "image/png", b"\x89PNG").expect("preview");
        // As the write script does it: the seq, the event's members, then the fragment.
        let members = shot_event_members(ShotEvent {
            seq: 0,
            ..event.clone()
        })
        .expect("encode");
        let fragment = preview_fragment(Some(&preview)).expect("fragment");
        let fed = format!("{{\"seq\":3,{members}{fragment}}}");
        let back: FarmEvent = serde_json::from_str(&fed).expect("decode");
        assert_eq!(
            back,
            FarmEvent::Shot(ShotEvent {
                preview: Some(preview),
                ..event
            })
        );
        assert_eq!(preview_fragment(None).expect("none"), "");
    }

    #[test]
    fn cursors_round_trip_into_index_members() {
        let member = index_member(1_763_000_000_123_456, "vid_abc");
        let query = |cursor: &str| VideoQuery {
            cursor: Some(cursor.to_owned()),
            ..VideoQuery::default()
        };
        let (micros, id) = query("1763000000123456.vid_abc").after().expect("cursor");
        assert_eq!(index_member(micros, &id), member);
        assert!(query("garbage").after().is_none());
    }
}
