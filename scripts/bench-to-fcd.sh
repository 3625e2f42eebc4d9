#!/usr/bin/env bash
# Benchmark (not a test): process CPU seconds the default recipe needs, from scratch, to reach an
# FCD (1 000 digits, averaged weights, measured every EVERY training CPU-seconds).
#
#   scripts/bench-to-fcd.sh FCD [--max-cpu SECONDS] [--every SECONDS] [-- extra train arguments]
#
# Prints `cpu_seconds_to_fcd FCD Y` last (Y = the training CPU seconds at the first measurement at
# or below FCD), or `cpu_seconds_to_fcd FCD not-reached-in MAX` when --max-cpu (default 3600)
# ran out first. The run goes to runs/bench-to-fcd (replaced).
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$repo_root"

[ $# -ge 1 ] || { echo "usage: scripts/bench-to-fcd.sh FCD [--max-cpu S] [--every S] [-- train args]" >&2; exit 2; }
target="$1"; shift
max_cpu=3600 every=60 extra=()
while [ $# -gt 0 ]; do
  case "$1" in
    --max-cpu) max_cpu="$2"; shift 2 ;;
    --every) every="$2"; shift 2 ;;
    --) shift; extra=("$@"); break ;;
    *) echo "bench-to-fcd: unknown argument $1" >&2; exit 2 ;;
  esac
done

tinygan_build >&2
bin="$CARGO_TARGET_DIR/release/tinygan"
run=runs/bench-to-fcd
rm -rf "$run"
"$bin" train --run "$run" --iters 100000000 --no-export --sample-every 100000000 \
  --eval-every-cpu "$every" --eval-samples 1000 --until-fcd "$target" --cpu-budget "$max_cpu" \
  "${extra[@]}" >&2
# The last row holds the stopping measurement; its FCD says whether the target was reached.
awk -F, -v target="$target" -v max="$max_cpu" '
  NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i; next }
  { last = $0 }
  END {
    n = split(last, f, ",")
    fcd = f[col["fcd_ema"]] != "" ? f[col["fcd_ema"]] : f[col["fcd"]]
    if (fcd != "" && fcd + 0 <= target + 0) printf "cpu_seconds_to_fcd %s %.1f\n", target, f[col["cpu_s"]]
    else printf "cpu_seconds_to_fcd %s not-reached-in %s\n", target, max
  }' "$run/metrics.csv"
