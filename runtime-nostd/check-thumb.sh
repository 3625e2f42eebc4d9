#!/usr/bin/env bash
# Builds runtime-nostd for thumbv7m-none-eabi (Cortex-M3, no FPU) and reports the flash / RAM of a
# minimal program that parses a blob and generates one digit (runtime-nostd/thumb-size).
#
# Toolchain: rustup's thumbv7m target if installed; otherwise Debian's rustc-web 1.96 + its library
# source + ld.lld-22, building `core` from source (-Zbuild-std=core). Installs that toolchain via
# scripts/install-firmware-toolchain.sh when present, else with apt-get.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
target=thumbv7m-none-eabi
export CARGO_TARGET_DIR="${TINYGAN_THUMB_TARGET_DIR:-${CARGO_TARGET_DIR:+$(dirname "$CARGO_TARGET_DIR")/thumb-target}}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$here/thumb-size/target}"
unset RUSTFLAGS CARGO_ENCODED_RUSTFLAGS CARGO_BUILD_TARGET

# TINYGAN_FW_TOOLCHAIN=debian forces the Debian route (as in scripts/install-firmware-toolchain.sh).
rustup_ok() {
    [ "${TINYGAN_FW_TOOLCHAIN:-auto}" != debian ] && command -v rustup >/dev/null &&
        rustup target list --installed 2>/dev/null | grep -qx "$target"
}
debian_ok() {
    [ -x /usr/bin/rustc ] && [ -d /usr/lib/rustlib/src/rust/library/core ] && command -v ld.lld-22 >/dev/null
}

if ! rustup_ok && ! debian_ok; then
    if [ -x "$root/scripts/install-firmware-toolchain.sh" ]; then
        "$root/scripts/install-firmware-toolchain.sh"
    else
        sudo=""
        if [ "$(id -u)" != 0 ] && command -v sudo >/dev/null; then sudo=sudo; fi
        $sudo apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
            rustc-web cargo-web rust-web-src lld-22
    fi
fi

linker_args=(-C "link-arg=-T$here/thumb-size/link.x" -C link-arg=--gc-sections)
if rustup_ok; then
    route=rustup
    export CARGO_TARGET_THUMBV7M_NONE_EABI_RUSTFLAGS="${linker_args[*]}"
else
    route=debian
    export CARGO_BUILD_RUSTC=/usr/bin/rustc
    export RUSTC_BOOTSTRAP=1
    export CARGO_UNSTABLE_BUILD_STD=core
    export CARGO_TARGET_THUMBV7M_NONE_EABI_LINKER=ld.lld-22
    export CARGO_TARGET_THUMBV7M_NONE_EABI_RUSTFLAGS="${linker_args[*]}"
fi
echo "check-thumb: route $route, target dir $CARGO_TARGET_DIR" >&2

# 1. The library itself (what the firmware links).
(cd "$here/thumb-size" && cargo build --release --target "$target" -p runtime-nostd)
# 2. The size harness.
(cd "$here/thumb-size" && cargo build --release --target "$target")

elf="$CARGO_TARGET_DIR/$target/release/runtime-nostd-thumb-size"
python3 - "$elf" <<'PY'
import struct, sys
data = open(sys.argv[1], "rb").read()
assert data[:4] == b"\x7fELF" and data[4] == 1, "expected a 32-bit ELF"
shoff, = struct.unpack_from("<I", data, 0x20)
shentsize, shnum, shstrndx = struct.unpack_from("<HHH", data, 0x2E)
secs = [struct.unpack_from("<IIIIIIIIII", data, shoff + i * shentsize) for i in range(shnum)]
strtab = secs[shstrndx]
def name(s):
    off = strtab[4] + s[0]
    return data[off:data.index(b"\0", off)].decode()
sizes = {name(s): s[5] for s in secs}
flash = sum(sizes.get(n, 0) for n in (".vector_table", ".text", ".rodata", ".data"))
ram = sum(sizes.get(n, 0) for n in (".data", ".bss"))
for n in (".vector_table", ".text", ".rodata", ".data", ".bss"):
    print(f"  {n:14} {sizes.get(n, 0):8} bytes")
print(f"thumbv7m-none-eabi: code+const flash {flash} bytes (plus the blob), static RAM {ram} bytes "
      f"(scratch for `tiny` + 784-byte image; plus stack)")
PY
