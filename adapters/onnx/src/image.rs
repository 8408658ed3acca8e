//! PNG in and out of the executor, in pure Rust: the reference image it stores when no media
//! encoder is injected, and the decoding of a stored reference into the RGB bytes an
//! image-to-video shot is conditioned on. PNG is lossless, so the pixels a shot reads back are
//! exactly the ones the reference stage drew, whichever encoder wrote them.

use std::io::Cursor;

use super::OnnxError;
use shotfarm_actors::ports::Clip;

/// Decoded pixels of a reference image: `height × width × 3` RGB bytes, row by row.
#[derive(Debug, Clone, PartialEq)]
pub struct Rgb {
    pub width: usize,
    pub height: usize,
    pub rgb: Vec<u8>,
}

/// A reference image this large (per side) is refused rather than decoded: a 4096² RGBA image is
/// already 64 MiB, the `png` crate's own default allocation limit.
const MAX_SIDE: u32 = 4096;

/// One RGB image as an `image/png` clip.
pub fn encode_png(width: usize, height: usize, rgb: &[u8]) -> Result<Clip, OnnxError> {
    let err = |e: png::EncodingError| OnnxError::Media(format!("encoding the image: {e}"));
    if width == 0 || height == 0 || rgb.len() != width * height * 3 {
        return Err(OnnxError::Media(format!(
            "{} bytes do not make a {width}x{height} RGB image",
            rgb.len()
        )));
    }
    let (w, h) = (
        u32::try_from(width).map_err(|_| OnnxError::Media("image too wide".into()))?,
        u32::try_from(height).map_err(|_| OnnxError::Media("image too tall".into()))?,
    );
    let mut out = Vec::new();
    {
        let mut encoder = png::Encoder::new(&mut out, w, h);
        encoder.set_color(png::ColorType::Rgb);
        encoder.set_depth(png::BitDepth::Eight);
        let mut writer = encoder.write_header().map_err(err)?;
        writer.write_image_data(rgb).map_err(err)?;
        writer.finish().map_err(err)?;
    }
    Ok(Clip {
        content_type: "image/png".into(),
        bytes: out,
    })
}

/// The first frame of a PNG as 8-bit RGB: palettes expanded, 16-bit samples cut to 8, alpha
/// dropped, grey spread to three channels (a reference drawn elsewhere may be any of these).
pub fn decode_png(bytes: &[u8]) -> Result<Rgb, OnnxError> {
    let err =
        |e: png::DecodingError| OnnxError::Media(format!("decoding the reference image: {e}"));
    let mut decoder = png::Decoder::new(Cursor::new(bytes));
    decoder.set_transformations(png::Transformations::normalize_to_color8());
    let mut reader = decoder.read_info().map_err(err)?;
    let (w, h) = (reader.info().width, reader.info().height);
    if w > MAX_SIDE || h > MAX_SIDE {
        return Err(OnnxError::Media(format!(
            "the reference image is {w}x{h}; at most {MAX_SIDE} a side"
        )));
    }
    let size = reader
        .output_buffer_size()
        .ok_or_else(|| OnnxError::Media("the reference image is too large".into()))?;
    let mut buf = vec![0; size];
    let info = reader.next_frame(&mut buf).map_err(err)?;
    buf.truncate(info.buffer_size());
    let channels = match info.color_type {
        png::ColorType::Grayscale => 1,
        png::ColorType::GrayscaleAlpha => 2,
        png::ColorType::Rgb => 3,
        png::ColorType::Rgba => 4,
        // normalize_to_color8 expands palettes; nothing else is left.
        png::ColorType::Indexed => {
            return Err(OnnxError::Media(
                "the reference image's palette was not expanded".into(),
            ))
        }
    };
    let rgb = buf
        .chunks_exact(channels)
        .flat_map(|px| match px.len() {
            1 | 2 => [px[0], px[0], px[0]],
            _ => [px[0], px[1], px[2]],
        })
        .collect();
    Ok(Rgb {
        width: info.width as usize,
        height: info.height as usize,
        rgb,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_png_decodes_back_to_the_same_pixels() {
        let rgb: Vec<u8> = (0..5 * 3 * 3).map(|i| (i * 7) as u8).collect();
        let clip = encode_png(5, 3, &rgb).expect("encode");
        assert_eq!(clip.content_type, "image/png");
        let back = decode_png(&clip.bytes).expect("decode");
        assert_eq!((back.width, back.height), (5, 3));
        assert_eq!(back.rgb, rgb);
        assert!(encode_png(5, 4, &rgb).is_err());
    }

    #[test]
    fn grey_and_alpha_images_become_rgb() {
        let mut out = Vec::new();
        {
            let mut e = png::Encoder::new(&mut out, 2, 1);
            e.set_color(png::ColorType::GrayscaleAlpha);
            e.set_depth(png::BitDepth::Eight);
            let mut w = e.write_header().expect("header");
            w.write_image_data(&[10, 255, 200, 0]).expect("data");
            w.finish().expect("finish");
        }
        let back = decode_png(&out).expect("decode");
        assert_eq!(back.rgb, vec![10, 10, 10, 200, 200, 200]);
        assert!(decode_png(b"not a png").is_err());
    }
}
