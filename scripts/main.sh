#!/usr/bin/env bash
# The main job with sensible defaults: train `tiny` with WGAN-GP, write samples, export the generator.
# Extra arguments go to `tinygan train` (e.g. --iters 500 --device cpu --run runs/quick).
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$repo_root"
# The same build as scripts/test.sh (`tinygan_build`, scripts/env.sh): after one, the other
# compiles nothing.
tinygan_build
exec "$CARGO_TARGET_DIR/release/tinygan" train "$@"
