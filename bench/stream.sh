#!/usr/bin/env bash
# Streaming vs host destination: GB/s and peak RSS of `load --sink stream` against `load --sink host` on the same
# checkpoint, cold, --reps times, interleaved. The target (README, "Embedding"): stream within 10% of host's GB/s,
# and stream's peak RSS under --memory-budget + 300 MB even for a checkpoint twice a cgroup's memory limit
# (--memory-limit runs every load in a transient scope with MemoryMax; host loads are skipped when the
# checkpoint does not fit the limit, since they would only be OOM-killed). Peak RSS is GNU time's %M.
# Needs root (cold = page cache dropped before every load; scopes need systemd-run). Writes runs.jsonl (each
# load's --json plus sink, rep and max_rss_kib) and stream.md (medians per sink) under --out.
#
# usage: bench/stream.sh [--size 4GiB] [--budget 1GiB] [--strategy direct] [--reps 3] [--threads 4]
#                        [--memory-limit SIZE] [--data DIR] [--out DIR]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
usage="usage: bench/stream.sh [--size 4GiB] [--budget 1GiB] [--strategy direct] [--reps 3] [--threads 4] [--memory-limit SIZE] [--data DIR] [--out DIR]"
size=4GiB budget=1GiB strategy=direct reps=3 threads=4 limit="" data=/var/tmp/stload-stream
out="$root/bench/results/stream-$(date +%Y%m%d-%H%M%S)"
while [ $# -gt 0 ]; do
  case "$1" in
    --size) size=$2; shift 2 ;;
    --budget) budget=$2; shift 2 ;;
    --strategy) strategy=$2; shift 2 ;;
    --reps) reps=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    --memory-limit) limit=$2; shift 2 ;;
    --data) data=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    *) echo "error: $usage" >&2; exit 2 ;;
  esac
done
[ "$(id -u)" = 0 ] || { echo "error: bench/stream.sh measures cold loads and needs root (drop_caches); nothing was run" >&2; exit 2; }
for tool in jq python3 /usr/bin/time; do
  command -v "$tool" >/dev/null || { echo "error: bench/stream.sh needs $tool" >&2; exit 2; }
done
[ -z "$limit" ] || command -v systemd-run >/dev/null || { echo "error: --memory-limit needs systemd-run" >&2; exit 2; }
stload="$root/stload"
"$stload" --version >/dev/null   # builds once, before anything is timed
bytes() { python3 -c 'import re,sys; m=re.fullmatch(r"([0-9.]+)([KMGT]i?B)?", sys.argv[1]); u={"KiB":2**10,"MiB":2**20,"GiB":2**30,"TiB":2**40,"KB":1e3,"MB":1e6,"GB":1e9,"TB":1e12}.get(m.group(2),1); print(int(float(m.group(1))*u))' "$1"; }
mkdir -p "$out" "$data"
ckpt="$data/checkpoint"
trap 'rm -rf "$ckpt"' EXIT
"$stload" gen "$ckpt" --size "$size" --seed 1 >/dev/null
sinks="host stream"
if [ -n "$limit" ] && [ "$(bytes "$size")" -ge "$(bytes "$limit")" ]; then
  sinks="stream"
  echo "note: the checkpoint ($size) does not fit --memory-limit $limit: host loads skipped" >&2
fi
for rep in $(seq 1 "$reps"); do
  for sink in $sinks; do
    sync; echo 3 > /proc/sys/vm/drop_caches
    cmd=("$stload" load "$ckpt" --sink "$sink" --memory-budget "$budget" --load-strategy "$strategy" --threads "$threads" --json)
    [ -z "$limit" ] || cmd=(systemd-run --scope --quiet -p MemoryMax="$(bytes "$limit")" -p MemorySwapMax=0 "${cmd[@]}")
    /usr/bin/time -f '%M' -o "$out/rss.txt" "${cmd[@]}" > "$out/load.json"
    jq -c --arg sink "$sink" --argjson rep "$rep" --argjson rss "$(tail -1 "$out/rss.txt")" \
      '{sink: $sink, rep: $rep, max_rss_kib: $rss, gbps, seconds, bytes_read, phases}' "$out/load.json" >> "$out/runs.jsonl"
  done
done
rm -f "$out/rss.txt" "$out/load.json"
python3 - "$out" "$size" "$budget" "$strategy" "${limit:-none}" <<'PY'
import json, statistics, sys
out, size, budget, strategy, limit = sys.argv[1:]
runs = [json.loads(l) for l in open(f"{out}/runs.jsonl")]
with open(f"{out}/stream.md", "w") as md:
    md.write(f"checkpoint {size}, budget {budget}, {strategy}, cgroup limit {limit}, cold\n\n")
    md.write("| sink | median GB/s | median peak RSS (MiB) | runs |\n|---|---|---|---|\n")
    for sink in ("host", "stream"):
        mine = [r for r in runs if r["sink"] == sink]
        if mine:
            md.write(f"| {sink} | {statistics.median(r['gbps'] for r in mine):.2f} | "
                     f"{statistics.median(r['max_rss_kib'] for r in mine) / 1024:.0f} | {len(mine)} |\n")
print(open(f"{out}/stream.md").read())
PY
