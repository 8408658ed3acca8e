//! [`FfmpegEncoder`]: the media port on the `ffmpeg` and `ffprobe` binaries (Debian's package,
//! `scripts/ensure-ffmpeg.sh`). Frames go in through a pipe; files are used only where ffmpeg
//! needs them (an MP4 it seeks back into, the concat demuxer's inputs), in a [`Scratch`]
//! directory removed on every path out.

use std::ffi::OsString;
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use shotfarm_actors::ports::{Clip, Frames, MediaEncoder, MediaError, Stitched};

use crate::params::{codec_args, mp4_args, video_filter};
use crate::scratch::Scratch;

/// What installs the binaries, named in every "unavailable" error.
const INSTALL: &str = "scripts/ensure-ffmpeg.sh installs it";
/// The most of a tool's stderr an error quotes (its last lines say why it failed).
const STDERR_TAIL: usize = 600;
/// Frame rates a clip may have.
const FPS: std::ops::RangeInclusive<u32> = 1..=120;
/// The largest side a frame may have (level 4.0's widest picture is 2048 pixels).
const MAX_SIDE: u32 = 4096;

/// Encodes and joins clips by running ffmpeg (and ffprobe, for what a file holds).
#[derive(Clone, Debug)]
pub struct FfmpegEncoder {
    ffmpeg: PathBuf,
    ffprobe: PathBuf,
    /// `ffmpeg 5.1.6-0+deb12u1`, from `ffmpeg -version`.
    name: String,
}

impl FfmpegEncoder {
    /// The `ffmpeg` on `PATH` (and the `ffprobe` beside it), checked to start and to have the
    /// libx264 encoder.
    pub fn locate() -> Result<Self, MediaError> {
        let found = std::env::var_os("PATH")
            .map(|paths| std::env::split_paths(&paths).collect::<Vec<_>>())
            .unwrap_or_default()
            .into_iter()
            .map(|dir| dir.join("ffmpeg"))
            .find(|p| p.is_file());
        match found {
            Some(path) => Self::new(path),
            None => Err(MediaError::Unavailable(format!(
                "no ffmpeg on PATH; {INSTALL}"
            ))),
        }
    }

    /// The ffmpeg at `ffmpeg`, with the `ffprobe` in the same directory (its name with
    /// `ffmpeg` replaced by `ffprobe`), checked to start and to have the libx264 encoder.
    pub fn new(ffmpeg: impl Into<PathBuf>) -> Result<Self, MediaError> {
        let ffmpeg = ffmpeg.into();
        let probe_name = ffmpeg
            .file_name()
            .and_then(|n| n.to_str())
            .map(|n| n.replace("ffmpeg", "ffprobe"))
            .filter(|n| n.contains("ffprobe"))
            .unwrap_or_else(|| "ffprobe".to_owned());
        let ffprobe = ffmpeg.with_file_name(probe_name);
        let version = run(&ffmpeg, &args(["-hide_banner", "-version"]), None)?;
        let name = String::from_utf8_lossy(&version)
            .lines()
            .next()
            .and_then(|l| l.strip_prefix("ffmpeg version "))
            .and_then(|l| l.split_whitespace().next())
            .map(|v| format!("ffmpeg {v}"))
            .unwrap_or_else(|| "ffmpeg".to_owned());
        let encoders = run(&ffmpeg, &args(["-hide_banner", "-encoders"]), None)?;
        if !String::from_utf8_lossy(&encoders).contains(" libx264 ") {
            return Err(MediaError::Unavailable(format!(
                "{} has no libx264 encoder; Debian's ffmpeg package has it ({INSTALL})",
                ffmpeg.display()
            )));
        }
        run(&ffprobe, &args(["-hide_banner", "-version"]), None)?;
        Ok(Self {
            ffmpeg,
            ffprobe,
            name,
        })
    }

    /// The ffmpeg binary this encoder runs.
    pub fn ffmpeg_path(&self) -> &Path {
        &self.ffmpeg
    }

    /// The ffprobe binary this encoder runs.
    pub fn ffprobe_path(&self) -> &Path {
        &self.ffprobe
    }

    /// A clip of ffmpeg's `testsrc2` pattern, `seconds` long, encoded exactly as
    /// [`MediaEncoder::encode_clip`] encodes a shot's frames (for the benchmark and tests: a
    /// 720p clip is too big to hand over as raw frames).
    pub fn encode_test_pattern(
        &self,
        width: u32,
        height: u32,
        fps: u32,
        seconds: u32,
    ) -> Result<Clip, MediaError> {
        let scratch = Scratch::new()?;
        let out = scratch.file("pattern.mp4");
        let source = format!("testsrc2=size={width}x{height}:rate={fps}:duration={seconds}");
        let mut a = args(["-hide_banner", "-nostdin", "-loglevel", "error"]);
        a.extend(args(["-f", "lavfi", "-i", &source]));
        a.extend(args(["-vf", &video_filter(width, height)]));
        a.extend(codec_args(fps).into_iter().map(OsString::from));
        a.extend([OsString::from("-y"), out.clone().into()]);
        run(&self.ffmpeg, &a, None)?;
        read_mp4(&out)
    }

    /// The clips joined by decoding and encoding them again with the clips' own parameters:
    /// what [`MediaEncoder::stitch`] avoids, kept for the benchmark that measures the saving.
    /// `fps` is the clips' frame rate (the GOP is one second of frames).
    pub fn reencode_join(&self, clips: &[Clip], fps: u32) -> Result<Clip, MediaError> {
        let (scratch, list) = self.concat_list(clips)?;
        let out = scratch.file("reencoded.mp4");
        let mut a = args(["-hide_banner", "-nostdin", "-loglevel", "error"]);
        a.extend(args(["-f", "concat", "-safe", "0"]));
        a.extend([OsString::from("-i"), list.into()]);
        a.extend(args(["-map", "0:v", "-pix_fmt", "yuv420p"]));
        a.extend(codec_args(fps).into_iter().map(OsString::from));
        a.extend([OsString::from("-y"), out.clone().into()]);
        run(&self.ffmpeg, &a, None)?;
        read_mp4(&out)
    }

    /// Writes the clips into a scratch directory as `clip-NNN.mp4`, checks they share every
    /// codec parameter, and writes the concat demuxer's list of them.
    fn concat_list(&self, clips: &[Clip]) -> Result<(Scratch, PathBuf), MediaError> {
        if clips.is_empty() {
            return Err(MediaError::BadInput("no clips to join".into()));
        }
        let scratch = Scratch::new()?;
        let mut list = String::from("ffconcat version 1.0\n");
        let mut first: Option<String> = None;
        for (i, clip) in clips.iter().enumerate() {
            if clip.content_type != "video/mp4" {
                return Err(MediaError::BadInput(format!(
                    "clip {i} is {}, not video/mp4",
                    clip.content_type
                )));
            }
            let name = format!("clip-{i:03}.mp4");
            let path = scratch.file(&name);
            std::fs::write(&path, &clip.bytes)
                .map_err(|e| MediaError::Failed(format!("{}: {e}", path.display())))?;
            let params = self.probe_stream(&path, i)?;
            match &first {
                None => first = Some(params),
                Some(p) if *p == params => {}
                Some(p) => {
                    return Err(MediaError::BadInput(format!(
                        "clip {i} was not encoded like clip 0 ({params} against {p}): \
                         joining them would not be a stream copy"
                    )))
                }
            }
            list.push_str(&format!("file '{name}'\n"));
        }
        let path = scratch.file("clips.txt");
        std::fs::write(&path, list)
            .map_err(|e| MediaError::Failed(format!("{}: {e}", path.display())))?;
        Ok((scratch, path))
    }

    /// The first video stream's codec parameters, as one comparable line (codec, profile,
    /// size, pixel format, level, frame rate, time base, and a hash of the SPS/PPS).
    fn probe_stream(&self, path: &Path, index: usize) -> Result<String, MediaError> {
        let mut a = args([
            "-v",
            "error",
            "-select_streams",
            "v:0",
            "-show_data_hash",
            "sha256",
        ]);
        a.extend(args([
            "-show_entries",
            "stream=codec_name,profile,width,height,pix_fmt,level,r_frame_rate,time_base,\
             extradata_hash",
            "-of",
            "csv=p=0",
        ]));
        a.push(path.into());
        let out = run(&self.ffprobe, &a, None).map_err(|e| match e {
            MediaError::Failed(why) => {
                MediaError::BadInput(format!("clip {index} is not a readable MP4: {why}"))
            }
            other => other,
        })?;
        let line = String::from_utf8_lossy(&out).trim().to_owned();
        if line.is_empty() {
            return Err(MediaError::BadInput(format!(
                "clip {index} has no video stream"
            )));
        }
        Ok(line)
    }

    /// The container's duration of the MP4 at `path`, in seconds.
    fn duration_s(&self, path: &Path) -> Result<f64, MediaError> {
        let mut a = args(["-v", "error", "-show_entries", "format=duration"]);
        a.extend(args(["-of", "default=noprint_wrappers=1:nokey=1"]));
        a.push(path.into());
        let out = run(&self.ffprobe, &a, None)?;
        let text = String::from_utf8_lossy(&out);
        text.trim()
            .parse()
            .map_err(|_| MediaError::Failed(format!("ffprobe gave no duration: {text:?}")))
    }
}

impl MediaEncoder for FfmpegEncoder {
    fn encode_clip(&self, frames: &Frames) -> Result<Clip, MediaError> {
        check(frames)?;
        let scratch = Scratch::new()?;
        // `+faststart` moves the index to the front after the fact, so the MP4 goes to a
        // seekable file, not to stdout.
        let out = scratch.file("clip.mp4");
        let mut a = raw_input(frames);
        a.extend(args(["-vf", &video_filter(frames.width, frames.height)]));
        a.extend(codec_args(frames.fps).into_iter().map(OsString::from));
        a.extend([OsString::from("-y"), out.clone().into()]);
        run(&self.ffmpeg, &a, Some(&frames.rgb))?;
        read_mp4(&out)
    }

    fn encode_image(&self, frames: &Frames) -> Result<Clip, MediaError> {
        check(frames)?;
        let frame = frames.width as usize * frames.height as usize * 3;
        let mut a = raw_input(frames);
        a.extend(args(["-frames:v", "1", "-c:v", "png"]));
        a.extend(args(["-fflags", "+bitexact", "-flags:v", "+bitexact"]));
        a.extend(args(["-f", "image2pipe", "pipe:1"]));
        let png = run(&self.ffmpeg, &a, Some(&frames.rgb[..frame]))?;
        Ok(Clip {
            content_type: "image/png".into(),
            bytes: png,
        })
    }

    fn stitch(&self, clips: &[Clip]) -> Result<Stitched, MediaError> {
        let (scratch, list) = self.concat_list(clips)?;
        let out = scratch.file("video.mp4");
        // `-auto_convert 0`: the demuxer would otherwise rewrite each clip's first packet to
        // carry its SPS/PPS in-band; the clips' SPS/PPS are identical (checked above), so the
        // packets pass through byte for byte.
        let mut a = args(["-hide_banner", "-nostdin", "-loglevel", "error"]);
        a.extend(args(["-auto_convert", "0", "-f", "concat", "-safe", "0"]));
        a.extend([OsString::from("-i"), list.into()]);
        a.extend(args(["-map", "0:v", "-c", "copy"]));
        a.extend(mp4_args().into_iter().map(OsString::from));
        a.extend([OsString::from("-y"), out.clone().into()]);
        run(&self.ffmpeg, &a, None)?;

        // The poster is the first frame, lossless and as deterministic as the video.
        let mut a = args(["-hide_banner", "-nostdin", "-loglevel", "error", "-i"]);
        a.push(out.clone().into());
        a.extend(args(["-frames:v", "1", "-c:v", "png"]));
        a.extend(args(["-fflags", "+bitexact", "-flags:v", "+bitexact"]));
        a.extend(args(["-f", "image2pipe", "pipe:1"]));
        let poster = run(&self.ffmpeg, &a, None)?;

        let duration_s = self.duration_s(&out)?;
        Ok(Stitched {
            video: read_mp4(&out)?,
            poster: Clip {
                content_type: "image/png".into(),
                bytes: poster,
            },
            duration_s,
        })
    }

    fn name(&self) -> String {
        self.name.clone()
    }
}

/// The arguments that read `frames` as raw RGB from stdin.
fn raw_input(frames: &Frames) -> Vec<OsString> {
    let size = format!("{}x{}", frames.width, frames.height);
    let rate = frames.fps.to_string();
    let mut a = args(["-hide_banner", "-nostdin", "-loglevel", "error"]);
    a.extend(args(["-f", "rawvideo", "-pix_fmt", "rgb24", "-s", &size]));
    a.extend(args(["-framerate", &rate, "-i", "pipe:0"]));
    a
}

/// Refuses frames ffmpeg would misread: a size of zero or past [`MAX_SIDE`], a rate out of
/// [`FPS`], or bytes that are not a whole number of frames (at least one).
fn check(frames: &Frames) -> Result<(), MediaError> {
    let (w, h) = (frames.width, frames.height);
    if w == 0 || h == 0 || w > MAX_SIDE || h > MAX_SIDE {
        return Err(MediaError::BadInput(format!(
            "frames of {w}x{h}: each side must be 1..={MAX_SIDE}"
        )));
    }
    if !FPS.contains(&frames.fps) {
        return Err(MediaError::BadInput(format!(
            "{} fps: the rate must be {}..={}",
            frames.fps,
            FPS.start(),
            FPS.end()
        )));
    }
    let frame = w as usize * h as usize * 3;
    if frames.rgb.is_empty() || !frames.rgb.len().is_multiple_of(frame) {
        return Err(MediaError::BadInput(format!(
            "{} bytes are not whole {w}x{h} RGB frames ({frame} bytes each)",
            frames.rgb.len()
        )));
    }
    Ok(())
}

fn read_mp4(path: &Path) -> Result<Clip, MediaError> {
    let bytes =
        std::fs::read(path).map_err(|e| MediaError::Failed(format!("{}: {e}", path.display())))?;
    Ok(Clip {
        content_type: "video/mp4".into(),
        bytes,
    })
}

fn args<const N: usize>(list: [&str; N]) -> Vec<OsString> {
    list.iter().map(OsString::from).collect()
}

/// Runs `program` with `args`, writing `input` to its stdin from another thread while this one
/// drains stdout and stderr (either pipe filling up would otherwise deadlock both sides), and
/// returns its stdout. A binary that cannot start is `Unavailable`; a non-zero exit is `Failed`
/// with the end of its stderr.
fn run(program: &Path, args: &[OsString], input: Option<&[u8]>) -> Result<Vec<u8>, MediaError> {
    let tool = program
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| program.display().to_string());
    let mut child = Command::new(program)
        .args(args)
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| {
            MediaError::Unavailable(format!(
                "{} cannot start ({e}); {INSTALL}",
                program.display()
            ))
        })?;
    let stdin = child.stdin.take();
    let (output, written) = std::thread::scope(|s| {
        let writer = s.spawn(move || match (stdin, input) {
            (Some(mut pipe), Some(bytes)) => pipe.write_all(bytes),
            _ => Ok(()),
        });
        let output = child.wait_with_output();
        (output, writer.join())
    });
    let output = output.map_err(|e| MediaError::Failed(format!("{tool}: {e}")))?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let stderr = stderr.trim();
        let from = stderr.len().saturating_sub(STDERR_TAIL);
        let from = (from..stderr.len())
            .find(|&i| stderr.is_char_boundary(i))
            .unwrap_or(stderr.len());
        let tail = &stderr[from..];
        return Err(MediaError::Failed(format!(
            "{tool} exited with {}: {tail}",
            output.status
        )));
    }
    match written {
        // A tool that exits successfully without reading all of its input (ffmpeg after
        // `-frames:v 1`) closes the pipe: not an error.
        Ok(Err(e)) if e.kind() != ErrorKind::BrokenPipe => {
            Err(MediaError::Failed(format!("{tool} stdin: {e}")))
        }
        Err(_) => Err(MediaError::Failed(format!("{tool} stdin writer panicked"))),
        _ => Ok(output.stdout),
    }
}
