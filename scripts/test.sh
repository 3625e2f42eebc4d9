#!/usr/bin/env bash
# Runs every test of tinygan (what CI runs). Installs what the tests need first.
# Lints (clippy) live in scripts/lint.sh: a second, check-mode build of Burn would not fit CI's
# budget on a cold machine.
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$repo_root"
start=$(date +%s)
step() { echo; echo "== $* ($(( $(date +%s) - start ))s)"; }

step "setup"
bash scripts/setup.sh

step "format"
cargo fmt --all --check
cargo fmt --manifest-path tests/burn-roundtrip/Cargo.toml --check

step "build"
tinygan_build

step "runtime-nostd builds for thumbv7m-none-eabi"
bash runtime-nostd/check-thumb.sh

step "firmware: both boards build, format, driver and app unit tests"
TINYGAN_FW_SKIP_INSTALL=1 TINYGAN_FW_SKIP_QEMU_TEST=1 bash scripts/firmware-test.sh

step "tests (unit, integration, end-to-end, firmware in QEMU)"
cargo test --release --workspace

step "burn-onnx round trip (exported ONNX → generated Burn code → same images as the trainer)"
bash scripts/burn-roundtrip.sh

step "one build: README's main command (scripts/main.sh) compiles nothing after this"
# Its build is `tinygan_build` too; a dependency compiled here would mean a second feature set.
main_log="$CARGO_TARGET_DIR/main-sh-reuse.log"
bash scripts/main.sh --help >/dev/null 2>"$main_log"
rebuilt=$(sed -n 's/^ *Compiling \([^ ]*\) .*/\1/p' "$main_log" |
  { grep -vxE 'trainer|export|runtime-nostd|tinygan-tests' || true; })
if [ -n "$rebuilt" ]; then
  echo "test.sh: scripts/main.sh recompiled dependencies (another feature set than this build):" >&2
  echo "$rebuilt" >&2
  exit 1
fi
echo "scripts/main.sh reused this build: no dependency compiled"

step "done"
