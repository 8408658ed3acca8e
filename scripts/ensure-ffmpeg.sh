#!/usr/bin/env bash
# Installs ffmpeg (Debian package: ffmpeg and ffprobe, with libx264) when it is missing; quiet when
# it is there. The stitch stage (adapters/media) runs the ffmpeg binary to encode each shot's clip
# and to join the clips into the finished MP4, and its tests read the result back with ffprobe.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib/apt.sh"
ensure_command ffmpeg ffmpeg ensure-ffmpeg
ensure_command ffprobe ffmpeg ensure-ffmpeg
