//! Live previews: one decoded frame of a running shot's latent, shrunk and encoded as a PNG of
//! at most [`MAX_PREVIEW_BYTES`]. The executor decodes the latent with the model's own decoder
//! (not a latent-to-RGB projection as ComfyUI's `latent2rgb`): the preview is then exactly what
//! the clip would show at that step, and no per-model projection factors need fitting and
//! keeping in step with the weights. The cost is one decoder run every `preview_every_steps`,
//! which for the bundled model is a fraction of a step.

use shotfarm_core::domain::{ShotPreview, MAX_PREVIEW_BYTES};

use crate::clip::Frames;
use crate::image::encode_png;
use crate::OnnxError;

/// The longest side a preview starts at: enough to see the shot take shape on a card, small
/// enough that even noise (which PNG cannot compress) fits the cap (32×32×3 = 3 KiB).
const PREVIEW_SIDE: usize = 32;

/// The smallest side a preview is shrunk to while it does not fit the cap.
const MIN_SIDE: usize = 4;

/// The preview of `step`: the middle frame of `frames` (the first of an image-to-video model
/// mostly shows its reference), box-filtered down to at most [`PREVIEW_SIDE`] per side, PNG.
/// Halved again while over [`MAX_PREVIEW_BYTES`]. Deterministic: equal frames, equal bytes.
pub fn encode(frames: &Frames, step: u32) -> Result<ShotPreview, OnnxError> {
    let frame_len = frames.width * frames.height * 3;
    if frames.count == 0 || frame_len == 0 || frames.rgb.len() != frame_len * frames.count {
        return Err(OnnxError::Media(format!(
            "preview: {} values do not make {} frames of {}x{}",
            frames.rgb.len(),
            frames.count,
            frames.width,
            frames.height
        )));
    }
    let middle = frames.count / 2;
    let mut frame = Rgb {
        width: frames.width,
        height: frames.height,
        rgb: frames.rgb[middle * frame_len..(middle + 1) * frame_len].to_vec(),
    };
    while frame.width.max(frame.height) > PREVIEW_SIDE {
        frame = frame.halved();
    }
    loop {
        let png = encode_png(frame.width, frame.height, &frame.rgb)?;
        if png.bytes.len() <= MAX_PREVIEW_BYTES {
            return ShotPreview::new(step, &png.content_type, &png.bytes)
                .map_err(|e| OnnxError::Media(e.to_string()));
        }
        if frame.width.max(frame.height) <= MIN_SIDE {
            return Err(OnnxError::Media(format!(
                "preview: {} bytes at {}x{}, over the {MAX_PREVIEW_BYTES}-byte cap",
                png.bytes.len(),
                frame.width,
                frame.height
            )));
        }
        frame = frame.halved();
    }
}

/// One RGB frame being shrunk.
struct Rgb {
    width: usize,
    height: usize,
    rgb: Vec<u8>,
}

impl Rgb {
    /// Half the size each way (at least one pixel), each pixel the mean of the 2×2 block it
    /// covers (a box filter: no aliasing shimmer between previews).
    fn halved(&self) -> Rgb {
        let (w, h) = ((self.width / 2).max(1), (self.height / 2).max(1));
        let mut rgb = Vec::with_capacity(w * h * 3);
        for y in 0..h {
            for x in 0..w {
                for c in 0..3 {
                    let mut sum = 0u32;
                    let mut n = 0u32;
                    for sy in (2 * y)..(2 * y + 2).min(self.height) {
                        for sx in (2 * x)..(2 * x + 2).min(self.width) {
                            sum += u32::from(self.rgb[(sy * self.width + sx) * 3 + c]);
                            n += 1;
                        }
                    }
                    // Rounded mean of at most four bytes: fits a byte.
                    rgb.push(((sum + n / 2) / n.max(1)) as u8);
                }
            }
        }
        Rgb {
            width: w,
            height: h,
            rgb,
        }
    }
}

#[cfg(test)]
// Tests may panic on the unexpected: that is how they fail.
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use base64::Engine;

    /// Frames of noise from a fixed xorshift: the worst case for PNG's compression.
    fn noise(count: usize, side: usize, seed: u64) -> Frames {
        let mut s = seed.max(1);
        let rgb = (0..count * side * side * 3)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                (s >> 24) as u8
            })
            .collect();
        Frames {
            count,
            height: side,
            width: side,
            rgb,
        }
    }

    fn png_of(preview: &ShotPreview) -> Vec<u8> {
        let payload = preview
            .image
            .strip_prefix("data:image/png;base64,")
            .unwrap();
        base64::engine::general_purpose::STANDARD
            .decode(payload)
            .unwrap()
    }

    #[test]
    fn a_preview_of_noise_fits_the_cap_and_is_a_small_png() {
        let preview = encode(&noise(8, 64, 7), 4).unwrap();
        assert_eq!(preview.step, 4);
        let png = png_of(&preview);
        assert!(png.len() <= MAX_PREVIEW_BYTES, "{} bytes", png.len());
        let decoded = crate::image::decode_png(&png).unwrap();
        assert_eq!((decoded.width, decoded.height), (32, 32));
        assert_eq!(preview.check(), Ok(()));
    }

    #[test]
    fn a_frame_too_noisy_at_the_start_side_is_shrunk_until_it_fits() {
        // Sides below, at and above the start side, odd ones included: the result never passes
        // the cap nor the start side.
        for side in [1, 3, 33, 46, 64, 200] {
            let preview = encode(&noise(3, side, side as u64), 1).unwrap();
            let png = png_of(&preview);
            assert!(
                png.len() <= MAX_PREVIEW_BYTES,
                "side {side}: {} bytes",
                png.len()
            );
            let decoded = crate::image::decode_png(&png).unwrap();
            assert!(decoded.width <= PREVIEW_SIDE && decoded.height <= PREVIEW_SIDE);
        }
    }

    #[test]
    fn equal_frames_give_equal_bytes_and_the_middle_frame_is_shown() {
        let frames = noise(8, 64, 11);
        assert_eq!(encode(&frames, 2).unwrap(), encode(&frames, 2).unwrap());
        // Only the middle frame (index 4 of 8) matters.
        let mut other = frames.clone();
        let frame_len = 64 * 64 * 3;
        other.rgb[..frame_len].fill(0);
        assert_eq!(encode(&frames, 2).unwrap(), encode(&other, 2).unwrap());
        other.rgb[4 * frame_len] ^= 0xff;
        assert_ne!(encode(&frames, 2).unwrap(), encode(&other, 2).unwrap());
    }

    #[test]
    fn halving_averages_each_block() {
        let frame = Rgb {
            width: 2,
            height: 2,
            rgb: vec![0, 10, 255, 2, 10, 255, 4, 10, 0, 6, 10, 0],
        };
        let half = frame.halved();
        assert_eq!((half.width, half.height), (1, 1));
        assert_eq!(half.rgb, vec![3, 10, 128]);
    }

    #[test]
    fn frames_that_do_not_add_up_are_refused_naming_the_sizes() {
        let frames = Frames {
            count: 2,
            height: 4,
            width: 4,
            rgb: vec![0; 10],
        };
        let e = encode(&frames, 1).unwrap_err().to_string();
        assert!(e.contains("10 values do not make 2 frames of 4x4"), "{e}");
    }
}
