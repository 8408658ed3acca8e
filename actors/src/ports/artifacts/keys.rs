//! Where each kind of artifact is kept: keys derived from ids, so that no caller names one and a
//! node can only ever write what belongs to the shot and attempt it runs.
//!
//! Layout: `checkpoints/<shot>/<step:06>.latent`, `clips/<shot>-a<attempt>.<ext>`
//! ([`ShotId::clip_key`]), and `videos/<video>/...` for what belongs to a whole video (a final
//! cut, a poster, a reference image): deleting a video removes that prefix with its shots' keys.

use shotfarm_core::domain::VideoRecord;
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

/// The prefix of everything kept for a whole video.
pub fn video_prefix(video: &VideoId) -> String {
    format!("videos/{video}/")
}

/// Every key a video's artifacts may be under, besides its prefix: each shot's clip of each
/// attempt, in each served type.
pub fn clips_of(video: &VideoRecord) -> Vec<String> {
    video
        .shots
        .iter()
        .flat_map(|s| {
            (1..=s.attempt.max(1))
                .flat_map(move |a| MEDIA.iter().map(move |(_, ext)| s.id.clip_key(a, ext)))
        })
        .collect()
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
    }
}
