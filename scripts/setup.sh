#!/usr/bin/env bash
# Installs everything the tests need on a fresh machine (idempotent, quick when already done):
#  - Mesa's software Vulkan driver (lavapipe), so the wgpu training path runs without a GPU;
#  - the Cortex-M firmware toolchain and QEMU (scripts/install-firmware-toolchain.sh).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"

need=()
for pkg in mesa-vulkan-drivers libvulkan1; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
  echo "setup: installing ${need[*]}"
  sudo_cmd=""
  [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${need[@]}"
fi

for comp in rustfmt clippy; do
  if ! cargo "${comp/rustfmt/fmt}" --version >/dev/null 2>&1; then
    rustup component add "$comp"
  fi
done

bash "$here/install-firmware-toolchain.sh"
