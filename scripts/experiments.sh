#!/usr/bin/env bash
# The experiments of docs/experiments.md, each with several seeds, into docs/experiments/:
# per experiment a CSV of every figure, a Markdown table computed from it, and plots.
#
#   scripts/experiments.sh [--out DIR] [--only NAME,NAME…]
#
# NAME: shifted, optimal-d, saturation, modes, inverse-cdf (the recipe study has its own script,
# scripts/recipe-study.sh, and the same `experiments` binary). One thread each; about 60
# CPU-minutes in all on a 2-core laptop-class machine, most of it `modes` and `inverse-cdf`.
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$repo_root"

out=docs/experiments only=""
while [ $# -gt 0 ]; do
  case "$1" in
    --out) out="$2"; shift 2 ;;
    --only) only="$2"; shift 2 ;;
    *) echo "experiments: unknown argument $1" >&2; exit 2 ;;
  esac
done

tinygan_build >&2
x="$CARGO_TARGET_DIR/release/examples/experiments"
export RAYON_NUM_THREADS=1
want() { [ -z "$only" ] || [[ ",$only," == *",$1,"* ]]; }
want shifted && "$x" shifted "$out" --seeds 5
want optimal-d && "$x" optimal-d "$out" --seeds 5
want saturation && "$x" saturation "$out" --seeds 3 --iters 200
want modes && "$x" modes "$out" --seeds 3
want inverse-cdf && "$x" inverse-cdf "$out" --seeds 3
echo "experiments: results in $out" >&2
