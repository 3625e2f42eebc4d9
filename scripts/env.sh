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

# The one build of the host workspace. Every script builds with exactly these flags: cargo resolves
# features per set of targets (dev-dependencies such as tract enable extra features of crates Burn
# shares, e.g. `half`, `num-traits`, `serde`), so `--bins` alone would recompile much of Burn with a
# second feature set instead of reusing this one.
tinygan_build() {
  cargo build --release --workspace --all-targets "$@"
}
