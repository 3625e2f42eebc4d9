#!/usr/bin/env bash
# The recipe study: which training recipe learns fastest per CPU-second.
#
#   scripts/recipe-study.sh [--preset tiny|dcgan] [--budget CPU_S] [--eval-every CPU_S]
#                           [--jobs N] [--runs DIR] [--out DIR] [--only NAME,NAME…]
#
# Trains every recipe below on the same preset for the same budget of PROCESS CPU time (all
# threads; what a busy machine does to wall time does not bias it), one thread per run and
# --jobs runs at once, measuring FCD on 1 000 digits (averaged weights) every --eval-every CPU
# seconds. Then `experiments study` writes OUT/study.png (FCD against CPU time), OUT/study.md
# (the table) and OUT/study.csv (every point). Runs already in --runs are resumed, so a stopped
# study continues where it was, bit-exactly. Defaults: tiny, 600 CPU-s, every 60, 2 jobs,
# runs/study-<preset>, docs/study/<preset>.
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$repo_root"

preset=tiny budget=600 every=60 jobs=2 runs="" out="" only=""
while [ $# -gt 0 ]; do
  case "$1" in
    --preset) preset="$2"; shift 2 ;;
    --budget) budget="$2"; shift 2 ;;
    --eval-every) every="$2"; shift 2 ;;
    --jobs) jobs="$2"; shift 2 ;;
    --runs) runs="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    --only) only="$2"; shift 2 ;;
    *) echo "recipe-study: unknown argument $1" >&2; exit 2 ;;
  esac
done
runs="${runs:-runs/study-$preset}"
out="${out:-docs/study/$preset}"

# name | tinygan train arguments. Each objective at its own recommended settings (the defaults of
# `tinygan train`, docs/objectives.md) unless stated.
recipes=(
  "wgan-gp|--loss wgan-gp"
  "wgan-clip|--loss wgan"
  "wgan-lp|--loss wgan-lp"
  "wgan-fd|--loss wgan-fd"
  "wgan-sn|--loss wgan --spectral-norm --optimizer adam --lr-g 1e-4 --lr-d 4e-4 --beta1 0 --beta2 0.9 --n-critic 1"
  "ns-gan|--loss ns-gan"
  "hinge-sn|--loss hinge --spectral-norm"
  "ns-gan-r1|--loss ns-gan --r1 1 --conditional false"
  "hinge-r1|--loss hinge --r1 1"
  "ns-gan-r1-wide|--loss ns-gan --r1 1 --critic wide"
  "ns-gan-r1-deep|--loss ns-gan --r1 1 --critic deep"
  "ns-gan-r1-cond|--loss ns-gan --r1 1 --conditional"
)

# TINYGAN_BIN / TINYGAN_EXAMPLES: prebuilt binaries (e.g. copies, so that rebuilding during a long
# study does not change what the remaining runs execute); else the shared build.
if [ -z "${TINYGAN_BIN:-}" ] || [ -z "${TINYGAN_EXAMPLES:-}" ]; then tinygan_build >&2; fi
bin="${TINYGAN_BIN:-$CARGO_TARGET_DIR/release/tinygan}"
examples="${TINYGAN_EXAMPLES:-$CARGO_TARGET_DIR/release/examples}"
mkdir -p "$runs" "$out"
# The FCD judge, trained and cached once (where `tinygan eval` keeps it) before the runs share it.
judge="${TINYGAN_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/tinygan}/classifier.bpk"
[ -f "$judge" ] || "$bin" eval --train-classifier >&2

train_one() { # name args…
  local name="$1"; shift
  local dir="$runs/$name"
  local common=(--device cpu --cpu-budget "$budget" --eval-every-cpu "$every" --eval-samples 1000)
  if [ -f "$dir/checkpoint.tgc" ]; then
    # --iters beyond anything reachable: the CPU budget ends the run.
    RAYON_NUM_THREADS=1 nice -n 5 "$bin" train --run "$dir" --resume --iters 100000000 --no-export \
      "${common[@]}"
  else
    rm -rf "$dir"
    RAYON_NUM_THREADS=1 nice -n 5 "$bin" train --run "$dir" --preset "$preset" "$@" \
      --iters 100000000 --no-export --sample-every 100000000 --checkpoint-every 200 "${common[@]}"
  fi
}

names=() dirs=()
for r in "${recipes[@]}"; do
  name="${r%%|*}" args="${r#*|}"
  if [ -n "$only" ] && [[ ",$only," != *",$name,"* ]]; then continue; fi
  dirs+=("$runs/$name")
  while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do wait -n || true; done
  echo "recipe-study: $name ($args), $budget CPU-s" >&2
  rm -f "$runs/$name.rc"
  # shellcheck disable=SC2086 # the recipe's arguments are words
  ( status=0; train_one "$name" $args >"$runs/$name.log" 2>&1 || status=$?
    echo "$status" >"$runs/$name.rc" ) &
  names+=("$name")
done
wait
failed=0
for name in "${names[@]}"; do
  if [ "$(cat "$runs/$name.rc" 2>/dev/null)" != 0 ]; then
    echo "recipe-study: $name failed; the end of $runs/$name.log:" >&2
    tail -5 "$runs/$name.log" >&2
    failed=1
  fi
done
[ $failed = 0 ] || exit 1
"$examples/experiments" study "$out" "${dirs[@]}" \
  --title "Recipes on $preset: FCD over training CPU time ($budget CPU-s each)"
