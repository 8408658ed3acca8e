//! Turns decoded frames into a clip every browser plays without plug-ins: an animated GIF that
//! loops, one 256-colour palette per frame (NeuQuant).

use super::OnnxError;
use shotfarm_actors::ports::Clip;

/// NeuQuant's sampling: 1 is the best palette and the slowest, 30 the fastest; 10 is what the
/// `gif` crate suggests, and a 64×64 frame takes well under a millisecond.
const QUANTIZER_SPEED: i32 = 10;

/// Decoded frames: `count × height × width × 3` RGB bytes (the decoder's `[0, 1]` values,
/// quantized by [`quantize`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Frames {
    pub count: usize,
    pub height: usize,
    pub width: usize,
    pub rgb: Vec<u8>,
}

/// RGB in `[0, 1]` to bytes, `floor(x × 255 + 0.5)` clamped to `0..=255`, in `f32` (the export
/// script's reference does exactly this with numpy).
pub fn quantize(rgb: &[f32]) -> Vec<u8> {
    // Rust's float-to-int `as` truncates and saturates (NaN to 0): on the non-negative values that
    // survive it, truncation is `floor`, so this is floor-then-clamp in one vectorizable cast.
    rgb.iter()
        .map(|&x| (x * 255.0_f32 + 0.5_f32) as u8)
        .collect()
}

/// An animated, looping GIF of `frames` at `fps`.
pub fn encode_gif(frames: &Frames, fps: u32) -> Result<Clip, OnnxError> {
    let err = |e: gif::EncodingError| OnnxError::Inference(format!("encoding the clip: {e}"));
    let (w, h) = (
        u16::try_from(frames.width).map_err(|_| too_large(frames))?,
        u16::try_from(frames.height).map_err(|_| too_large(frames))?,
    );
    let frame_len = frames.width * frames.height * 3;
    if frames.rgb.len() != frame_len * frames.count || frames.count == 0 {
        return Err(OnnxError::Inference(format!(
            "{} values do not make {} frames of {}x{}",
            frames.rgb.len(),
            frames.count,
            frames.width,
            frames.height
        )));
    }
    // Centiseconds per frame: GIF's unit.
    let delay = u16::try_from((100 / fps.max(1)).max(1)).unwrap_or(1);
    let mut out = Vec::new();
    {
        let mut encoder = gif::Encoder::new(&mut out, w, h, &[]).map_err(err)?;
        encoder.set_repeat(gif::Repeat::Infinite).map_err(err)?;
        for rgb in frames.rgb.chunks_exact(frame_len) {
            let mut frame = gif::Frame::from_rgb_speed(w, h, rgb, QUANTIZER_SPEED);
            frame.delay = delay;
            encoder.write_frame(&frame).map_err(err)?;
        }
    }
    Ok(Clip {
        content_type: "image/gif".into(),
        bytes: out,
    })
}

fn too_large(frames: &Frames) -> OnnxError {
    OnnxError::Inference(format!(
        "frames of {}x{} are too large for a GIF",
        frames.width, frames.height
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantize_rounds_half_up_and_clamps() {
        assert_eq!(
            quantize(&[0.0, 1.0, 0.5, -3.0, 7.0, 0.002, 0.001_9, f32::NAN]),
            vec![0, 255, 128, 0, 255, 1, 0, 0]
        );
    }

    #[test]
    fn a_gif_decodes_back_to_its_frames() {
        let (count, width, height) = (3, 5, 4);
        let rgb: Vec<u8> = (0..count * width * height * 3)
            .map(|i| if (i / 3) % 2 == 0 { 255 } else { 0 })
            .collect();
        let frames = Frames {
            count,
            height,
            width,
            rgb,
        };
        let clip = encode_gif(&frames, 8).expect("encode");
        assert_eq!(clip.content_type, "image/gif");
        let mut options = gif::DecodeOptions::new();
        options.set_color_output(gif::ColorOutput::RGBA);
        let mut decoder = options.read_info(clip.bytes.as_slice()).expect("decode");
        let mut n = 0;
        while let Some(frame) = decoder.read_next_frame().expect("frame") {
            assert_eq!((frame.width, frame.height), (5, 4));
            assert_eq!(frame.delay, 12);
            // Two colours only: white and black survive quantization exactly.
            assert_eq!(&frame.buffer[..8], &[255, 255, 255, 255, 0, 0, 0, 255]);
            n += 1;
        }
        assert_eq!(n, 3);
        assert!(encode_gif(
            &Frames {
                count: 2,
                ..frames.clone()
            },
            8
        )
        .is_err());
    }
}
