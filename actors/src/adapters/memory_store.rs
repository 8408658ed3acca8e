//! The in-memory store: the embedded default. Each video sits behind its own lock, so writes to
//! different videos never contend and a shot write, its sequence numbers and the video's derived
//! state change together.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use chrono::Utc;
use dashmap::DashMap;
use parking_lot::Mutex;

use crate::ports::store::{shot_write_allowed, ShotWritten, TextField, VideoChange};
use crate::ports::{
    Once, Replay, Store, StoreError, TextMap, TextRewritten, VideoPage, VideoQuery,
};
use shotfarm_core::domain::{ShotRecord, ShotState, VideoHead, VideoRecord};
use shotfarm_core::ids::{NodeId, OwnerId, ShotId, VideoId};

/// Remembered keys past which expired ones are dropped (on the next keyed create).
const ONCE_PRUNE_AT: usize = 10_000;

/// Videos in a concurrent map, each behind its own mutex.
#[derive(Default)]
pub struct MemoryStore {
    videos: DashMap<VideoId, Arc<Mutex<VideoRecord>>>,
    /// Node leases: when each expires.
    leases: DashMap<NodeId, Instant>,
    /// `Idempotency-Key`s by owner and key: the video each created, its request's fingerprint,
    /// and when the key is forgotten.
    once: DashMap<(OwnerId, String), Remembered>,
}

/// What the store remembers of one `Idempotency-Key`.
struct Remembered {
    video: VideoId,
    fingerprint: String,
    until: Instant,
}

impl Remembered {
    fn replay(&self, once: &Once) -> Option<Replay> {
        (Instant::now() < self.until).then(|| Replay {
            video: self.video.clone(),
            same_request: self.fingerprint == once.fingerprint,
        })
    }
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn insert_video(&self, video: VideoRecord) -> Result<(), StoreError> {
        use dashmap::mapref::entry::Entry;
        match self.videos.entry(video.id.clone()) {
            Entry::Occupied(_) => Err(StoreError::Duplicate(video.id)),
            Entry::Vacant(slot) => {
                slot.insert(Arc::new(Mutex::new(video)));
                Ok(())
            }
        }
    }

    fn entry(&self, id: &VideoId) -> Option<Arc<Mutex<VideoRecord>>> {
        self.videos.get(id).map(|e| Arc::clone(e.value()))
    }
}

/// Applies a fenced shot write to a video held under its lock. Shared by every store adapter
/// that keeps whole video records (the memory store; tests of others).
pub fn apply_shot_write(
    video: &mut VideoRecord,
    shot: ShotRecord,
) -> Result<ShotWritten, StoreError> {
    let slot = video
        .shots
        .iter_mut()
        .find(|s| s.id == shot.id)
        .ok_or_else(|| StoreError::NoSuchShot(shot.id.clone()))?;
    let by_holder = slot.node == shot.node;
    if !shot_write_allowed(
        slot.state,
        slot.attempt,
        shot.state,
        shot.attempt,
        by_holder,
        shot.version == slot.version + 1,
    ) {
        return Err(StoreError::Fenced {
            shot: shot.id.clone(),
            attempt: shot.attempt,
            current: slot.attempt,
        });
    }
    *slot = shot;
    video.seq += 1;
    let shot_seq = video.seq;
    video.updated_at = Utc::now();
    let state = VideoRecord::derive_state(&video.shots);
    let change = (state != video.state).then(|| {
        video.state = state;
        video.seq += 1;
        VideoChange {
            seq: video.seq,
            state,
            progress: video.progress(),
            eta: video.eta(),
        }
    });
    Ok(ShotWritten {
        shot_seq,
        video: change,
    })
}

#[async_trait]
impl Store for MemoryStore {
    async fn create_video(&self, video: VideoRecord) -> Result<(), StoreError> {
        self.insert_video(video)
    }

    async fn create_video_once(
        &self,
        video: VideoRecord,
        once: &Once,
    ) -> Result<Option<Replay>, StoreError> {
        use dashmap::mapref::entry::Entry;
        // The key's entry stays locked while the video is stored: a concurrent call with the
        // same key waits, then finds the video this one stored.
        let remembered = Remembered {
            video: video.id.clone(),
            fingerprint: once.fingerprint.clone(),
            until: Instant::now() + once.ttl,
        };
        match self.once.entry((once.owner.clone(), once.key.clone())) {
            Entry::Occupied(mut slot) => {
                if let Some(replay) = slot.get().replay(once) {
                    return Ok(Some(replay));
                }
                self.insert_video(video)?;
                slot.insert(remembered);
            }
            Entry::Vacant(slot) => {
                self.insert_video(video)?;
                slot.insert(remembered);
            }
        }
        if self.once.len() > ONCE_PRUNE_AT {
            let now = Instant::now();
            self.once.retain(|_, r| r.until > now);
        }
        Ok(None)
    }

    async fn find_once(&self, once: &Once) -> Result<Option<Replay>, StoreError> {
        Ok(self
            .once
            .get(&(once.owner.clone(), once.key.clone()))
            .and_then(|r| r.replay(once)))
    }

    async fn video(&self, id: &VideoId) -> Result<Option<VideoRecord>, StoreError> {
        Ok(self.entry(id).map(|v| v.lock().clone()))
    }

    async fn video_head(&self, id: &VideoId) -> Result<Option<VideoHead>, StoreError> {
        Ok(self.entry(id).map(|v| VideoHead::of(&v.lock())))
    }

    async fn list_videos(&self, query: VideoQuery) -> Result<VideoPage, StoreError> {
        // Newest first; the cursor is the (created_at, id) of the last video of the previous page.
        let after = query.after();
        let mut rows: Vec<VideoRecord> = self
            .videos
            .iter()
            .filter_map(|e| {
                let v = e.value().lock();
                let owner_ok = query.owner.as_ref().is_none_or(|o| *o == v.owner);
                let state_ok = query.state.is_none_or(|s| s == v.state);
                (owner_ok && state_ok).then(|| v.clone())
            })
            .filter(|v| {
                after
                    .as_ref()
                    .is_none_or(|(ts, id)| (v.created_at.timestamp_micros(), &v.id.0) < (*ts, id))
            })
            .collect();
        rows.sort_by(|a, b| (b.created_at, &b.id).cmp(&(a.created_at, &a.id)));
        Ok(VideoPage::first(rows, query.limit))
    }

    async fn write_shot(&self, shot: ShotRecord) -> Result<ShotWritten, StoreError> {
        let video_id = shot
            .id
            .video()
            .ok_or_else(|| StoreError::NoSuchShot(shot.id.clone()))?;
        let video = self
            .entry(&video_id)
            .ok_or(StoreError::NoSuchVideo(video_id))?;
        let mut guard = video.lock();
        apply_shot_write(&mut guard, shot)
    }

    async fn ping(&self) -> Result<(), StoreError> {
        Ok(())
    }

    async fn set_priority(
        &self,
        id: &VideoId,
        priority: shotfarm_core::domain::Priority,
    ) -> Result<(), StoreError> {
        let video = self
            .entry(id)
            .ok_or_else(|| StoreError::NoSuchVideo(id.clone()))?;
        video.lock().priority = priority;
        Ok(())
    }

    async fn unfinished_videos(&self) -> Result<Vec<VideoRecord>, StoreError> {
        Ok(self
            .videos
            .iter()
            .filter_map(|e| {
                let v = e.value().lock();
                (!v.state.is_final()).then(|| v.clone())
            })
            .collect())
    }

    async fn queued_shots(&self, limit: usize) -> Result<Vec<ShotId>, StoreError> {
        let mut out = Vec::new();
        for e in self.videos.iter() {
            let v = e.value().lock();
            let queued = v.shots.iter().filter(|s| s.state == ShotState::Queued);
            out.extend(
                queued
                    .map(|s| s.id.clone())
                    .take(limit - out.len().min(limit)),
            );
            if out.len() >= limit {
                break;
            }
        }
        Ok(out)
    }

    async fn renew_leases(&self, nodes: &[NodeId], ttl: Duration) -> Result<(), StoreError> {
        let until = Instant::now() + ttl;
        for n in nodes {
            self.leases.insert(n.clone(), until);
        }
        Ok(())
    }

    async fn release_leases(&self, nodes: &[NodeId]) -> Result<(), StoreError> {
        for n in nodes {
            self.leases.remove(n);
        }
        Ok(())
    }

    async fn leases_live(&self, nodes: &[NodeId]) -> Result<Vec<bool>, StoreError> {
        let now = Instant::now();
        Ok(nodes
            .iter()
            .map(|n| self.leases.get(n).is_some_and(|until| *until > now))
            .collect())
    }

    async fn rewrite_text(
        &self,
        id: &VideoId,
        map: &TextMap<'_>,
    ) -> Result<TextRewritten, StoreError> {
        let video = self
            .entry(id)
            .ok_or_else(|| StoreError::NoSuchVideo(id.clone()))?;
        // Under the video's lock: no shot write comes between the read and the write. Every
        // field is mapped before any is replaced, so a mapping that fails changes nothing.
        let mut guard = video.lock();
        let title = match &guard.title {
            Some(t) => map(t).map_err(|e| StoreError::unreadable(id, TextField::Title, e))?,
            None => None,
        };
        let prompts = guard
            .shots
            .iter()
            .enumerate()
            .map(|(i, s)| {
                map(&s.spec.prompt).map_err(|e| StoreError::unreadable(id, TextField::Prompt(i), e))
            })
            .collect::<Result<Vec<_>, _>>()?;
        // A story video's script (its script job's output) is sealed like a prompt.
        let outputs = guard
            .shots
            .iter()
            .enumerate()
            .map(|(i, s)| match &s.output {
                Some(o) => map(o).map_err(|e| StoreError::unreadable(id, TextField::Output(i), e)),
                None => Ok(None),
            })
            .collect::<Result<Vec<_>, _>>()?;
        let mut done = TextRewritten::default();
        let fields = guard.title.is_some() as usize
            + prompts.len()
            + guard.shots.iter().filter(|s| s.output.is_some()).count();
        if let Some(t) = title {
            guard.title = Some(t);
            done.rewritten += 1;
        }
        for ((shot, prompt), output) in guard.shots.iter_mut().zip(prompts).zip(outputs) {
            if let Some(p) = prompt {
                shot.spec.prompt = p;
                done.rewritten += 1;
            }
            if let Some(o) = output {
                shot.output = Some(o);
                done.rewritten += 1;
            }
        }
        done.unchanged = fields - done.rewritten;
        Ok(done)
    }

    async fn delete_video(&self, video: &VideoRecord) -> Result<(), StoreError> {
        self.videos.remove(&video.id);
        self.once.retain(|_, r| r.video != video.id);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shotfarm_core::domain::{Priority, ShotSpec, ShotState, VideoState};
    use shotfarm_core::ids::OwnerId;

    fn video(shots: usize) -> VideoRecord {
        let spec = ShotSpec {
            prompt: "p".into(),
            duration_s: 8,
            model: "m".into(),
            seed: 1,
            steps: 4,
        };
        VideoRecord::queued(
            VideoId::new_random(),
            OwnerId::from("u"),
            None,
            Priority::Standard,
            vec![spec; shots],
            Utc::now(),
        )
    }

    #[actix_rt::test]
    async fn writes_assign_increasing_seqs_and_derive_video_state() {
        let store = MemoryStore::new();
        let v = video(1);
        store.create_video(v.clone()).await.expect("create");
        let mut shot = v.shots[0].clone();
        shot.state = ShotState::Assigned;
        let w1 = store.write_shot(shot.clone()).await.expect("write");
        assert_eq!(w1.shot_seq, 1);
        assert_eq!(
            w1.video.as_ref().map(|c| (c.seq, c.state)),
            Some((2, VideoState::Running))
        );
        shot.state = ShotState::Running;
        let w2 = store.write_shot(shot.clone()).await.expect("write");
        assert_eq!((w2.shot_seq, w2.video.is_none()), (3, true));
        shot.state = ShotState::Completed;
        let w3 = store.write_shot(shot).await.expect("write");
        assert_eq!(w3.video.map(|c| c.state), Some(VideoState::Completed));
        let stored = store.video(&v.id).await.expect("read").expect("exists");
        assert_eq!(stored.seq, 5);
    }

    #[actix_rt::test]
    async fn older_attempts_and_rewrites_of_final_shots_are_fenced() {
        let store = MemoryStore::new();
        let v = video(1);
        store.create_video(v.clone()).await.expect("create");
        let mut shot = v.shots[0].clone();
        shot.attempt = 2;
        store.write_shot(shot.clone()).await.expect("newer attempt");
        let mut late = shot.clone();
        late.attempt = 1;
        late.state = ShotState::Running;
        assert!(matches!(
            store.write_shot(late).await,
            Err(StoreError::Fenced { .. })
        ));
        shot.state = ShotState::Cancelled;
        store.write_shot(shot.clone()).await.expect("cancel");
        shot.state = ShotState::Completed;
        assert!(
            store.write_shot(shot).await.is_err(),
            "a final shot never changes"
        );
    }

    #[actix_rt::test]
    async fn listing_pages_newest_first_per_owner() {
        let store = MemoryStore::new();
        for _ in 0..5 {
            store.create_video(video(1)).await.expect("create");
        }
        let mut other = video(1);
        other.owner = OwnerId::from("someone-else");
        store.create_video(other).await.expect("create");
        let q = |cursor| VideoQuery {
            owner: Some(OwnerId::from("u")),
            state: None,
            limit: 2,
            cursor,
        };
        let mut seen = Vec::new();
        let mut cursor = None;
        loop {
            let page = store.list_videos(q(cursor)).await.expect("list");
            seen.extend(page.videos.into_iter().map(|v| v.id));
            match page.next_cursor {
                Some(c) => cursor = Some(c),
                None => break,
            }
        }
        assert_eq!(seen.len(), 5);
        let mut dedup = seen.clone();
        dedup.dedup();
        assert_eq!(dedup.len(), 5);
    }
}
