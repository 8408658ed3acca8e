//! The ffmpeg encoder: clips with the shared parameters, the join as a stream copy, byte-for-byte
//! determinism, and refusals.

use shotfarm_actors::ports::{Clip, Frames, MediaEncoder, MediaError};
use shotfarm_media::FfmpegEncoder;

use crate::support::{encoder, first_frame_rgb, frames, packet_hashes, probe, TempDir};

#[test]
fn three_clips_join_by_a_stream_copy_into_h264_of_their_summed_duration() {
    let enc = encoder();
    let dir = TempDir::new("join");
    // 1 s, 0.5 s and 1.5 s at 24 fps.
    let clips: Vec<Clip> = [(1, 24), (2, 12), (3, 36)]
        .iter()
        .map(|&(seed, n)| enc.encode_clip(&frames(seed, n)).expect("encode"))
        .collect();
    let stitched = enc.stitch(&clips).expect("stitch");
    assert_eq!(stitched.video.content_type, "video/mp4");
    let video = dir.write("video.mp4", &stitched.video);

    let stream = probe(
        &enc,
        &video,
        "stream=codec_name,profile,width,height,pix_fmt,nb_frames",
    );
    assert_eq!(stream, ["h264", "High", "256", "256", "yuv420p", "72"]);
    let frame = 1.0 / 24.0;
    assert!(
        (stitched.duration_s - 3.0).abs() < frame,
        "{}",
        stitched.duration_s
    );
    let format = probe(&enc, &video, "format=duration");
    let probed: f64 = format[0].parse().expect("duration");
    assert!((probed - 3.0).abs() < frame, "{probed}");

    // A stream copy: the video's packets are the clips' packets, byte for byte, in order.
    let mut expected = Vec::new();
    for (i, clip) in clips.iter().enumerate() {
        expected.extend(packet_hashes(&enc, &dir.write(&format!("c{i}.mp4"), clip)));
    }
    assert_eq!(expected.len(), 72);
    assert_eq!(packet_hashes(&enc, &video), expected);

    // The poster is the video's first frame, as a PNG.
    assert_eq!(stitched.poster.content_type, "image/png");
    let poster = dir.write("poster.png", &stitched.poster);
    assert_eq!(
        probe(&enc, &poster, "stream=codec_name,width,height"),
        ["png", "256", "256"]
    );
    assert_eq!(
        first_frame_rgb(&enc, &poster),
        first_frame_rgb(&enc, &video)
    );
}

#[test]
fn identical_frames_give_identical_bytes() {
    let enc = encoder();
    let a = enc.encode_clip(&frames(7, 30)).expect("encode");
    let b = enc.encode_clip(&frames(7, 30)).expect("encode");
    assert!(a.bytes == b.bytes, "two encodes of one input differ");
    let other = enc.encode_clip(&frames(8, 30)).expect("encode");
    assert!(a.bytes != other.bytes);

    let one = enc.stitch(&[a.clone(), other.clone()]).expect("stitch");
    let two = enc.stitch(&[b, other]).expect("stitch");
    assert!(one.video.bytes == two.video.bytes, "two joins differ");
    assert_eq!(one.poster, two.poster);

    // A clip says nothing of when or by which build it was made.
    let text = String::from_utf8_lossy(&a.bytes);
    assert!(!text.contains("Lavf"), "the muxer's version is in the file");
}

#[test]
fn an_image_is_the_first_frame_losslessly() {
    let enc = encoder();
    let dir = TempDir::new("image");
    let input = frames(5, 3);
    let image = enc.encode_image(&input).expect("image");
    assert_eq!(image.content_type, "image/png");
    assert!(image.bytes.starts_with(b"\x89PNG"));
    let path = dir.write("image.png", &image);
    assert_eq!(probe(&enc, &path, "stream=width,height"), ["64", "64"]);
    assert_eq!(first_frame_rgb(&enc, &path), input.rgb[..64 * 64 * 3]);
}

#[test]
fn a_missing_ffmpeg_is_unavailable_and_names_what_installs_it() {
    let err = FfmpegEncoder::new("/nonexistent/bin/ffmpeg").expect_err("no such binary");
    let MediaError::Unavailable(why) = &err else {
        panic!("{err:?}");
    };
    assert!(why.contains("scripts/ensure-ffmpeg.sh"), "{why}");
    assert!(why.contains("/nonexistent/bin/ffmpeg"), "{why}");
}

#[test]
fn clips_that_cannot_be_joined_by_a_copy_are_refused() {
    let enc = encoder();
    let small = enc.encode_clip(&frames(1, 6)).expect("encode");
    let other_size = Frames {
        width: 128,
        height: 64,
        fps: 24,
        rgb: vec![90; 128 * 64 * 3 * 6],
    };
    let wide = enc.encode_clip(&other_size).expect("encode");
    let gif = Clip {
        content_type: "image/gif".into(),
        bytes: b"GIF89a".to_vec(),
    };
    let junk = Clip {
        content_type: "video/mp4".into(),
        bytes: b"not an mp4".to_vec(),
    };
    for (what, clips) in [
        ("no clips", vec![]),
        ("another size", vec![small.clone(), wide]),
        ("a gif", vec![small.clone(), gif]),
        ("junk", vec![small, junk]),
    ] {
        let err = enc.stitch(&clips).expect_err(what);
        assert!(matches!(err, MediaError::BadInput(_)), "{what}: {err:?}");
    }
}

#[test]
fn frames_that_are_not_whole_are_refused() {
    let enc = encoder();
    let mut partial = frames(1, 2);
    partial.rgb.pop();
    let mut empty = frames(1, 1);
    empty.rgb.clear();
    let mut zero_rate = frames(1, 1);
    zero_rate.fps = 0;
    for bad in [partial, empty, zero_rate] {
        assert!(matches!(
            enc.encode_clip(&bad),
            Err(MediaError::BadInput(_))
        ));
        assert!(matches!(
            enc.encode_image(&bad),
            Err(MediaError::BadInput(_))
        ));
    }
}

#[test]
fn the_encoder_is_named_by_its_version() {
    let name = encoder().name();
    assert!(name.starts_with("ffmpeg "), "{name}");
}
