//! shotfarm's media adapter: the [`MediaEncoder`](shotfarm_actors::ports::MediaEncoder) port on
//! the `ffmpeg` binary, and the executor of a story video's `stitch` stage.
//!
//! Layout:
//! - `ffmpeg.rs`: [`FfmpegEncoder`], which runs ffmpeg and ffprobe (frames in through a pipe);
//! - `params.rs`: the codec parameters every clip shares, so that a join is a stream copy;
//! - `scratch.rs`: the temporary directory for the files ffmpeg needs, removed on every path;
//! - `stitch_executor.rs`: [`StitchExecutor`], the `Executor` port for `stitch` jobs;
//! - `bench.rs`: the stitch benchmark (stream copy against re-encode), shared by
//!   `benches/stitch.rs` and the test that keeps it runnable.

pub mod bench;
mod ffmpeg;
pub mod params;
mod scratch;
mod stitch_executor;

pub use ffmpeg::FfmpegEncoder;
pub use stitch_executor::StitchExecutor;
