//! Opaque string identifiers for videos, shots, nodes and owners, and how new ones are minted.

use std::fmt;

use rand::Rng;
use serde::{Deserialize, Serialize};

macro_rules! string_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub String);

        impl $name {
            /// The id as a string slice.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl From<&str> for $name {
            fn from(s: &str) -> Self {
                Self(s.to_owned())
            }
        }

        impl From<String> for $name {
            fn from(s: String) -> Self {
                Self(s)
            }
        }
    };
}

string_id!(
    /// A video: one user's submission of up to 16 shots (`vid_...`).
    VideoId
);
string_id!(
    /// One shot of a video (`shot_...`).
    ShotId
);
string_id!(
    /// A GPU node, local or remote.
    NodeId
);
string_id!(
    /// The user who owns a video (the JWT `sub`).
    OwnerId
);

/// Mints a new random id with a readable prefix, e.g. `vid_3k9x...`: 80 random bits in base32,
/// so ids are unguessable (a user must not find another's video by counting).
pub fn mint(prefix: &str) -> String {
    const ALPHABET: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";
    let mut rng = rand::thread_rng();
    let mut out = String::with_capacity(prefix.len() + 17);
    out.push_str(prefix);
    out.push('_');
    for _ in 0..16 {
        out.push(ALPHABET[rng.gen_range(0..32)] as char);
    }
    out
}

impl VideoId {
    /// A fresh, unguessable video id.
    pub fn new_random() -> Self {
        Self(mint("vid"))
    }
}

impl ShotId {
    /// The id of shot `index` of `video`: derived, so a shot's id never needs its own lookup.
    pub fn for_video(video: &VideoId, index: usize) -> Self {
        let suffix = video.0.strip_prefix("vid_").unwrap_or(&video.0);
        Self(format!("shot_{suffix}_{index}"))
    }

    /// The video this shot belongs to, recovered from the derived id.
    pub fn video(&self) -> Option<VideoId> {
        let rest = self.0.strip_prefix("shot_")?;
        let (video, _) = rest.rsplit_once('_')?;
        Some(VideoId(format!("vid_{video}")))
    }

    /// Where attempt `attempt` of this shot stores its clip, a file of type `ext`:
    /// `clips/<shot id>-a<attempt>.<ext>`. Derived, so that the farm can tell a node's report
    /// of its own clip from one pointing at another shot's (see [`Self::owns_clip_key`]).
    pub fn clip_key(&self, attempt: u32, ext: &str) -> String {
        format!("clips/{}-a{attempt}.{ext}", self.0)
    }

    /// Whether `key` is [`Self::clip_key`] of this shot and attempt, for some extension of
    /// ASCII letters and digits.
    pub fn owns_clip_key(&self, attempt: u32, key: &str) -> bool {
        let Some((stem, ext)) = key.rsplit_once('.') else {
            return false;
        };
        let own = format!("clips/{}-a{attempt}", self.0);
        stem == own && !ext.is_empty() && ext.bytes().all(|b| b.is_ascii_alphanumeric())
    }

    /// Where attempt `attempt` of this job stores its poster (a stitch's still of the finished
    /// video), an image of type `ext`: `clips/<shot id>-a<attempt>-poster.<ext>`. Beside the
    /// clip, so whatever serves clips serves it, and never equal to a clip key (see
    /// [`Self::owns_poster_key`]).
    pub fn poster_key(&self, attempt: u32, ext: &str) -> String {
        format!("clips/{}-a{attempt}-poster.{ext}", self.0)
    }

    /// Whether `key` is [`Self::poster_key`] of this job and attempt, for some extension of
    /// ASCII letters and digits.
    pub fn owns_poster_key(&self, attempt: u32, key: &str) -> bool {
        let Some((stem, ext)) = key.rsplit_once('.') else {
            return false;
        };
        let own = format!("clips/{}-a{attempt}-poster", self.0);
        stem == own && !ext.is_empty() && ext.bytes().all(|b| b.is_ascii_alphanumeric())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_clip_key_belongs_to_one_shot_and_attempt() {
        let shot = ShotId::from("shot_abc_2");
        let key = shot.clip_key(3, "gif");
        assert_eq!(key, "clips/shot_abc_2-a3.gif");
        assert!(shot.owns_clip_key(3, &key));
        assert!(shot.owns_clip_key(3, "clips/shot_abc_2-a3.mp4"));
        for foreign in [
            "clips/shot_abc_1-a3.gif",
            "clips/shot_abc_2-a2.gif",
            "clips/shot_abc_2-a33.gif",
            "clips/shot_abc_2.gif",
            "clips/shot_abc_2-a3.",
            "clips/shot_abc_2-a3.g/f",
            "shot_abc_2-a3.gif",
            "clips/x/../shot_abc_2-a3.gif",
        ] {
            assert!(!shot.owns_clip_key(3, foreign), "{foreign}");
        }
    }

    #[test]
    fn a_poster_key_is_its_own_and_never_a_clip_key() {
        let shot = ShotId::from("shot_abc_9");
        let key = shot.poster_key(2, "png");
        assert_eq!(key, "clips/shot_abc_9-a2-poster.png");
        assert!(shot.owns_poster_key(2, &key));
        assert!(!shot.owns_clip_key(2, &key));
        assert!(!shot.owns_poster_key(2, &shot.clip_key(2, "mp4")));
        for foreign in [
            "clips/shot_abc_9-a1-poster.png",
            "clips/shot_abc_1-a2-poster.png",
            "clips/shot_abc_9-a2-poster.",
            "clips/shot_abc_9-a2-poster.p/g",
        ] {
            assert!(!shot.owns_poster_key(2, foreign), "{foreign}");
        }
    }

    #[test]
    fn minted_ids_are_distinct_and_prefixed() {
        let a = VideoId::new_random();
        let b = VideoId::new_random();
        assert_ne!(a, b);
        assert!(a.as_str().starts_with("vid_"));
        assert_eq!(a.as_str().len(), 20);
    }

    #[test]
    fn shot_id_round_trips_to_its_video() {
        let v = VideoId::new_random();
        let s = ShotId::for_video(&v, 7);
        assert_eq!(s.video(), Some(v));
        assert!(s.as_str().ends_with("_7"));
    }
}
