#!/usr/bin/env bash
# Firmware speed benchmark (not a test: it prints figures, it asserts nothing about them).
#
#   scripts/firmware-bench.sh
#
# Builds the Cortex-M boards (the LM3S6965, a Cortex-M3; the MPS2 AN386 speed check, a Cortex-M4F
# running the DSP kernel; the micro:bit speed check, a Cortex-M0 with the Pico's instruction set), runs each in qemu-system-arm -icount shift=0 (one instruction
# per nanosecond of virtual time: instruction counts are exact, cycles are not modelled), and prints
# per board insns_per_digit, insns_per_mac, static RAM and peak stack. The last line is
#   insns_per_mac_m3 X insns_per_mac_m4 Y
# (Y is "n/a" when the Cortex-M4 build fails, e.g. without the thumbv7em-none-eabihf target.)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
elf="$("$root/scripts/firmware-build.sh" --board lm3s6965 | tail -1)"
elf_m4="$("$root/scripts/firmware-build.sh" --board mps2-an386 | tail -1)" || elf_m4=""
elf_m0="$("$root/scripts/firmware-build.sh" --board microbit | tail -1)"

run_board() { # name machine elf
    local out log pid
    # The firmware runs forever: stop QEMU once the first STATS line is out.
    log="$(mktemp)"
    timeout 120 qemu-system-arm -machine "$2" -icount shift=0 -display none -serial null \
        -monitor none -semihosting-config enable=on,target=native -kernel "$3" >"$log" 2>/dev/null &
    pid=$!
    while kill -0 "$pid" 2>/dev/null && ! grep -q '^STATS' "$log"; do sleep 0.2; done
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    out="$(sed -n '1,/^STATS/p' "$log")"
    rm -f "$log"
    local insns macs ram stack
    insns="$(sed -n 's/^STATS.*insns_per_digit=\([0-9]*\).*/\1/p' <<<"$out" | head -1)"
    macs="$(sed -n 's/.*macs=\([0-9]*\).*/\1/p' <<<"$out" | head -1)"
    ram="$(sed -n 's/.*static_ram=\([0-9]*\).*/\1/p' <<<"$out" | head -1)"
    stack="$(sed -n 's/.*peak_stack=\([0-9]*\).*/\1/p' <<<"$out" | head -1)"
    if [ -z "$insns" ] || [ -z "$macs" ]; then
        echo "firmware-bench: $1 printed no STATS/MODEL line:" >&2
        echo "$out" >&2
        exit 1
    fi
    local per_mac
    per_mac="$(awk -v i="$insns" -v m="$macs" 'BEGIN { printf "%.2f", i / m }')"
    # The M4 also reports the same batch on the blob's int8 weights (`INT8 insns_per_digit=...`)
    # before its wide-weight run.
    local int8
    int8="$(sed -n 's/^INT8 insns_per_digit=\([0-9]*\).*/\1/p' <<<"$out" | head -1)"
    [ -z "$int8" ] || int8=" int8_weights_insns_per_mac=$(awk -v i="$int8" -v m="$macs" 'BEGIN { printf "%.2f", i / m }')"
    echo "$1 insns_per_digit=$insns macs=$macs insns_per_mac=$per_mac static_ram=$ram peak_stack=$stack$int8" >&2
    echo "$per_mac"
}

# The Cortex-M0 (ARMv6-M, the Pico's instruction set) for the record; not on the last line.
run_board microbit microbit "$elf_m0" >/dev/null
m3="$(run_board lm3s6965 lm3s6965evb "$elf")"
m4=n/a
if [ -n "$elf_m4" ]; then
    m4="$(run_board mps2-an386 mps2-an386 "$elf_m4")"
else
    echo "firmware-bench: the Cortex-M4 board did not build (scripts/install-firmware-toolchain.sh)" >&2
fi
echo "insns_per_mac_m3 $m3 insns_per_mac_m4 $m4"
