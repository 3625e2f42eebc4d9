#!/usr/bin/env bash
# Build the firmware. Prints the path of each ELF built, one a line, on stdout.
#
#   scripts/firmware-build.sh [--board lm3s6965|pico|mps2-an386|microbit|all] [--blob PATH] [--copy-to DIR]
#
# --board  which board (default lm3s6965, the QEMU one; mps2-an386 and microbit are the Cortex-M4
#          and Cortex-M0 speed checks; `all` builds the four)
# --blob   embed this generator blob instead of firmware/assets/tiny.tgb (sets TINYGAN_BLOB)
# --copy-to copy the ELFs into DIR (as <board>.elf) and print those paths instead
#
# Needs the toolchain from scripts/install-firmware-toolchain.sh.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
# shellcheck source=firmware-env.sh
source "$root/scripts/firmware-env.sh"

board=lm3s6965
copy_to=""
while [ $# -gt 0 ]; do
    case "$1" in
        --board) board="$2"; shift 2 ;;
        --blob) TINYGAN_BLOB="$(realpath "$2")"; export TINYGAN_BLOB; shift 2 ;;
        --copy-to) copy_to="$2"; shift 2 ;;
        *) echo "firmware-build: unknown argument $1" >&2; exit 2 ;;
    esac
done
case "$board" in
    lm3s6965) boards=(lm3s6965) ;;
    pico) boards=(pico) ;;
    mps2-an386) boards=(mps2-an386) ;;
    microbit) boards=(microbit) ;;
    all) boards=(lm3s6965 pico mps2-an386 microbit) ;;
    *) echo "firmware-build: unknown board $board" >&2; exit 2 ;;
esac

cd "$root/firmware"
for b in "${boards[@]}"; do
    case "$b" in
        lm3s6965) target=thumbv7m-none-eabi ;;
        pico) target=thumbv6m-none-eabi ;;
        mps2-an386) target=thumbv7em-none-eabihf ;;
        microbit) target=thumbv6m-none-eabi ;;
    esac
    echo "firmware-build: $b ($target, $TINYGAN_FW_ROUTE toolchain, blob ${TINYGAN_BLOB:-assets/tiny.tgb}, target dir $CARGO_TARGET_DIR)" >&2
    cargo build --release -p "$b" --target "$target" >&2
    elf="$CARGO_TARGET_DIR/$target/release/$b"
    if [ -n "$copy_to" ]; then
        mkdir -p "$copy_to"
        cp "$elf" "$copy_to/$b.elf"
        elf="$(realpath "$copy_to/$b.elf")"
    fi
    echo "$elf"
done
