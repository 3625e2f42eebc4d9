#!/usr/bin/env bash
# GPU readiness: the wgpu path's speed and what the default recipe reaches in a fixed time.
#
#   scripts/gpu-check.sh           full form, for a machine with a GPU (fits in 10 minutes)
#   scripts/gpu-check.sh --quick   reduced form for a CPU-only machine (Mesa's lavapipe)
#
# 1. `tinygan bench --device wgpu` for {tiny, dcgan, mlp} × {ns-gan, wgan-gp}, with Burn's kernel
#    fusion off (tinygan's default, see trainer/src/device.rs) and on;
# 2. `tinygan train --device wgpu` with the default recipe for TRAIN_SECONDS of wall time (stopped
#    with SIGINT, which checkpoints), then `tinygan eval` (FCD on EVAL_N digits);
# 3. one summary table (also written to $OUT/gpu-check.md, or ./gpu-check.md without $OUT).
#
# Environment: TINYGAN_BIN (a prebuilt `tinygan`; else built with the shared build), TRAIN_SECONDS,
# BENCH_ITERS, EVAL_N, TINYGAN_CACHE (holds the FCD classifier; trained there on first use, a few
# CPU-minutes, unless already cached), OUT (where results go).
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$repo_root"

quick=0
[ "${1:-}" = --quick ] && quick=1
if [ $quick = 1 ]; then
  presets=(tiny); losses=(ns-gan); bench_iters=${BENCH_ITERS:-2}
  train_seconds=${TRAIN_SECONDS:-60}; eval_n=${EVAL_N:-500}
  # lavapipe compiles each kernel on the CPU: the first steps take minutes.
  patience=1800
else
  presets=(tiny dcgan mlp); losses=(ns-gan wgan-gp); bench_iters=${BENCH_ITERS:-20}
  train_seconds=${TRAIN_SECONDS:-180}; eval_n=${EVAL_N:-2000}
  patience=300
fi
out="${OUT:-$repo_root/gpu-check}"
mkdir -p "$out"
log="$out/gpu-check.log"
: >"$log"

if [ -n "${TINYGAN_BIN:-}" ]; then
  bin="$TINYGAN_BIN"
else
  tinygan_build >&2
  bin="$CARGO_TARGET_DIR/release/tinygan"
fi
[ -x "$bin" ] || { echo "gpu-check: $bin is not an executable" >&2; exit 1; }

# Prints the generator iterations/s of one bench, or the reason it failed.
bench() { # preset loss fusion(on|off)
  local fusion_env=()
  [ "$3" = on ] && fusion_env=(BURN_FUSION_MAX_EXPLORATIONS=1000000)
  local res
  if res=$(env "${fusion_env[@]}" timeout "$patience" "$bin" bench --device wgpu --preset "$1" \
      --loss "$2" --iters "$bench_iters" 2>>"$log" | tee -a "$log"); then
    sed -n 's/^generator_iters_per_s //p' <<<"$res"
  else
    echo "failed (exit $?, see $log)"
  fi
}

rows=()
for p in "${presets[@]}"; do
  for l in "${losses[@]}"; do
    off=$(bench "$p" "$l" off)
    on=$(bench "$p" "$l" on)
    rows+=("| $p | $l | $off | $on |")
    echo "gpu-check: bench $p $l: fusion off $off it/s, on $on it/s" >&2
  done
done
# The adapter's name, e.g. `NVIDIA H200` or `llvmpipe (LLVM 15.0.6, 256 bits)`.
adapter=$(sed -n 's/^bench: .* on wgpu.*name: "\([^"]*\)".*/\1/p' "$log" | head -1)

run="$out/train-tiny-default"
rm -rf "$run"
echo "gpu-check: training the default recipe for ${train_seconds}s on wgpu" >&2
start=$(date +%s%N)
# The run stops itself after the step that reaches --time-budget (checkpoint, plots); `timeout`
# only guards against a hang.
status=0
timeout -k 30 $((train_seconds + patience)) "$bin" train --device wgpu --run "$run" \
  --iters 100000000 --time-budget "$train_seconds" --no-export --sample-every 100000000 \
  --checkpoint-every 100000000 >>"$log" 2>&1 || status=$?
elapsed_ns=$(( $(date +%s%N) - start ))
if [ $status != 0 ]; then
  echo "gpu-check: training failed (exit $status); the end of $log:" >&2
  tail -20 "$log" >&2
  exit 1
fi
iters=$(tail -1 "$run/metrics.csv" | cut -d, -f1)
rate=$(awk -v i="$iters" -v ns="$elapsed_ns" 'BEGIN { printf "%.3g", i / (ns / 1e9) }')
eval_json="$out/eval.json"
"$bin" eval --run "$run" --n "$eval_n" --device wgpu --json "$eval_json" >>"$log" 2>&1
json_num() { sed -n "s/^ *\"$1\": *\([0-9.eE+-]*\),*\$/\1/p" "$eval_json" | head -1 |
  awk '{ printf "%.3g", $1 }'; }
fcd=$(json_num fcd); floor=$(json_num floor_fcd); confident=$(json_num confident_share)

{
  echo "## scripts/gpu-check.sh$([ $quick = 1 ] && echo ' --quick') on ${adapter:-wgpu}"
  echo
  echo "Generator iterations/s (\`tinygan bench --device wgpu --iters $bench_iters\`, batch 64):"
  echo
  echo "| preset | loss | fusion off | fusion on |"
  echo "|---|---|---|---|"
  printf '%s\n' "${rows[@]}"
  echo
  echo "Default recipe (\`tinygan train --device wgpu\`) for ${train_seconds} s of wall time:"
  echo "$iters generator iterations ($rate it/s including start-up), FCD $fcd on $eval_n digits (floor $floor), $confident of digits > 90% confident."
} | tee "$out/gpu-check.md"
