#!/usr/bin/env bash
# Loads under memory pressure: every strategy (mmap, prefetch, direct, auto) x sink (host, stream) x order (file,
# shuffled), cold, each in a fresh memory cgroup whose limit is a multiple of the checkpoint's bytes: --limit for
# the host sink (it must hold the bytes itself), --stream-limit for the stream sink (its default budget follows the
# headroom; no --memory-budget is given). A `dd iflag=direct bs=64M` read of the same files is the disk's baseline.
# Per run: GB/s and seconds (the load's own report), peak RSS (GNU time's %M), the cgroup's peak usage (page cache
# included), the bytes the kernel read from the disk for the load (read_bytes of /proc/PID/io, which a parent
# inherits from the children it reaps), whether its digests equal the reference, and its exit status (137: killed,
# e.g. by the OOM killer).
# Needs root: cgroups (v1 memory controller under /sys/fs/cgroup/memory, or v2) and drop_caches. Writes runs.jsonl
# and pressure.md under --out. --only runs chosen rows only: a comma-separated list of sink:order:strategy, each
# part a value or * (e.g. --only stream:shuffled:direct,host:*:prefetch). --hold-freed-pages holds a VM's free page
# reporting off for the run (bench/lib/freed-pages.sh); --realtime runs each load and dd under SCHED_FIFO, for a
# machine shared with other work.
#
# usage: bench/pressure.sh [--limit 1.4] [--stream-limit 0.5] [--size 1GiB] [--threads 4] [--only ROWS] [--data DIR]
#                          [--hold-freed-pages] [--realtime] [--out DIR]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
usage="usage: bench/pressure.sh [--limit 1.4] [--stream-limit 0.5] [--size 1GiB] [--threads 4] [--only ROWS] [--data DIR] [--hold-freed-pages] [--realtime] [--out DIR]"
limit=1.4 stream_limit=0.5 size=1GiB threads=4 only='*:*:*' data=/var/tmp/stload-pressure hold_pages=false fast=()
out="$root/bench/results/pressure-$(date +%Y%m%d-%H%M%S)"
while [ $# -gt 0 ]; do
  case "$1" in
    --limit) limit=$2; shift 2 ;;
    --stream-limit) stream_limit=$2; shift 2 ;;
    --size) size=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    --only) only=$2; shift 2 ;;
    --data) data=$2; shift 2 ;;
    --hold-freed-pages) hold_pages=true; shift ;;
    --realtime) fast=(chrt -f 10); shift ;;
    --out) out=$2; shift 2 ;;
    *) echo "error: $usage" >&2; exit 2 ;;
  esac
done
IFS=, read -ra rows <<< "$only"
for row in "${rows[@]}"; do
  [[ "$row" =~ ^(host|stream|\*):(file|shuffled|\*):(mmap|prefetch|direct|auto|\*)$ ]] \
    || { echo "error: --only wants sink:order:strategy (host|stream, file|shuffled, mmap|prefetch|direct|auto, or *), not '$row'" >&2; exit 2; }
done
# True when the row sink:order:strategy ($1 $2 $3) is one --only asks for.
chosen() {
  local row
  for row in "${rows[@]}"; do
    IFS=: read -r s o t <<< "$row"
    [[ ("$s" = '*' || "$s" = "$1") && ("$o" = '*' || "$o" = "$2") && ("$t" = '*' || "$t" = "$3") ]] && return 0
  done
  return 1
}
[ "$(id -u)" = 0 ] || { echo "error: bench/pressure.sh needs root (memory cgroups, drop_caches); nothing was run" >&2; exit 2; }
for tool in jq python3 /usr/bin/time dd; do
  command -v "$tool" >/dev/null || { echo "error: bench/pressure.sh needs $tool" >&2; exit 2; }
done
source "$root/bench/lib/cgroup.sh"
source "$root/bench/lib/freed-pages.sh"
cgroup_detect
stload="$root/stload"
"$stload" --version >/dev/null   # builds once, before anything is measured
mkdir -p "$out" "$data"
ckpt="$data/checkpoint"
cleanup() { cgroup_remove; rm -rf "$ckpt"; freed_pages_restore; }
trap cleanup EXIT
$hold_pages && freed_pages_hold
bytes_of() { python3 -c 'import re,sys; m=re.fullmatch(r"([0-9.]+)([KMGT]i?B)?", sys.argv[1]); u={"KiB":2**10,"MiB":2**20,"GiB":2**30,"TiB":2**40,"KB":1e3,"MB":1e6,"GB":1e9,"TB":1e12}.get(m.group(2),1); print(int(float(m.group(1))*u))' "$1"; }
# Two shards, as in the measurement that motivated this benchmark.
"$stload" gen "$ckpt" --shape moe --size "$size" --shard-size "$(( $(bytes_of "$size") / 2 + 1 ))" --seed 1 >/dev/null
sync
files=("$ckpt"/*.safetensors)
bytes=$(du -cb "${files[@]}" | tail -1 | cut -f1)
tensor_bytes=$("$stload" load "$ckpt" --load-strategy direct --json | jq .bytes)
reference=$("$stload" load "$ckpt" --load-strategy direct --digest --json | jq -S .digests | sha256sum | cut -c1-16)

# Cold: every cache dropped, then the JVM and the jar read back in (outside the cgroup), so that what the kernel
# reads during a load is the checkpoint's bytes and not the runtime's.
cold() { sync; echo 3 > /proc/sys/vm/drop_caches; "$stload" --version >/dev/null; }

cold
start=$(date +%s.%N)
for f in "${files[@]}"; do "${fast[@]}" dd if="$f" of=/dev/null iflag=direct bs=64M status=none; done
end=$(date +%s.%N)
jq -nc --argjson b "$bytes" --argjson s "$(python3 -c "print($end - $start)")" \
  '{sink: "-", order: "-", requested: "dd iflag=direct bs=64M", strategy: "-", seconds: $s, gbps: ($b / $s / 1e9)}' \
  >> "$out/runs.jsonl"

for sink in host stream; do
  factor=$([ "$sink" = host ] && echo "$limit" || echo "$stream_limit")
  limit_bytes=$(python3 -c "import sys; print(int(float(sys.argv[1]) * int(sys.argv[2])))" "$factor" "$tensor_bytes")
  for order in file shuffled; do
    for strategy in mmap prefetch direct auto; do
      chosen "$sink" "$order" "$strategy" || continue
      cold
      new_cgroup "$limit_bytes"
      rc=0
      # The shell enters the cgroup, runs the load under GNU time, then prints its own read_bytes, which include
      # those of every child it reaped.
      bash -c 'echo $$ > "$1/cgroup.procs"; shift; rc=0; /usr/bin/time -f %M -o "$1" "${@:3}" > "$2" || rc=$?
               sed -n "s/^read_bytes: //p" /proc/$$/io > "$1.io"; exit $rc' \
        _ "$cg" "$out/rss.txt" "$out/load.json" \
        "${fast[@]}" "$stload" load "$ckpt" --sink "$sink" --load-strategy "$strategy" --order "$order" \
        --threads "$threads" --digest --json 2> "$out/stderr.txt" || rc=$?
      peak=$(cgroup_peak) ooms=$(cgroup_ooms)
      cgroup_remove
      if [ "$rc" = 0 ]; then
        digests=$(jq -S .digests "$out/load.json" | sha256sum | cut -c1-16)
        jq -c --arg sink "$sink" --arg order "$order" --arg req "$strategy" --argjson rss "$(tail -1 "$out/rss.txt")" \
          --argjson disk "$(cat "$out/rss.txt.io")" --argjson peak "$peak" --argjson limit "$limit_bytes" \
          --argjson ok "$([ "$digests" = "$reference" ] && echo true || echo false)" --argjson ooms "${ooms:-0}" \
          '{sink: $sink, order: $order, requested: $req, strategy: ([.strategy[]] | unique | join("+")),
            gbps, seconds, bytes, max_rss_kib: $rss, cgroup_peak: $peak, limit: $limit, disk_read: $disk,
            digests_ok: $ok, ooms: $ooms, rc: 0}' "$out/load.json" >> "$out/runs.jsonl"
      else
        jq -nc --arg sink "$sink" --arg order "$order" --arg req "$strategy" --argjson rc "$rc" \
          --argjson limit "$limit_bytes" --argjson ooms "${ooms:-0}" --arg err "$(tail -1 "$out/stderr.txt")" \
          '{sink: $sink, order: $order, requested: $req, limit: $limit, rc: $rc, ooms: $ooms, error: $err}' \
          >> "$out/runs.jsonl"
      fi
    done
  done
done
rm -f "$out/rss.txt" "$out/rss.txt.io" "$out/load.json" "$out/stderr.txt"
python3 - "$out" "$size" "$tensor_bytes" "$limit" "$stream_limit" "$threads" <<'PY'
import json, sys
out, size, tensor_bytes, limit, stream_limit, threads = sys.argv[1:]
tensor_bytes = int(tensor_bytes)
runs = [json.loads(l) for l in open(f"{out}/runs.jsonl")]
mib = lambda b: f"{b / 2**20:.0f}"
with open(f"{out}/pressure.md", "w") as md:
    md.write(f"MoE checkpoint {size} ({tensor_bytes / 2**20:.0f} MiB of tensors), cold, {threads} threads; cgroup limit "
             f"{limit}x the bytes for host, {stream_limit}x for stream (default budget)\n\n")
    md.write("| sink | order | strategy | GB/s | seconds | peak RSS MiB | cgroup peak MiB | disk read MiB (x bytes) "
             "| digests | exit |\n|---|---|---|---|---|---|---|---|---|---|\n")
    for r in runs:
        if "bytes" not in r and r.get("rc", 0) == 0:
            md.write(f"| - | - | {r['requested']} | {r['gbps']:.2f} | {r['seconds']:.2f} | | | | | |\n")
        elif r["rc"] != 0:
            md.write(f"| {r['sink']} | {r['order']} | {r['requested']} | failed | | | | | | {r['rc']} "
                     f"({r['ooms']} OOM kills): {r['error']} |\n")
        else:
            shown = r["requested"] if r["requested"] != "auto" else f"auto ({r['strategy']})"
            md.write(f"| {r['sink']} | {r['order']} | {shown} | {r['gbps']:.2f} | {r['seconds']:.2f} | "
                     f"{r['max_rss_kib'] / 1024:.0f} | {mib(r['cgroup_peak'])} | {mib(r['disk_read'])} "
                     f"({r['disk_read'] / r['bytes']:.2f}) | {'equal' if r['digests_ok'] else 'DIFFER'} | "
                     f"{r['rc']}{' OOM' if r['ooms'] else ''} |\n")
print(open(f"{out}/pressure.md").read())
PY
