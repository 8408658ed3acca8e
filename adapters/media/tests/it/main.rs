//! The media adapter's tests, one binary: the encoder on the real ffmpeg (scripts/ensure-ffmpeg.sh
//! installs it; a missing one fails the tests naming that script), the stitch executor end to
//! end on local artifact storage, and a tiny run of the benchmark.

mod bench;
mod encoder;
mod stitch_executor;
mod support;
