#!/usr/bin/env bash
# Side-by-side training speed: tinygan (Burn) vs ../shared/peers/torch_gan.py (PyTorch), same
# presets, losses, batch 64, k = 5 for WGAN-GP, generator iterations per second after warm-up.
# Needs a Python with torch + numpy: TORCH_PY=/path/to/venv/bin/python (default: python3).
# Each case runs REPEAT times (default 3), alternating the two, and the medians are compared:
# these machines are shared and a single short run can be off by a third.
# Usage: [DEVICE=cpu|wgpu] [REPEAT=n] scripts/bench-vs-torch.sh [ITERS]
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$repo_root"
iters="${1:-10}"
device="${DEVICE:-cpu}"
py="${TORCH_PY:-python3}"
repeat="${REPEAT:-3}"
median() { python3 -c "import statistics, sys; print(f'{statistics.median(map(float, sys.argv[1:])):.3f}')" "$@"; }
peer="$repo_root/../shared/peers/torch_gan.py"
cargo build --release --workspace --bins -q
bin="$CARGO_TARGET_DIR/release/tinygan"
printf '%-8s %-8s %12s %12s %8s\n' preset loss tinygan torch ratio
for loss in ns-gan wgan-gp; do
  for preset in tiny dcgan mlp; do
    z=100; [ "$preset" = tiny ] && z=64
    ours_runs=(); theirs_runs=()
    for _ in $(seq "$repeat"); do
      ours_runs+=("$("$bin" bench --device "$device" --preset "$preset" --loss "$loss" --batch 64 --iters "$iters" | tail -1 | awk '{print $2}')")
      theirs_runs+=("$("$py" "$peer" bench --preset "$preset" --loss "$loss" --batch 64 --iters "$iters" --z "$z" --threads "$(nproc)" | tail -1 | awk '{print $2}')")
    done
    ours=$(median "${ours_runs[@]}")
    theirs=$(median "${theirs_runs[@]}")
    ratio=$(python3 -c "print(f'{$ours/$theirs:.2f}')")
    printf '%-8s %-8s %12s %12s %8s\n' "$preset" "$loss" "$ours" "$theirs" "$ratio"
  done
done
