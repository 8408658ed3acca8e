//! The codec parameters every clip is encoded with, in one place: the join of a story video's
//! clips is a stream copy only because every clip comes out of these exact arguments.

/// The shorter side a clip is scaled up to at least. The tiny model's 64x64 frames become
/// 256x256: big enough for a page's player, and an integer factor (4) with nearest-neighbour
/// sampling, so each source pixel is a 4x4 block and 4:2:0 chroma (one sample per 2x2) never
/// blends two source pixels' colours.
pub const MIN_SIDE: u32 = 256;

/// The mp4 track's timescale. 90 kHz divides the frame duration of every common rate (24, 25,
/// 30, 50, 60 fps) exactly, so clip durations add up without rounding.
pub const TIMESCALE: u32 = 90_000;

/// The size a `width × height` source is encoded at: scaled up by the smallest integer factor
/// that makes the shorter side at least [`MIN_SIDE`], then padded to even sides (4:2:0 needs
/// them; only an odd-sided source at factor 1 ever pads).
pub fn output_size(width: u32, height: u32) -> (u32, u32) {
    let factor = MIN_SIDE.div_ceil(width.min(height).max(1)).max(1);
    let even = |n: u32| n * factor + (n * factor) % 2;
    (even(width), even(height))
}

/// The video filter from a `width × height` source: nearest-neighbour integer scaling and the
/// RGB → BT.709 limited-range YUV 4:2:0 conversion (tagged the same in the stream, so players
/// show the colours the model drew), with swscale's bit-exact flags so the output does not
/// depend on the CPU's SIMD paths.
pub fn video_filter(width: u32, height: u32) -> String {
    let (w, h) = output_size(width, height);
    let factor = MIN_SIDE.div_ceil(width.min(height).max(1)).max(1);
    let (sw, sh) = (width * factor, height * factor);
    let mut filter = format!(
        "scale={sw}:{sh}:flags=neighbor+bitexact+accurate_rnd+full_chroma_int\
         :out_color_matrix=bt709:out_range=tv"
    );
    if (sw, sh) != (w, h) {
        filter.push_str(&format!(",pad={w}:{h}:0:0"));
    }
    filter.push_str(",format=yuv420p");
    filter
}

/// The encoder and muxer arguments of every clip at `fps`, after the input and the filter. Why
/// each one:
/// - libx264, High profile, level 4.0: plays in every browser (Chromium included) and on every
///   phone; 4.0 covers 1080p30, more than any model here renders.
/// - `-crf 18 -preset medium`: visually lossless at the tiny model's sizes; the preset is
///   ffmpeg's default balance (an 8 s 720p clip is about 6 s on one core).
/// - `-bf 0`: no B-frames, so no composition offsets and no edit list: each clip starts at
///   time 0, a joined video's duration is exactly the sum of its clips', and the concat
///   demuxer passes packets through untouched.
/// - `-g fps -keyint_min fps -sc_threshold 0`: a keyframe every second and nowhere else, so
///   every clip has the same GOP structure and seeking is one second at worst.
/// - `-threads 1`: x264's output depends on how frames are split between threads; one thread
///   makes identical frames give identical bytes (a preempted run's MP4 equals an
///   uninterrupted one's).
/// - bt709 tags, `-fps_mode cfr`, the track timescale: what the filter produced, stated, so
///   the stream-copy join sees identical parameters in every clip.
/// - `-map_metadata -1`, `+bitexact`: no encoder version string, creation time or title in
///   the container, which would make bytes differ between runs or hosts.
/// - `+faststart`: the index (moov) first, so a browser starts playing before the whole file
///   has arrived.
#[rustfmt::skip]
pub fn codec_args(fps: u32) -> Vec<String> {
    let g = fps.max(1).to_string();
    [
        "-an", "-sn", "-dn",
        "-c:v", "libx264", "-preset", "medium", "-crf", "18",
        "-profile:v", "high", "-level:v", "4.0",
        "-bf", "0", "-g", &g, "-keyint_min", &g, "-sc_threshold", "0",
        "-threads", "1",
        "-colorspace", "bt709", "-color_primaries", "bt709", "-color_trc", "bt709",
        "-color_range", "tv",
        "-fps_mode", "cfr",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .chain(mp4_args())
    .collect()
}

/// The muxer arguments of every MP4 written here, clips and joins alike.
#[rustfmt::skip]
pub fn mp4_args() -> Vec<String> {
    [
        "-map_metadata", "-1", "-map_chapters", "-1",
        "-video_track_timescale", &TIMESCALE.to_string(),
        "-fflags", "+bitexact", "-flags:v", "+bitexact",
        "-movflags", "+faststart",
        "-f", "mp4",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_frames_scale_by_an_integer_and_sides_come_out_even() {
        assert_eq!(output_size(64, 64), (256, 256));
        assert_eq!(output_size(1280, 720), (1280, 720));
        assert_eq!(output_size(100, 60), (500, 300));
        assert_eq!(output_size(301, 257), (302, 258));
        assert!(video_filter(301, 257).contains("pad=302:258"));
        assert!(!video_filter(64, 64).contains("pad"));
    }
}
