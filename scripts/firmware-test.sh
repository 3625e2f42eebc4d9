#!/usr/bin/env bash
# The firmware's CI entry point:
#   1. scripts/install-firmware-toolchain.sh (fast when already installed; set
#      TINYGAN_FW_SKIP_INSTALL=1 to only use what is there),
#   2. build both boards (LM3S6965 for QEMU, Raspberry Pi Pico),
#   3. the firmware crates' host unit tests and doc tests (driver, app),
#   4. the QEMU end-to-end test: cargo test --release --workspace --test firmware_qemu.
# Any missing piece is a failure, never a skip.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"

if [ "${TINYGAN_FW_SKIP_INSTALL:-0}" != 1 ]; then
    "$root/scripts/install-firmware-toolchain.sh"
fi

"$root/scripts/firmware-build.sh" --board all

(
    # shellcheck source=firmware-env.sh
    source "$root/scripts/firmware-env.sh"
    cd "$root/firmware"
    cargo fmt --check  # the workspace members only (not runtime-nostd)
    host="$(rustc -vV | sed -n 's/^host: //p')"
    if [ "$TINYGAN_FW_ROUTE" = debian ]; then
        # The host's std comes from rustup's toolchain, not from Debian's build-std setup.
        env -u CARGO_BUILD_RUSTC -u CARGO_UNSTABLE_BUILD_STD \
            cargo test --release --target "$host" -p ssd0323 -p tinygan-fw
    else
        cargo test --release --target "$host" -p ssd0323 -p tinygan-fw
    fi
)

# scripts/test.sh runs the QEMU test with the rest of the workspace's tests.
if [ "${TINYGAN_FW_SKIP_QEMU_TEST:-0}" != 1 ]; then
    # shellcheck source=env.sh
    source "$root/scripts/env.sh"  # the shared warm build directory
    cd "$root"
    cargo test --release --workspace --test firmware_qemu
fi
