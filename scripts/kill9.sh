#!/usr/bin/env bash
# kill -9 anywhere, the full count: trainer/tests/kill9.rs with N SIGKILLs at random moments of a
# small training run (default 24; CI runs 6), each run resumed to its end and compared file by
# file with an uninterrupted run. Prints where the kills landed.
#   scripts/kill9.sh [N] [SEED]
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$repo_root"
export TINYGAN_KILL9_COUNT="${1:-24}" TINYGAN_KILL9_SEED="${2:-99}"
tinygan_build
cargo test --release --workspace --test kill9 -- --nocapture 2>&1 |
  grep -E '^kill9:|^test |test result|panicked'
