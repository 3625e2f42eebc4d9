# Sourced by the project's scripts: one warm build directory per toolchain, outside the checkout,
# so that a fresh clone (CI) reuses an earlier build instead of compiling Burn again.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-${TINYGAN_CACHE:-$HOME/.cache/tinygan}/target}"
export TINYGAN_FIRMWARE_TARGET_DIR="${TINYGAN_FIRMWARE_TARGET_DIR:-${TINYGAN_CACHE:-$HOME/.cache/tinygan}/firmware-target}"
repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# MNIST: $TINYGAN_DATA, else ../shared/mnist beside the checkout (as in CI), else ./data/mnist
# (downloaded and checksum-verified on first use).
if [ -z "${TINYGAN_DATA:-}" ] && [ -f "$repo_root/../shared/mnist/train-images-idx3-ubyte.gz" ]; then
  export TINYGAN_DATA="$(cd "$repo_root/../shared/mnist" && pwd)"
fi
