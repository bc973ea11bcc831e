#!/usr/bin/env bash
# Read-coalescing benchmark: the measurement behind --max-gap (Thresholds.maxGapBytes). A rank's slice of a
# tensor split on an inner dimension is many runs one stride apart; gaps up to --max-gap are read through (one
# large read, then a gather), larger ones are skipped with separate reads. For each gap from 4 KiB to 8 MiB and
# W in 2 and 8: a checkpoint of uniform matrices (`stload gen --shape matrix`) whose rows, split on dimension 1,
# leave rank 0 of W that gap (row bytes = gap x W/(W-1)); rank 0 loaded cold with direct and prefetch, once
# with every gap skipped (--max-gap 0) and once with every gap read through (--max-gap = the gap), --reps
# times, interleaved. Both ways must give the same digests.
# direct reads whole 4 KiB pages: where a run and its gap come to less than about two pages, the "separate"
# blocks touch and merge, and bytes_read shows both ways reading the same.
# Needs root (cold = page cache dropped before every load). Checkpoints are generated one at a time under
# --data (ext4 by default) and deleted after their loads. Writes runs.jsonl (every load's --json, tagged with
# its cell) and gap.md (medians, ratios, crossover per strategy) under --out.
#
# usage: bench/gap.sh [--size 1GiB] [--reps 3] [--threads 4] [--data DIR] [--out DIR]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
usage="usage: bench/gap.sh [--size 1GiB] [--reps 3] [--threads 4] [--data DIR] [--out DIR]"
size=1GiB reps=3 threads=4 data=/var/tmp/stload-gap
out="$root/bench/results/gap-$(date +%Y%m%d-%H%M%S)"
while [ $# -gt 0 ]; do
  case "$1" in
    --size) size=$2; shift 2 ;;
    --reps) reps=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    --data) data=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    *) echo "error: $usage" >&2; exit 2 ;;
  esac
done
[ "$(id -u)" = 0 ] || { echo "error: bench/gap.sh measures cold loads and needs root (drop_caches); nothing was run" >&2; exit 2; }
for tool in jq python3; do
  command -v "$tool" >/dev/null || { echo "error: bench/gap.sh needs $tool" >&2; exit 2; }
done
stload="$root/stload"
"$stload" --version >/dev/null   # builds once, before anything is timed
mkdir -p "$out" "$data"
ckpt="$data/gap-matrices"
trap 'rm -rf "$ckpt"' EXIT
echo '{"rules": [{"pattern": "*", "split": 1}]}' > "$out/cols.json"
drop_caches() { sync; echo 3 > /proc/sys/vm/drop_caches; }

for ((gap = 4 << 10; gap <= 8 << 20; gap *= 2)); do
  for w in 2 8; do
    # Rank 0 holds `run` BF16 elements of every row and skips the other W-1 ranks' runs: the gap, rounded up
    # so that the row divides by W.
    run=$(( (gap + 2 * (w - 1) - 1) / (2 * (w - 1)) ))
    row=$(( run * 2 * w )) skipped=$(( run * 2 * (w - 1) ))
    rm -rf "$ckpt"
    "$stload" gen "$ckpt" --shape matrix --row-bytes "$row" --size "$size" --seed 7 >/dev/null
    reference=""
    for rep in $(seq 1 "$reps"); do
      for strategy in direct prefetch; do
        for mode in separate coalesced; do
          max_gap=0; [ "$mode" = coalesced ] && max_gap=$skipped
          drop_caches
          json=$("$stload" load "$ckpt" --load-strategy "$strategy" --threads "$threads" --rank 0 --world-size "$w" \
                 --partition "$out/cols.json" --max-gap "$max_gap" --digest --json)
          digests=$(jq -S -c .digests <<<"$json")
          [ -n "$reference" ] || reference=$digests
          if [ "$digests" != "$reference" ]; then
            echo "error: gap $gap W=$w $strategy $mode: digests differ from the first load of this checkpoint" >&2; exit 1
          fi
          jq -c --argjson gap "$gap" --argjson gap_bytes "$skipped" --argjson row_bytes "$row" --argjson world "$w" \
             --arg strategy "$strategy" --arg mode "$mode" --argjson max_gap "$max_gap" --argjson rep "$rep" \
             '{gap: $gap, gap_bytes: $gap_bytes, row_bytes: $row_bytes, world: $world, strategy: $strategy,
               mode: $mode, max_gap: $max_gap, rep: $rep, load: .}' <<<"$json" >> "$out/runs.jsonl"
          read -r secs bytes < <(jq -r '[.seconds, .bytes_read] | @tsv' <<<"$json")
          printf 'gap %8s W=%s %-8s %-9s rep %s: %7.3f s, %s bytes read\n' "$gap" "$w" "$strategy" "$mode" "$rep" "$secs" "$bytes"
        done
      done
    done
  done
done

python3 - "$out" "size=$size threads=$threads reps=$reps cores=$(nproc) kernel=$(uname -r) data=$data ($(findmnt -n -o FSTYPE --target "$data" || echo unknown))" <<'PY'
import json, statistics, sys
from collections import defaultdict
out, cond = sys.argv[1], sys.argv[2]
secs, read, gap_bytes = defaultdict(list), {}, {}
for line in open(f"{out}/runs.jsonl"):
    r = json.loads(line)
    cell = (r["strategy"], r["world"], r["gap"])
    secs[cell + (r["mode"],)].append(r["load"]["seconds"])
    read[cell + (r["mode"],)] = r["load"]["bytes_read"]
    gap_bytes[cell] = r["gap_bytes"]

def human(n):
    return f"{n >> 20} MiB" if n >= 1 << 20 else f"{n >> 10} KiB"

lines = [f"Conditions: cold, rank 0 of W, every matrix split on dim 1; {cond}", "",
         "| strategy | W | gap | gap bytes | separate s | coalesced s | separate/coalesced | separate bytes read | coalesced bytes read |",
         "|---|---|---|---|---|---|---|---|---|"]
wins = defaultdict(set)
for (s, w, g) in sorted(gap_bytes):
    sep, coal = statistics.median(secs[(s, w, g, "separate")]), statistics.median(secs[(s, w, g, "coalesced")])
    if coal < sep:
        wins[(s, w)].add(g)
    lines.append(f"| {s} | {w} | {human(g)} | {gap_bytes[(s, w, g)]} | {sep:.3f} | {coal:.3f} | {sep / coal:.2f} "
                 f"| {read[(s, w, g, 'separate')]} | {read[(s, w, g, 'coalesced')]} |")

def crossover(won, gaps):
    """The largest gap at which coalescing wins, and any smaller gap where it lost (noise, or no clean crossover)."""
    if not won:
        return "none: separate reads win at every gap"
    top = max(won)
    lost = [human(g) for g in gaps if g < top and g not in won]
    return human(top) + (f" (but lost at {', '.join(lost)})" if lost else "")

lines += ["", "Crossover: the largest gap at which coalescing still wins (coalesced median < separate median).", "",
          "| strategy | W=2 | W=8 | both W |", "|---|---|---|---|"]
for s in sorted({s for (s, _, _) in gap_bytes}):
    gaps = sorted({g for (t, _, g) in gap_bytes if t == s})
    lines.append(f"| {s} | {crossover(wins[(s, 2)], gaps)} | {crossover(wins[(s, 8)], gaps)} "
                 f"| {crossover(wins[(s, 2)] & wins[(s, 8)], gaps)} |")
open(f"{out}/gap.md", "w").write("\n".join(lines) + "\n")
print("\n".join(lines))
PY
echo "results in $out"
