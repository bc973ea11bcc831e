#!/usr/bin/env bash
# A subset load against the whole load of the same checkpoint, cold, interleaved --reps times: `load --tensors`
# with a pattern taking every tenth layer (3, 13, 23, ...: about 10% of the tensors, spread over every shard).
# Per run: seconds, bytes_read (the loader's count) and kernel_bytes_read (the kernel's count of what this process
# read from the disk). The target (issue: subset): 10% of the tensors -> at most 12% of the bytes read and 15% of
# the whole load's time, cold. Writes runs.jsonl and subset.md (medians and the ratios) under --out.
# Needs root (cold = page cache dropped before every load).
#
# usage: bench/subset.sh [--size 2GiB] [--shard 512MiB] [--strategy auto] [--reps 3] [--data DIR] [--out DIR]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
usage="usage: bench/subset.sh [--size 2GiB] [--shard 512MiB] [--strategy auto] [--reps 3] [--data DIR] [--out DIR]"
size=2GiB shard=512MiB strategy=auto reps=3 data=/var/tmp/stload-subset
out="$root/bench/results/subset-$(date +%Y%m%d-%H%M%S)"
while [ $# -gt 0 ]; do
  case "$1" in
    --size) size=$2; shift 2 ;;
    --shard) shard=$2; shift 2 ;;
    --strategy) strategy=$2; shift 2 ;;
    --reps) reps=$2; shift 2 ;;
    --data) data=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    *) echo "error: $usage" >&2; exit 2 ;;
  esac
done
[ "$(id -u)" = 0 ] || { echo "error: bench/subset.sh measures cold loads and needs root (drop_caches); nothing was run" >&2; exit 2; }
for tool in jq python3; do
  command -v "$tool" >/dev/null || { echo "error: bench/subset.sh needs $tool" >&2; exit 2; }
done
stload="$root/stload"
"$stload" --version >/dev/null   # builds once, before anything is timed
mkdir -p "$out" "$data"
ckpt="$data/checkpoint"
trap 'rm -rf "$ckpt"' EXIT
"$stload" gen "$ckpt" --size "$size" --shard-size "$shard" --seed 1 >/dev/null
pattern='re:model\.layers\.[0-9]*3\..*'
for rep in $(seq 1 "$reps"); do
  for which in whole subset; do
    sync; echo 3 > /proc/sys/vm/drop_caches; "$stload" --version >/dev/null
    subset=(); [ "$which" = subset ] && subset=(--tensors "$pattern")
    "$stload" load "$ckpt" --load-strategy "$strategy" "${subset[@]}" --json \
      | jq -c --arg which "$which" --argjson rep "$rep" \
          '{which: $which, rep: $rep, tensors, bytes, bytes_read, kernel_bytes_read, seconds, gbps, strategy: ([.strategy[]] | unique | join("+"))}' \
      >> "$out/runs.jsonl"
  done
done
python3 - "$out" "$size" "$shard" "$strategy" "$pattern" <<'PY'
import json, statistics, sys
out, size, shard, strategy, pattern = sys.argv[1:]
runs = [json.loads(l) for l in open(f"{out}/runs.jsonl")]
med = lambda which, key: statistics.median(r[key] for r in runs if r["which"] == which)
with open(f"{out}/subset.md", "w") as md:
    md.write(f"Llama-shaped checkpoint {size} in shards of {shard}, --load-strategy {strategy}, cold, "
             f"{len(runs) // 2} runs each, interleaved; subset: --tensors '{pattern}'\n\n")
    md.write("| load | tensors | bytes (MiB) | bytes_read (MiB) | kernel_bytes_read (MiB) | median seconds | strategy |\n"
             "|---|---|---|---|---|---|---|\n")
    for which in ("whole", "subset"):
        first = next(r for r in runs if r["which"] == which)
        md.write(f"| {which} | {first['tensors']} | {first['bytes'] / 2**20:.0f} | {med(which, 'bytes_read') / 2**20:.0f} | "
                 f"{med(which, 'kernel_bytes_read') / 2**20:.0f} | {med(which, 'seconds'):.3f} | {first['strategy']} |\n")
    share = lambda key: med("subset", key) / med("whole", key)
    md.write(f"\nsubset / whole: tensors {share('tensors'):.3f}, bytes {share('bytes'):.3f}, bytes_read "
             f"{share('bytes_read'):.3f}, kernel_bytes_read {share('kernel_bytes_read'):.3f}, time {share('seconds'):.3f}\n")
print(open(f"{out}/subset.md").read())
PY
