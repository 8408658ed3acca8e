//! What a job reads from the stages before it and what it leaves: the reference image a shot is
//! conditioned on (a stored PNG, decoded to the model's image input), and the encoded output —
//! a `reference` job's one image, a `shot`'s clip — through the media port when one is injected,
//! else the executor's own PNG and GIF encoders (the embedded default and the tests need no
//! encoder installed).

use tracing::info;

use crate::clip::{self, Frames};
use crate::model::ModelSpec;
use crate::{image, inputs, OnnxError};
use shotfarm_actors::ports::{media, Clip, MediaEncoder, ShotAttempt, ShotStorage};
use shotfarm_core::domain::Stage;

/// The reference image a shot is conditioned on, as stored, and the model's image size.
pub(super) struct Reference {
    key: String,
    png: Clip,
    size: [usize; 2],
}

/// The reference stored under `reference`, read through the attempt's storage: `None` when the
/// shot has none (the model then gets its neutral image) or the model takes no image. A
/// reference that is gone or not a PNG fails the attempt: rendering the shot unconditioned
/// would quietly make a different video.
pub(super) async fn load_reference(
    storage: &dyn ShotStorage,
    at: &ShotAttempt,
    spec: &ModelSpec,
    reference: Option<String>,
) -> Result<Option<Reference>, OnnxError> {
    let Some(key) = reference else {
        return Ok(None);
    };
    let Some(size) = spec.settings.image_size else {
        info!(shot_id = %at.shot, model = %spec.id, "the model takes no image; its reference is not used");
        return Ok(None);
    };
    let png = storage
        .load_input(at, &key)
        .await?
        .ok_or_else(|| OnnxError::Storage(format!("the reference image {key} is not stored")))?;
    if png.content_type != "image/png" {
        return Err(OnnxError::Media(format!(
            "the reference {key} is {}, not image/png",
            png.content_type
        )));
    }
    Ok(Some(Reference { key, png, size }))
}

impl Reference {
    /// The model's image input: the PNG decoded and scaled to its size (CPU work: call it on
    /// the blocking pool).
    pub(super) fn pixels(&self) -> Result<Vec<f32>, OnnxError> {
        let [out_h, out_w] = self.size;
        let decoded = image::decode_png(&self.png.bytes)?;
        inputs::image_input(&decoded.rgb, decoded.height, decoded.width, out_h, out_w)
            .ok_or_else(|| OnnxError::Media(format!("the reference {} has no pixels", self.key)))
    }
}

/// `frames` as the artifact of a `stage` job: a reference's first frame as an image, a shot's
/// frames as a clip at `fps`.
pub(super) fn encode(
    media: Option<&dyn MediaEncoder>,
    stage: Stage,
    frames: &Frames,
    fps: u32,
) -> Result<Clip, OnnxError> {
    let frame_len = frames.width * frames.height * 3;
    if frames.count == 0 || frames.rgb.len() != frame_len * frames.count {
        return Err(OnnxError::Inference(format!(
            "{} values do not make {} frames of {}x{}",
            frames.rgb.len(),
            frames.count,
            frames.width,
            frames.height
        )));
    }
    let port_frames = |rgb: &[u8]| -> Result<media::Frames, OnnxError> {
        let side = |v: usize| {
            u32::try_from(v).map_err(|_| OnnxError::Media(format!("a side of {v} pixels")))
        };
        Ok(media::Frames {
            width: side(frames.width)?,
            height: side(frames.height)?,
            fps,
            rgb: rgb.to_vec(),
        })
    };
    match (stage, media) {
        (Stage::Reference, Some(m)) => Ok(m.encode_image(&port_frames(&frames.rgb[..frame_len])?)?),
        (Stage::Reference, None) => {
            image::encode_png(frames.width, frames.height, &frames.rgb[..frame_len])
        }
        (_, Some(m)) => Ok(m.encode_clip(&port_frames(&frames.rgb)?)?),
        (_, None) => clip::encode_gif(frames, fps),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;
    use shotfarm_actors::ports::{MediaError, Stitched};

    /// Records what it was asked to encode.
    #[derive(Default)]
    struct Recording(Mutex<Vec<(&'static str, u32, u32, usize)>>);

    impl MediaEncoder for Recording {
        fn encode_clip(&self, f: &media::Frames) -> Result<Clip, MediaError> {
            let n = f.count();
            self.0
                .lock()
                .expect("lock")
                .push(("clip", f.width, f.fps, n));
            Ok(Clip {
                content_type: "video/mp4".into(),
                bytes: vec![1],
            })
        }
        fn encode_image(&self, f: &media::Frames) -> Result<Clip, MediaError> {
            let n = f.count();
            self.0
                .lock()
                .expect("lock")
                .push(("image", f.width, f.fps, n));
            Ok(Clip {
                content_type: "image/png".into(),
                bytes: vec![2],
            })
        }
        fn stitch(&self, _: &[Clip]) -> Result<Stitched, MediaError> {
            Err(MediaError::Failed("not here".into()))
        }
        fn name(&self) -> String {
            "recording".into()
        }
    }

    fn frames(count: usize) -> Frames {
        Frames {
            count,
            height: 2,
            width: 3,
            rgb: (0..count * 18).map(|i| i as u8).collect(),
        }
    }

    #[test]
    fn with_a_media_encoder_clips_and_images_go_through_it() {
        let m = Recording::default();
        let clip = encode(Some(&m), Stage::Shot, &frames(4), 8).expect("clip");
        assert_eq!(clip.content_type, "video/mp4");
        let img = encode(Some(&m), Stage::Reference, &frames(2), 8).expect("image");
        assert_eq!(img.content_type, "image/png");
        assert_eq!(
            *m.0.lock().expect("lock"),
            vec![("clip", 3, 8, 4), ("image", 3, 8, 1)],
            "an image is the first frame only"
        );
    }

    #[test]
    fn without_one_clips_are_gifs_and_images_pngs_of_the_first_frame() {
        let clip = encode(None, Stage::Shot, &frames(2), 8).expect("clip");
        assert_eq!(clip.content_type, "image/gif");
        let img = encode(None, Stage::Reference, &frames(2), 8).expect("image");
        assert_eq!(img.content_type, "image/png");
        let back = image::decode_png(&img.bytes).expect("png");
        assert_eq!(back.rgb, frames(1).rgb);
        assert!(encode(None, Stage::Shot, &frames(0), 8).is_err());
    }
}
