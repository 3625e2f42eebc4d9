#!/usr/bin/env bash
# The main job with sensible defaults: train `tiny` with WGAN-GP, write samples, export the generator.
# Extra arguments go to `tinygan train` (e.g. --iters 500 --device cpu --run runs/quick).
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$repo_root"
# Built the way scripts/test.sh builds it (whole workspace), so the two share one build of Burn
# and of the trainer instead of rebuilding each other's feature set.
cargo build --release --workspace --bins
exec "$CARGO_TARGET_DIR/release/tinygan" train "$@"
