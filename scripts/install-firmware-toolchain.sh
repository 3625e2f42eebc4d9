#!/usr/bin/env bash
# Install what the firmware needs: a Rust compiler for the Cortex-M targets and QEMU (lm3s6965evb).
#
# Idempotent and fast when everything is already there (no network access then).
#
# Two routes for the compiler, tried in this order:
#   1. rustup: `rustup target add thumbv7m-none-eabi thumbv6m-none-eabi thumbv7em-none-eabihf` (links
#      with rustup's rust-lld).
#   2. Debian: when rustup cannot fetch the thumb targets, Debian's rustc-web (1.96) with its library
#      source and ld.lld-22; the firmware then builds `core` from source (-Zbuild-std=core).
#      scripts/firmware-env.sh turns that route on for cargo (scripts/firmware-test.sh sources it).
# Set TINYGAN_FW_TOOLCHAIN=debian to force route 2, =rustup to forbid it.
#
# QEMU: qemu-system-arm from bookworm-backports (matches the image's qemu-utils 10.x); the distro's
# own package elsewhere.
set -euo pipefail

TARGETS=(thumbv7m-none-eabi thumbv6m-none-eabi thumbv7em-none-eabihf)
ROUTE="${TINYGAN_FW_TOOLCHAIN:-auto}"
SUDO=""
if [ "$(id -u)" != 0 ] && command -v sudo >/dev/null; then SUDO="sudo"; fi

log() { echo "install-firmware-toolchain: $*" >&2; }

apt_updated=0
apt_install() {
    if [ "$apt_updated" = 0 ]; then
        $SUDO apt-get update -qq
        apt_updated=1
    fi
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "$@"
}

rustup_has_targets() {
    command -v rustup >/dev/null || return 1
    local installed
    installed="$(rustup target list --installed 2>/dev/null)" || return 1
    for t in "${TARGETS[@]}"; do
        grep -qx "$t" <<<"$installed" || return 1
    done
}

debian_ready() {
    [ -x /usr/bin/rustc ] && /usr/bin/rustc --print target-list 2>/dev/null | grep -qx thumbv7m-none-eabi &&
        [ -d /usr/lib/rustlib/src/rust/library/core ] && command -v ld.lld-22 >/dev/null
}

# --- compiler ---------------------------------------------------------------------------------
if [ "$ROUTE" != debian ] && rustup_has_targets; then
    log "rustup targets already installed: ${TARGETS[*]}"
elif [ "$ROUTE" != debian ] && command -v rustup >/dev/null &&
    timeout 300 rustup target add "${TARGETS[@]}" >&2 && rustup_has_targets; then
    log "installed rustup targets: ${TARGETS[*]}"
elif [ "$ROUTE" = rustup ]; then
    log "rustup could not install ${TARGETS[*]} (TINYGAN_FW_TOOLCHAIN=rustup forbids the Debian route)"
    exit 1
elif debian_ready; then
    log "Debian rustc-web + rust-web-src + lld-22 already installed"
else
    log "rustup cannot provide the thumb targets: installing Debian's rustc-web, rust-web-src, lld-22"
    apt_install rustc-web cargo-web rust-web-src lld-22
    debian_ready || { log "Debian toolchain incomplete after install"; exit 1; }
fi

# --- QEMU -------------------------------------------------------------------------------------
if command -v qemu-system-arm >/dev/null && qemu-system-arm -machine help | grep -q lm3s6965evb; then
    log "qemu-system-arm already installed ($(qemu-system-arm --version | head -1))"
else
    if grep -qs 'VERSION_CODENAME=bookworm' /etc/os-release; then
        # bookworm's own qemu-system-arm (7.2) would make apt remove a backports qemu-utils.
        if ! grep -rqs bookworm-backports /etc/apt/sources.list /etc/apt/sources.list.d/; then
            log "adding bookworm-backports"
            printf 'Types: deb\nURIs: http://deb.debian.org/debian\nSuites: bookworm-backports\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' |
                $SUDO tee /etc/apt/sources.list.d/bookworm-backports.sources >/dev/null
            apt_updated=0
        fi
        apt_install -t bookworm-backports qemu-system-arm
    else
        apt_install qemu-system-arm
    fi
    qemu-system-arm -machine help | grep -q lm3s6965evb || { log "qemu-system-arm lacks lm3s6965evb"; exit 1; }
fi
log "ok"
