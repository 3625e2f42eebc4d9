#!/usr/bin/env bash
# Format and lint checks for every crate (host workspace and firmware).
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$repo_root"
cargo fmt --all --check
cargo clippy --release --workspace --all-targets -- -D warnings
source scripts/firmware-env.sh
(cd firmware && cargo fmt --check && cargo clippy --release -- -D warnings)
