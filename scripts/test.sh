#!/usr/bin/env bash
# Runs every test of tinygan (what CI runs). Installs what the tests need first.
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$repo_root"
start=$(date +%s)
step() { echo; echo "== $* ($(( $(date +%s) - start ))s)"; }

step "setup"
bash scripts/setup.sh

step "format"
cargo fmt --all --check
(cd firmware && cargo fmt --all --check)

step "build"
cargo build --release --workspace --all-targets

step "lint"
cargo clippy --release --workspace --all-targets -- -D warnings

step "runtime-nostd builds for thumbv7m-none-eabi"
bash runtime-nostd/check-thumb.sh

step "tests (unit, integration, end-to-end, firmware in QEMU)"
cargo test --release --workspace

step "done"
