# Source this (bash) before running cargo in firmware/ by hand; the firmware scripts source it.
#
# * Picks the firmware's own target directory (never the host workspace's, whose lock a long Burn
#   build may hold): $TINYGAN_FIRMWARE_TARGET_DIR, else a `firmware-target` next to
#   $CARGO_TARGET_DIR when that is set, else firmware/target.
# * Drops RUSTFLAGS (they would replace the linker flags in firmware/.cargo/config.toml).
# * When rustup has no thumb targets but Debian's rustc-web is installed (the fallback route of
#   scripts/install-firmware-toolchain.sh), points cargo at /usr/bin/rustc, ld.lld-22 and
#   -Zbuild-std=core.

_fw_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [ -n "${TINYGAN_FIRMWARE_TARGET_DIR:-}" ]; then
    export CARGO_TARGET_DIR="$TINYGAN_FIRMWARE_TARGET_DIR"
elif [ -n "${CARGO_TARGET_DIR:-}" ]; then
    export CARGO_TARGET_DIR="$(dirname "$CARGO_TARGET_DIR")/firmware-target"
else
    export CARGO_TARGET_DIR="$_fw_root/firmware/target"
fi
unset RUSTFLAGS CARGO_ENCODED_RUSTFLAGS CARGO_BUILD_TARGET

_fw_rustup_ok=0
if [ "${TINYGAN_FW_TOOLCHAIN:-auto}" != debian ] && command -v rustup >/dev/null 2>&1; then
    _fw_installed="$(cd "$_fw_root/firmware" && rustup target list --installed 2>/dev/null || true)"
    if grep -qx thumbv7m-none-eabi <<<"$_fw_installed" && grep -qx thumbv6m-none-eabi <<<"$_fw_installed"; then
        _fw_rustup_ok=1
    fi
fi
if [ "$_fw_rustup_ok" = 0 ] && [ -x /usr/bin/rustc ] && [ -d /usr/lib/rustlib/src/rust/library/core ]; then
    export TINYGAN_FW_ROUTE=debian
    export CARGO_BUILD_RUSTC=/usr/bin/rustc
    export RUSTC_BOOTSTRAP=1
    export CARGO_UNSTABLE_BUILD_STD=core
    export CARGO_TARGET_THUMBV7M_NONE_EABI_LINKER=ld.lld-22
    export CARGO_TARGET_THUMBV6M_NONE_EABI_LINKER=ld.lld-22
    export CARGO_TARGET_THUMBV7EM_NONE_EABIHF_LINKER=ld.lld-22
else
    export TINYGAN_FW_ROUTE=rustup
fi
unset _fw_root _fw_rustup_ok _fw_installed
