//! A live preview of a rendering shot: a small image of its current latent, decoded by its node
//! every few steps and carried on that step's event to the owner's progress websocket. Previews
//! are ephemeral: they are never part of a stored record, and each is at most
//! [`MAX_PREVIEW_BYTES`] of image, which [`ShotPreview::new`] and [`ShotPreview::check`] enforce
//! (the second on what a node reports, since a remote agent's word is not trusted).

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde::{Deserialize, Serialize};

/// The most image bytes a preview may hold (before base64): a few KiB, so a step event with a
/// preview stays a small websocket frame.
pub const MAX_PREVIEW_BYTES: usize = 4096;

/// The image formats a preview may be in: what every browser shows in an `<img>`.
const IMAGE_TYPES: [&str; 3] = ["image/png", "image/jpeg", "image/webp"];

/// A shot's latent after `step`, as a small image (`image`: a `data:` URL an `<img>` shows as
/// it is).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShotPreview {
    /// The step whose latent the image shows.
    pub step: u32,
    /// `data:image/png;base64,...` (or `image/jpeg`, `image/webp`).
    pub image: String,
}

/// Why a preview was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PreviewError {
    #[error("preview content type {0:?} is not one of image/png, image/jpeg, image/webp")]
    ContentType(String),
    #[error("preview image is empty")]
    Empty,
    #[error("preview image is {0} bytes; at most {MAX_PREVIEW_BYTES} are carried")]
    TooLarge(usize),
    #[error("preview image is not a base64 data: URL of an image")]
    NotDataUrl,
}

impl ShotPreview {
    /// The preview of `step`: `bytes` of `content_type`, refused when empty, over
    /// [`MAX_PREVIEW_BYTES`] or of a type a browser may not show.
    pub fn new(step: u32, content_type: &str, bytes: &[u8]) -> Result<Self, PreviewError> {
        if !IMAGE_TYPES.contains(&content_type) {
            return Err(PreviewError::ContentType(content_type.to_owned()));
        }
        check_len(bytes.len())?;
        Ok(Self {
            step,
            image: format!("data:{content_type};base64,{}", STANDARD.encode(bytes)),
        })
    }

    /// Checks a preview made elsewhere (a node's report) by the rules of [`ShotPreview::new`].
    pub fn check(&self) -> Result<(), PreviewError> {
        let rest = self
            .image
            .strip_prefix("data:")
            .ok_or(PreviewError::NotDataUrl)?;
        let (content_type, payload) = rest
            .split_once(";base64,")
            .ok_or(PreviewError::NotDataUrl)?;
        if !IMAGE_TYPES.contains(&content_type) {
            return Err(PreviewError::ContentType(content_type.to_owned()));
        }
        // Judged by length before decoding, so an oversized report costs no allocation.
        if payload.len() > STANDARD.encode(vec![0; MAX_PREVIEW_BYTES]).len() {
            return Err(PreviewError::TooLarge(payload.len() / 4 * 3));
        }
        let bytes = STANDARD
            .decode(payload)
            .map_err(|_| PreviewError::NotDataUrl)?;
        check_len(bytes.len())
    }
}

fn check_len(len: usize) -> Result<(), PreviewError> {
    match len {
        0 => Err(PreviewError::Empty),
        n if n > MAX_PREVIEW_BYTES => Err(PreviewError::TooLarge(n)),
        _ => Ok(()),
    }
}

#[cfg(test)]
// Tests may panic on the unexpected: that is how they fail.
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_preview_is_a_data_url_that_checks() {
        let p = ShotPreview::new(4, "image/png", &[1, 2, 3]).unwrap();
        assert_eq!(p.step, 4);
        assert_eq!(p.image, "data:image/png;base64,AQID");
        assert_eq!(p.check(), Ok(()));
    }

    #[test]
    fn the_byte_cap_holds_both_ways() {
        let at_cap = vec![7u8; MAX_PREVIEW_BYTES];
        assert!(ShotPreview::new(1, "image/webp", &at_cap)
            .unwrap()
            .check()
            .is_ok());
        let over = vec![7u8; MAX_PREVIEW_BYTES + 1];
        assert_eq!(
            ShotPreview::new(1, "image/png", &over),
            Err(PreviewError::TooLarge(MAX_PREVIEW_BYTES + 1))
        );
        // A node's report over the cap is refused too.
        let forged = ShotPreview {
            step: 1,
            image: format!("data:image/png;base64,{}", STANDARD.encode(&over)),
        };
        assert!(matches!(forged.check(), Err(PreviewError::TooLarge(_))));
    }

    #[test]
    fn what_is_not_a_small_image_is_refused_naming_why() {
        assert_eq!(
            ShotPreview::new(1, "text/html", b"<p>"),
            Err(PreviewError::ContentType("text/html".into()))
        );
        assert_eq!(
            ShotPreview::new(1, "image/png", b""),
            Err(PreviewError::Empty)
        );
        for image in [
            "https://example.com/x.png",
            "data:image/png,AQID",
            "data:image/png;base64,***",
        ] {
            let p = ShotPreview {
                step: 1,
                image: image.into(),
            };
            assert_eq!(p.check(), Err(PreviewError::NotDataUrl), "{image}");
        }
        let svg = ShotPreview {
            step: 1,
            image: "data:image/svg+xml;base64,AQID".into(),
        };
        assert_eq!(
            svg.check(),
            Err(PreviewError::ContentType("image/svg+xml".into()))
        );
    }
}
