#!/usr/bin/env bash
# Benchmarks ferrostack-media against the ffmpeg CLI, ffprobe and ffmpeg-normalize, side by side
# in one run (medians). Results go to stdout as a Markdown table; docs/BENCHMARKS-media.md holds
# the last recorded run.
#
#   scripts/bench-media.sh            # 3 runs per command
#   RUNS=5 scripts/bench-media.sh
#   BENCH_DIR=/tmp/bench scripts/bench-media.sh   # where the test media are made (kept between runs)
#
# Needs: ffmpeg/ffprobe (Debian 12: 5.1), python3, and `pip install ffmpeg-normalize`.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/work/target-media}"
cargo build --release -p ferrostack-media
exec python3 scripts/bench-media.py "$CARGO_TARGET_DIR/release/ferrostack-media"
