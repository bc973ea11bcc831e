#!/usr/bin/env bash
# Tensor-parallel benchmark: cold load time and bytes read for rank 0 of W, W in 1 2 4 8, with direct and
# prefetch, on the same generated checkpoint, in one run. Two partitions: `default` (Llama rules: o/down split
# on dim 1, which row-major storage makes a rank read nearly whole) and `rows` (every matrix split on dim 0:
# a checkpoint dominated by split tensors, where a rank should take about 1/W of the full load time); and
# `experts` (`default-experts` on a MoE-shaped checkpoint of the same size: whole experts dealt to ranks).
# Needs root (cold = page cache dropped). Writes tp.csv and tp.md under --out.
#
# usage: bench/tp.sh [--size 2GiB] [--shard 1GiB] [--reps 3] [--threads 4] [--out DIR]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
size=2GiB shard=1GiB reps=3 threads=4
out="$root/bench/results/tp-$(date +%Y%m%d-%H%M%S)"
while [ $# -gt 0 ]; do
  case "$1" in
    --size) size=$2; shift 2 ;;
    --shard) shard=$2; shift 2 ;;
    --reps) reps=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    *) echo "error: usage: bench/tp.sh [--size 2GiB] [--shard 1GiB] [--reps 3] [--threads 4] [--out DIR]" >&2; exit 2 ;;
  esac
done
[ "$(id -u)" = 0 ] || { echo "error: bench/tp.sh measures cold loads and needs root (drop_caches)" >&2; exit 2; }
mkdir -p "$out"
stload="$root/stload"
dir="${STLOAD_BENCH_DIR:-$root/bench/data}"
[ -f "$dir/model.safetensors.index.json" ] || "$stload" gen "$dir" --shape llama --size "$size" --shard-size "$shard" --seed 7 >/dev/null
moe="${dir%/}-moe"
[ -f "$moe/model.safetensors.index.json" ] || "$stload" gen "$moe" --shape moe --size "$size" --shard-size "$shard" --seed 7 >/dev/null
echo '{"rules": [{"regex": ".*\\.weight", "split": 0}]}' > "$out/rows.json"
# 1-D norms split on dim 0 too under `rows`: they are a rounding error of the bytes.

echo "partition,strategy,world,rep,seconds,bytes_read" > "$out/tp.csv"
for rep in $(seq 1 "$reps"); do
  for partition in default rows experts; do
    pfile=$partition ckpt=$dir
    [ "$partition" = rows ] && pfile="$out/rows.json"
    [ "$partition" = experts ] && pfile=default-experts ckpt=$moe
    for strategy in direct prefetch; do
      for w in 1 2 4 8; do
        sync; echo 3 > /proc/sys/vm/drop_caches
        json=$("$stload" load "$ckpt" --load-strategy "$strategy" --threads "$threads" --rank 0 --world-size "$w" \
               --partition "$pfile" --json)
        read -r secs bytes < <(jq -r '[.seconds, .bytes_read] | @tsv' <<<"$json")
        echo "$partition,$strategy,$w,$rep,$secs,$bytes" >> "$out/tp.csv"
        printf '%-8s %-8s W=%s rep %s: %6.3f s, %s bytes read\n' "$partition" "$strategy" "$w" "$rep" "$secs" "$bytes"
      done
    done
  done
done

python3 - "$out" "size=$size threads=$threads reps=$reps cores=$(nproc) kernel=$(uname -r)" <<'PY'
import csv, statistics, sys
from collections import defaultdict
out, cond = sys.argv[1], sys.argv[2]
t, b = defaultdict(list), {}
for r in csv.DictReader(open(f"{out}/tp.csv")):
    k = (r["partition"], r["strategy"], int(r["world"]))
    t[k].append(float(r["seconds"])); b[k] = int(r["bytes_read"])
lines = [f"Conditions: cold, rank 0 of W; {cond}", "",
         "| partition | strategy | W | median s | x of W=1 time | 1/W | bytes read | x of W=1 bytes |",
         "|---|---|---|---|---|---|---|---|"]
for (p, s, w) in sorted(t):
    m, m1 = statistics.median(t[(p, s, w)]), statistics.median(t[(p, s, 1)])
    lines.append(f"| {p} | {s} | {w} | {m:.3f} | {m / m1:.2f} | {1 / w:.2f} | {b[(p, s, w)]} | {b[(p, s, w)] / b[(p, s, 1)]:.2f} |")
open(f"{out}/tp.md", "w").write("\n".join(lines) + "\n")
print("\n".join(lines))
PY
echo "results in $out"
