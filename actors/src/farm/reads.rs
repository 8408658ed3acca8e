//! The rules of a caller's reads of users' data, in one place, so that no route can forget one:
//! who may see a video (its owner, or an operator; anyone else is told it does not exist), the
//! per-user read rate (counted once per request, by [`Farm::reader`], whose [`Reader`] every
//! counted read takes by value; a cancellation is counted too), and the audit log's
//! `prompt_read` entries (one per shot when an owner is shown a video's prompts, at most once per
//! `audit.prompt_read_window` per owner and video; an operator is shown others' videos without
//! their text, so their reads are not prompt reads).

use super::Farm;
use crate::audit::Auditor;
use crate::credits::CreditsView;
use crate::ports::{VideoPage, VideoQuery};
use crate::rate_limit::Limit;
use crate::FarmError;
use shotfarm_core::domain::{VideoHead, VideoRecord, VideoState};
use shotfarm_core::ids::{OwnerId, VideoId};

/// Who a request comes from, as the web layer authenticated it: the facade decides from this
/// what they may see, what is counted against their rate and what is audited.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    pub user: OwnerId,
    /// Operators may see every user's video, though never its title or prompts.
    pub operator: bool,
    /// The token's `plan` claim, if any (see [`crate::credits::Account::resolve`]).
    pub plan: Option<String>,
    /// The token's `org` claim, if any: the caller's tenant, stored on the videos they submit
    /// so nodes reserved for it run them.
    pub tenant: Option<String>,
}

impl Identity {
    /// Whether `video`'s title and prompts are shown to this caller: to its owner alone. The
    /// web's JSON views apply the same rule (`web/src/wire.rs`), so a read is a prompt read
    /// exactly when it shows prompts.
    pub fn sees_text_of(&self, video: &VideoRecord) -> bool {
        self.owns(&video.owner)
    }

    /// Whether this caller may be shown `video` at all: its owner, or an operator.
    pub fn may_see(&self, video: &VideoRecord) -> bool {
        self.may_see_owned_by(&video.owner)
    }

    /// Whether a video of `owner`'s is this caller's own.
    pub fn owns(&self, owner: &OwnerId) -> bool {
        *owner == self.user
    }

    /// [`Self::may_see`] for a video of `owner`'s, known without reading the video.
    pub fn may_see_owned_by(&self, owner: &OwnerId) -> bool {
        self.operator || self.owns(owner)
    }
}

/// A caller admitted for one request's read of users' data. Only [`Farm::reader`] makes one,
/// counting it against the caller's read rate, and each counted read takes it by value: no read
/// escapes the limit, and no request is counted twice.
#[derive(Debug)]
pub struct Reader {
    who: Identity,
}

impl Reader {
    /// Who is reading.
    pub fn identity(&self) -> &Identity {
        &self.who
    }

    pub(super) fn into_identity(self) -> Identity {
        self.who
    }
}

/// Which of a caller's videos a listing asks for (whose they are follows from the caller).
#[derive(Clone, Debug, Default)]
pub struct VideoFilter {
    pub state: Option<VideoState>,
    pub limit: usize,
    /// Opaque cursor from the previous page.
    pub cursor: Option<String>,
}

impl Farm {
    /// Admits one request of `who` to read users' data: 429 (with its `Retry-After`) past their
    /// read rate. Counted before anything else about the request is judged, so a request refused
    /// for a bad parameter still counts, as it always has.
    pub async fn reader(&self, who: Identity) -> Result<Reader, FarmError> {
        self.rate_limits.admit(Limit::Reads, &who.user).await??;
        Ok(Reader { who })
    }

    /// One video as `reader` may see it: 404 (the same as a video that does not exist) unless
    /// it is theirs or they are an operator; an owner's read is a prompt read.
    pub async fn video(&self, reader: Reader, id: &VideoId) -> Result<VideoRecord, FarmError> {
        let who = reader.into_identity();
        let video = self.visible_video(&who, id).await?;
        self.record_prompt_reads(&who, std::slice::from_ref(&video));
        Ok(video)
    }

    /// A page of the videos `reader` may see, newest first: their own, or every owner's for an
    /// operator. Each of their own is a prompt read.
    pub async fn list_videos(
        &self,
        reader: Reader,
        filter: VideoFilter,
    ) -> Result<VideoPage, FarmError> {
        let who = reader.into_identity();
        let query = VideoQuery {
            owner: (!who.operator).then(|| who.user.clone()),
            state: filter.state,
            limit: filter.limit,
            cursor: filter.cursor,
        };
        let page = self.store.list_videos(query).await?;
        self.record_prompt_reads(&who, &page.videos);
        Ok(page)
    }

    /// Cancels every unfinished shot of a video `reader` may see (404 as for [`Farm::video`]
    /// otherwise) and returns it as stored after; the owner being shown it is a prompt read. A
    /// cancellation is counted against the read rate like a read (it shows the video), and a
    /// video already final is a conflict naming its state, recorded nowhere: a repeated cancel
    /// writes nothing.
    pub async fn cancel_video(
        &self,
        reader: Reader,
        id: &VideoId,
    ) -> Result<VideoRecord, FarmError> {
        let who = reader.into_identity();
        let video = self.visible_video(&who, id).await?;
        if video.state.is_final() {
            return Err(FarmError::Conflict(format!(
                "video {id} is already {}: only an unfinished video can be cancelled",
                video.state.as_str()
            )));
        }
        let video = self.cancel(video).await?;
        self.record_prompt_reads(&who, std::slice::from_ref(&video));
        Ok(video)
    }

    /// `reader`'s plan and what is left of it this period (403 for a plan that is not
    /// configured).
    pub async fn credits(&self, reader: Reader) -> Result<CreditsView, FarmError> {
        let who = reader.into_identity();
        let account = self.account(&who)?;
        self.credits_of(&who.user, &account).await
    }

    /// The most recent `limit` videos of every owner, for an operator's overview (403 for
    /// anyone else), with their titles and prompts removed: an overview shows no users' text, so
    /// it is neither a prompt read nor a counted read.
    pub async fn recent_videos(
        &self,
        who: &Identity,
        limit: usize,
    ) -> Result<Vec<VideoRecord>, FarmError> {
        if !who.operator {
            return Err(FarmError::Forbidden(
                "the overview of every user's videos is for operators".into(),
            ));
        }
        let query = VideoQuery {
            owner: None,
            state: None,
            limit,
            cursor: None,
        };
        let mut videos = self.store.list_videos(query).await?.videos;
        for video in &mut videos {
            video.title = None;
            for shot in &mut video.shots {
                shot.spec.prompt.clear();
            }
        }
        Ok(videos)
    }

    /// The video `id` if `who` may see it; otherwise the same 404 as a video that does not
    /// exist, so existence is not revealed.
    pub(super) async fn visible_video(
        &self,
        who: &Identity,
        id: &VideoId,
    ) -> Result<VideoRecord, FarmError> {
        match self.store.video(id).await? {
            Some(video) if who.may_see(&video) => Ok(video),
            _ => Err(FarmError::NotFound(format!("video {id}"))),
        }
    }

    /// [`Self::visible_video`]'s head only (no shot is read): the same 404 for a video `who`
    /// may not see.
    pub(super) async fn visible_head(
        &self,
        who: &Identity,
        id: &VideoId,
    ) -> Result<VideoHead, FarmError> {
        match self.store.video_head(id).await? {
            Some(head) if who.may_see_owned_by(&head.owner) => Ok(head),
            _ => Err(FarmError::NotFound(format!("video {id}"))),
        }
    }

    pub(super) fn record_prompt_reads(&self, who: &Identity, videos: &[VideoRecord]) {
        record_prompt_reads(&self.audit, who, videos);
    }
}

/// Records, off the caller's path, that `who` is being shown the prompts of those of `videos`
/// they own (one entry per shot; none for a video whose read was recorded within the window).
pub(super) fn record_prompt_reads(audit: &Auditor, who: &Identity, videos: &[VideoRecord]) {
    let records: Vec<_> = videos
        .iter()
        .filter(|v| who.sees_text_of(v))
        .flat_map(|v| audit.prompt_reads(&who.user, v))
        .collect();
    audit.record_later(records);
}
