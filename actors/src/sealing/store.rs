//! [`SealedStore`]: the store decorator that keeps users' text sealed at rest. Around any
//! [`Store`], it seals a video's title and every shot's prompt on the way in (`create_video`,
//! `write_shot`) and opens them on the way out (`video`, `list_videos`, `unfinished_videos`), so
//! the adapter underneath (memory, Redis) only ever holds [`Keyring::seal`]'s output. The farm
//! wraps every store it runs on in one; `shotfarm rekey` works on the bare adapter, on sealed text.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use dashmap::DashMap;

use crate::ports::store::{ShotWritten, TextField, TextMap, TextRewritten};
use crate::ports::{Once, Replay, Store, StoreError, VideoPage, VideoQuery};
use shotfarm_core::domain::{ShotPreview, ShotRecord, VideoHead, VideoRecord};
use shotfarm_core::ids::{NodeId, OwnerId, ShotId, VideoId};
use shotfarm_core::keyring::{Keyring, SealError};

/// Videos whose owner is remembered (a shot write needs its video's owner to seal the prompt;
/// past this the memory is cleared and refilled from the store as writes come).
const OWNERS_MAX: usize = 100_000;

/// Unfinished shots whose sealed prompt is kept for their next write (past this the memory is
/// cleared, and the next writes seal again).
const SEALED_PROMPTS_MAX: usize = 100_000;

/// A shot's prompt as last sealed: a write of the same prompt takes `sealed` as it is.
struct SealedPrompt {
    plain: String,
    sealed: String,
}

/// A store whose users' text is sealed under the farm's keyring.
pub struct SealedStore {
    inner: Arc<dyn Store>,
    keys: Arc<Keyring>,
    /// Each video's owner (fixed for its life), so that sealing a shot write costs no read.
    owners: DashMap<VideoId, OwnerId>,
    /// Each unfinished shot's prompt as last sealed, so that its many writes (one per state
    /// change and step period) seal it once, not once per write. Dropped when the shot is
    /// written final. Its text is in process memory anyway (the shot's job holds it).
    sealed_prompts: DashMap<ShotId, SealedPrompt>,
}

impl SealedStore {
    /// `inner` with its users' text sealed under `keys`.
    pub fn new(inner: Arc<dyn Store>, keys: Arc<Keyring>) -> Self {
        Self {
            inner,
            keys,
            owners: DashMap::new(),
            sealed_prompts: DashMap::new(),
        }
    }

    fn remember(&self, video: &VideoId, owner: &OwnerId) {
        if self.owners.contains_key(video) {
            return;
        }
        if self.owners.len() >= OWNERS_MAX {
            self.owners.clear();
        }
        self.owners.insert(video.clone(), owner.clone());
    }

    async fn owner_of(&self, video: &VideoId) -> Result<OwnerId, StoreError> {
        if let Some(owner) = self.owners.get(video) {
            return Ok(owner.clone());
        }
        let record = self
            .inner
            .video(video)
            .await?
            .ok_or_else(|| StoreError::NoSuchVideo(video.clone()))?;
        self.remember(video, &record.owner);
        Ok(record.owner)
    }

    /// `video` with its text sealed for its owner.
    fn seal_video(&self, mut video: VideoRecord) -> VideoRecord {
        let owner = video.owner.clone();
        if let Some(title) = &mut video.title {
            *title = self.keys.seal(&owner, title);
        }
        for shot in &mut video.shots {
            self.seal_shot(&owner, shot);
        }
        video
    }

    /// A new video sealed as [`Self::seal_video`] does, with each shot's prompt and its sealed
    /// form: kept once the video is stored, so its shots' first writes (the claims) reuse them
    /// instead of sealing every prompt a second time.
    fn seal_new_video(&self, video: VideoRecord) -> (VideoRecord, Vec<(ShotId, SealedPrompt)>) {
        let plain: Vec<_> = video
            .shots
            .iter()
            .map(|s| (s.id.clone(), s.spec.prompt.clone()))
            .collect();
        let sealed = self.seal_video(video);
        let prompts = plain
            .into_iter()
            .zip(&sealed.shots)
            .map(|((id, plain), shot)| {
                let sealed = shot.spec.prompt.clone();
                (id, SealedPrompt { plain, sealed })
            })
            .collect();
        (sealed, prompts)
    }

    /// `shot`'s prompt and script (a story's `script` stage output) sealed for `owner`.
    fn seal_shot(&self, owner: &OwnerId, shot: &mut ShotRecord) {
        shot.spec.prompt = self.keys.seal(owner, &shot.spec.prompt);
        if let Some(output) = &mut shot.output {
            *output = self.keys.seal(owner, output);
        }
    }

    /// [`Self::seal_shot`], taking the prompt's sealed form from the shot's last write when the
    /// prompt is the same; gives back the prompt and its sealed form when it sealed it anew.
    fn seal_shot_once(&self, owner: &OwnerId, shot: &mut ShotRecord) -> Option<(String, String)> {
        if let Some(output) = &mut shot.output {
            *output = self.keys.seal(owner, output);
        }
        if let Some(kept) = self.sealed_prompts.get(&shot.id) {
            if kept.plain == shot.spec.prompt {
                shot.spec.prompt.clone_from(&kept.sealed);
                return None;
            }
        }
        let sealed = self.keys.seal(owner, &shot.spec.prompt);
        let plain = std::mem::replace(&mut shot.spec.prompt, sealed.clone());
        Some((plain, sealed))
    }

    /// Shots whose sealed prompt is kept (the tests' view of the memory).
    #[cfg(test)]
    pub(crate) fn kept_prompts(&self) -> usize {
        self.sealed_prompts.len()
    }

    fn keep_sealed(&self, shot: ShotId, plain: String, sealed: String) {
        self.keep_all_sealed([(shot, SealedPrompt { plain, sealed })]);
    }

    fn keep_all_sealed(&self, prompts: impl IntoIterator<Item = (ShotId, SealedPrompt)>) {
        for (shot, prompt) in prompts {
            if self.sealed_prompts.len() >= SEALED_PROMPTS_MAX {
                self.sealed_prompts.clear();
            }
            self.sealed_prompts.insert(shot, prompt);
        }
    }

    /// `video` with its text opened; a text that does not open fails the read, naming the video.
    fn open_video(&self, mut video: VideoRecord) -> Result<VideoRecord, StoreError> {
        self.remember(&video.id, &video.owner);
        let owner = video.owner.clone();
        if let Some(title) = &video.title {
            let opened = open_text(&self.keys, &owner, title)
                .map_err(|e| StoreError::unreadable(&video.id, TextField::Title, e))?;
            video.title = Some(opened);
        }
        for i in 0..video.shots.len() {
            let opened = open_text(&self.keys, &owner, &video.shots[i].spec.prompt)
                .map_err(|e| StoreError::unreadable(&video.id, TextField::Prompt(i), e))?;
            video.shots[i].spec.prompt = opened;
            if let Some(output) = &video.shots[i].output {
                let opened = open_text(&self.keys, &owner, output)
                    .map_err(|e| StoreError::unreadable(&video.id, TextField::Output(i), e))?;
                video.shots[i].output = Some(opened);
            }
        }
        Ok(video)
    }
}

/// Opens sealed text. Text that is not sealed at all was stored before sealing existed: it reads
/// as it is (and `shotfarm rekey` seals it).
fn open_text(keys: &Keyring, owner: &OwnerId, text: &str) -> Result<String, SealError> {
    match keys.open(owner, text) {
        Err(SealError::NotSealed) => Ok(text.to_owned()),
        other => other,
    }
}

#[async_trait]
impl Store for SealedStore {
    async fn create_video(&self, video: VideoRecord) -> Result<(), StoreError> {
        let (id, owner) = (video.id.clone(), video.owner.clone());
        let (sealed, prompts) = self.seal_new_video(video);
        self.inner.create_video(sealed).await?;
        self.remember(&id, &owner);
        self.keep_all_sealed(prompts);
        Ok(())
    }

    async fn create_video_once(
        &self,
        video: VideoRecord,
        once: &Once,
    ) -> Result<Option<Replay>, StoreError> {
        let (id, owner) = (video.id.clone(), video.owner.clone());
        let (sealed, prompts) = self.seal_new_video(video);
        let replay = self.inner.create_video_once(sealed, once).await?;
        if replay.is_none() {
            self.remember(&id, &owner);
            self.keep_all_sealed(prompts);
        }
        Ok(replay)
    }

    async fn find_once(&self, once: &Once) -> Result<Option<Replay>, StoreError> {
        self.inner.find_once(once).await
    }

    async fn video(&self, id: &VideoId) -> Result<Option<VideoRecord>, StoreError> {
        match self.inner.video(id).await? {
            Some(video) => Ok(Some(self.open_video(video)?)),
            None => Ok(None),
        }
    }

    async fn video_head(&self, id: &VideoId) -> Result<Option<VideoHead>, StoreError> {
        // No text in a head: nothing to open.
        let head = self.inner.video_head(id).await?;
        if let Some(h) = &head {
            self.remember(&h.id, &h.owner);
        }
        Ok(head)
    }

    async fn list_videos(&self, query: VideoQuery) -> Result<VideoPage, StoreError> {
        let page = self.inner.list_videos(query).await?;
        Ok(VideoPage {
            videos: page
                .videos
                .into_iter()
                .map(|v| self.open_video(v))
                .collect::<Result<_, _>>()?,
            next_cursor: page.next_cursor,
        })
    }

    async fn write_shot(&self, shot: ShotRecord) -> Result<ShotWritten, StoreError> {
        self.write_shot_with_preview(shot, None).await
    }

    async fn write_shot_with_preview(
        &self,
        mut shot: ShotRecord,
        preview: Option<&ShotPreview>,
    ) -> Result<ShotWritten, StoreError> {
        let video = shot
            .id
            .video()
            .ok_or_else(|| StoreError::NoSuchShot(shot.id.clone()))?;
        let owner = self.owner_of(&video).await?;
        let id = shot.id.clone();
        let final_write = shot.state.is_final();
        let plain = self.seal_shot_once(&owner, &mut shot);
        // The preview is not sealed: it is never stored, only carried live to the owner.
        let written = self.inner.write_shot_with_preview(shot, preview).await;
        match (final_write, plain) {
            // A final shot is written no more (a retry's next write seals again).
            (true, _) => {
                self.sealed_prompts.remove(&id);
            }
            (false, Some((plain, sealed))) => self.keep_sealed(id, plain, sealed),
            (false, None) => {}
        }
        written
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.inner.ping().await
    }

    async fn set_priority(
        &self,
        id: &VideoId,
        priority: shotfarm_core::domain::Priority,
    ) -> Result<(), StoreError> {
        // No text in it: nothing to seal.
        self.inner.set_priority(id, priority).await
    }

    async fn unfinished_videos(&self) -> Result<Vec<VideoRecord>, StoreError> {
        self.inner
            .unfinished_videos()
            .await?
            .into_iter()
            .map(|v| self.open_video(v))
            .collect()
    }

    async fn queued_shots(&self, limit: usize) -> Result<Vec<ShotId>, StoreError> {
        self.inner.queued_shots(limit).await
    }

    async fn renew_leases(&self, nodes: &[NodeId], ttl: Duration) -> Result<(), StoreError> {
        self.inner.renew_leases(nodes, ttl).await
    }

    async fn release_leases(&self, nodes: &[NodeId]) -> Result<(), StoreError> {
        self.inner.release_leases(nodes).await
    }

    async fn leases_live(&self, nodes: &[NodeId]) -> Result<Vec<bool>, StoreError> {
        self.inner.leases_live(nodes).await
    }

    /// Rewrites the stored (sealed) text as it is: `map` sees sealed text, not the users'.
    async fn rewrite_text(
        &self,
        id: &VideoId,
        map: &TextMap<'_>,
    ) -> Result<TextRewritten, StoreError> {
        self.inner.rewrite_text(id, map).await
    }

    /// The sealed text goes with the record; the ids and dates it is found by are not text.
    async fn delete_video(&self, video: &VideoRecord) -> Result<(), StoreError> {
        self.inner.delete_video(video).await
    }
}
