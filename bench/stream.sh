#!/usr/bin/env bash
# Streaming vs host destination: GB/s and peak RSS of `load --sink stream` against `load --sink host` on the same
# checkpoint, cold, --reps times, interleaved. The target (docs/benchmarks.md): stream within 10% of host's GB/s,
# and stream's peak RSS under --memory-budget + 300 MB even for a checkpoint twice a cgroup's memory limit
# (--memory-limit runs every load in a fresh memory cgroup, v1 or v2, of that limit without swap; host loads are
# skipped when the checkpoint does not fit the limit, since they would only be OOM-killed). Peak RSS is GNU
# time's %M; the cgroup's peak (page cache included) and OOM kills are recorded too.
# Needs root (cold = page cache dropped before every load; cgroups). Writes runs.jsonl (each load's --json plus
# sink, rep, max_rss_kib, cgroup_peak and rc) and stream.md (medians per sink) under --out.
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
source "$root/bench/lib/cgroup.sh"
[ -z "$limit" ] || cgroup_detect
stload="$root/stload"
"$stload" --version >/dev/null   # builds once, before anything is timed
bytes() { python3 -c 'import re,sys; m=re.fullmatch(r"([0-9.]+)([KMGT]i?B)?", sys.argv[1]); u={"KiB":2**10,"MiB":2**20,"GiB":2**30,"TiB":2**40,"KB":1e3,"MB":1e6,"GB":1e9,"TB":1e12}.get(m.group(2),1); print(int(float(m.group(1))*u))' "$1"; }
mkdir -p "$out" "$data"
ckpt="$data/checkpoint"
cg=""
trap 'cgroup_remove; rm -rf "$ckpt"' EXIT
"$stload" gen "$ckpt" --size "$size" --seed 1 >/dev/null
sinks="host stream"
if [ -n "$limit" ] && [ "$(bytes "$size")" -ge "$(bytes "$limit")" ]; then
  sinks="stream"
  echo "note: the checkpoint ($size) does not fit --memory-limit $limit: host loads skipped" >&2
fi
for rep in $(seq 1 "$reps"); do
  for sink in $sinks; do
    # Cold: every cache dropped, then the runtime read back in, so the load reads the checkpoint and not the JVM.
    sync; echo 3 > /proc/sys/vm/drop_caches; "$stload" --version >/dev/null
    cmd=("$stload" load "$ckpt" --sink "$sink" --load-strategy "$strategy" --threads "$threads" --json)
    [ "$sink" = stream ] && cmd+=(--memory-budget "$budget")
    peak=-1 ooms=0 rc=0
    if [ -n "$limit" ]; then
      new_cgroup "$(bytes "$limit")"
      bash -c 'echo $$ > "$1/cgroup.procs"; shift; exec "$@"' _ "$cg" \
        /usr/bin/time -f '%M' -o "$out/rss.txt" "${cmd[@]}" > "$out/load.json" || rc=$?
      peak=$(cgroup_peak) ooms=$(cgroup_ooms)
      cgroup_remove
    else
      /usr/bin/time -f '%M' -o "$out/rss.txt" "${cmd[@]}" > "$out/load.json" || rc=$?
    fi
    if [ "$rc" = 0 ]; then
      jq -c --arg sink "$sink" --argjson rep "$rep" --argjson rss "$(tail -1 "$out/rss.txt")" --argjson peak "$peak" \
        '{sink: $sink, rep: $rep, rc: 0, max_rss_kib: $rss, cgroup_peak: $peak, gbps, seconds, bytes_read, phases}' \
        "$out/load.json" >> "$out/runs.jsonl"
    else
      jq -nc --arg sink "$sink" --argjson rep "$rep" --argjson rc "$rc" --argjson ooms "${ooms:-0}" \
        '{sink: $sink, rep: $rep, rc: $rc, ooms: $ooms}' >> "$out/runs.jsonl"
    fi
  done
done
rm -f "$out/rss.txt" "$out/load.json"
python3 - "$out" "$size" "$budget" "$strategy" "${limit:-none}" <<'PY'
import json, statistics, sys
out, size, budget, strategy, limit = sys.argv[1:]
runs = [json.loads(l) for l in open(f"{out}/runs.jsonl")]
with open(f"{out}/stream.md", "w") as md:
    md.write(f"checkpoint {size}, budget {budget}, {strategy}, cgroup limit {limit}, cold\n\n")
    md.write("| sink | median GB/s | median peak RSS (MiB) | max peak RSS (MiB) | max cgroup peak (MiB) | runs | failed |\n"
             "|---|---|---|---|---|---|---|\n")
    def cgroup_peak(runs):  # "-" without --memory-limit: no cgroup, no peak
        peak = max(r["cgroup_peak"] for r in runs)
        return f"{peak / 2**20:.0f}" if peak >= 0 else "-"

    medians = {}
    for sink in ("host", "stream"):
        mine = [r for r in runs if r["sink"] == sink and r["rc"] == 0]
        failed = [r for r in runs if r["sink"] == sink and r["rc"] != 0]
        if mine:
            medians[sink] = statistics.median(r["gbps"] for r in mine)
            md.write(f"| {sink} | {medians[sink]:.2f} | {statistics.median(r['max_rss_kib'] for r in mine) / 1024:.0f} | "
                     f"{max(r['max_rss_kib'] for r in mine) / 1024:.0f} | {cgroup_peak(mine)} | "
                     f"{len(mine)} | {len(failed)} |\n")
        elif failed:
            md.write(f"| {sink} | | | | | 0 | {len(failed)} (exit {failed[0]['rc']}, OOM kills {failed[0]['ooms']}) |\n")
    if len(medians) == 2:
        md.write(f"\nstream / host GB/s: {medians['stream'] / medians['host']:.2f}\n")
print(open(f"{out}/stream.md").read())
PY
