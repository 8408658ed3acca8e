//! Where each kind of artifact is kept: keys derived from ids, so that no caller names one and a
//! node can only ever write what belongs to the shot and attempt it runs.
//!
//! Layout: `checkpoints/<shot>/<step:06>.latent`, `clips/<shot>-a<attempt>.<ext>`
//! ([`ShotId::clip_key`]: a shot's clip, and a story video's stage results — the reference
//! image, the finished MP4 — as their stage jobs' clips), `clips/<shot>-a<attempt>-poster.<ext>`
//! ([`ShotId::poster_key`]: a stitch job's poster, beside its MP4), and `videos/<video>/...` for
//! whatever else belongs to a whole video: deleting a video removes that prefix with its jobs'
//! keys ([`clips_of`]).

use shotfarm_core::domain::{ShotRecord, Stage, VideoRecord};
use shotfarm_core::ids::{ShotId, VideoId};

/// Content type of a checkpoint.
pub const LATENT: &str = "application/octet-stream";

/// Where a shot's latent after `step` is kept.
pub fn checkpoint(shot: &ShotId, step: u32) -> String {
    format!("checkpoints/{shot}/{step:06}.latent")
}

/// The prefix of every checkpoint of a shot.
pub fn checkpoints_of(shot: &ShotId) -> String {
    format!("checkpoints/{shot}/")
}

/// The step a checkpoint key names.
pub fn checkpoint_step(key: &str) -> Option<u32> {
    key.rsplit('/')
        .next()?
        .strip_suffix(".latent")?
        .parse()
        .ok()
}

/// Every checkpoint is under this prefix.
pub const CHECKPOINTS: &str = "checkpoints/";
/// Every shot's clip is under this prefix.
pub const CLIPS: &str = "clips/";
/// Whatever belongs to a whole video is under this prefix.
pub const VIDEOS: &str = "videos/";

/// Where attempt `attempt` of a shot keeps its clip of `content_type`, if the type is one the
/// farm serves.
pub fn clip(shot: &ShotId, attempt: u32, content_type: &str) -> Option<String> {
    Some(shot.clip_key(attempt, extension_of(content_type)?))
}

/// Content type of a stitch job's poster.
pub const POSTER: &str = "image/png";

/// Where attempt `attempt` of a stitch job keeps its poster of `content_type`
/// ([`ShotId::poster_key`]), if the type is an image the farm serves.
pub fn poster(shot: &ShotId, attempt: u32, content_type: &str) -> Option<String> {
    let ext = extension_of(content_type).filter(|_| content_type.starts_with("image/"))?;
    Some(shot.poster_key(attempt, ext))
}

/// The prefix of everything kept for a whole video.
pub fn video_prefix(video: &VideoId) -> String {
    format!("videos/{video}/")
}

/// Every key a video's artifacts may be under, besides its prefix: each job's clip of each
/// attempt, in each served type (a story video's stage jobs are among its jobs: the reference
/// image and the finished MP4 are their clips), and each attempt's poster in each image type.
pub fn clips_of(video: &VideoRecord) -> Vec<String> {
    video
        .shots
        .iter()
        .flat_map(|s| {
            (1..=s.attempt.max(1)).flat_map(move |a| {
                MEDIA.iter().flat_map(move |(ct, ext)| {
                    let poster = ct.starts_with("image/").then(|| s.id.poster_key(a, ext));
                    std::iter::once(s.id.clip_key(a, ext)).chain(poster)
                })
            })
        })
        .collect()
}

/// The keys of the artifacts `job` of `video` reads from the stages before it, as stored: a story
/// shot's reference image, a stitch's shots' clips (what its `ExecJob::inputs` name). An agent is
/// signed a read of these only.
pub fn inputs_of(video: &VideoRecord, job: &ShotRecord) -> Vec<String> {
    if !video.is_story() {
        return Vec::new();
    }
    match job.stage {
        Stage::Shot => video
            .stage_job(Stage::Reference)
            .and_then(|r| r.artifact.clone())
            .into_iter()
            .collect(),
        Stage::Stitch => video
            .shot_jobs()
            .filter_map(|s| s.artifact.clone())
            .collect(),
        Stage::Script | Stage::Reference => Vec::new(),
    }
}

/// The media types served, with their file extensions.
const MEDIA: [(&str, &str); 5] = [
    ("image/gif", "gif"),
    ("image/webp", "webp"),
    ("video/mp4", "mp4"),
    ("image/png", "png"),
    ("image/jpeg", "jpg"),
];

/// The extension a served media type is stored with.
pub fn extension_of(content_type: &str) -> Option<&'static str> {
    MEDIA
        .iter()
        .find(|(ct, _)| *ct == content_type)
        .map(|(_, ext)| *ext)
}

/// The media type of a key by its extension (what a store that keeps no content types serves).
pub fn content_type_of(key: &str) -> &'static str {
    let ext = key.rsplit_once('.').map(|(_, e)| e).unwrap_or("");
    MEDIA
        .iter()
        .find(|(_, e)| *e == ext)
        .map(|(ct, _)| *ct)
        .unwrap_or(LATENT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_derive_from_ids_and_read_back() {
        let shot = ShotId::from("shot_abc_2");
        assert_eq!(checkpoint(&shot, 7), "checkpoints/shot_abc_2/000007.latent");
        assert_eq!(checkpoint_step(&checkpoint(&shot, 7)), Some(7));
        assert!(checkpoint(&shot, 7).starts_with(&checkpoints_of(&shot)));
        assert_eq!(
            clip(&shot, 2, "video/mp4").as_deref(),
            Some("clips/shot_abc_2-a2.mp4")
        );
        assert_eq!(clip(&shot, 2, "text/html"), None);
        assert_eq!(content_type_of("clips/shot_abc_2-a2.mp4"), "video/mp4");
        assert_eq!(content_type_of("checkpoints/s/000001.latent"), LATENT);
        assert_eq!(
            poster(&shot, 1, POSTER).as_deref(),
            Some("clips/shot_abc_2-a1-poster.png")
        );
        assert_eq!(poster(&shot, 1, "video/mp4"), None);
        assert_eq!(
            content_type_of("clips/shot_abc_2-a1-poster.png"),
            "image/png"
        );
    }
}
