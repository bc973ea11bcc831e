#!/usr/bin/env bash
# --partition auto's two targets, on checkpoints written in the hub's layout (`stload gen --model`):
#
# 1. Bytes read by a rank of W = 8, against the bytes it holds: a Llama with 32 query heads and 4 KV heads (every
#    KV head held by 2 ranks) and a vocabulary of 32001 (padded to 32064), and a Phi-3 with fused qkv_proj and
#    gate_up_proj and 4 KV heads. Three cases per rank: every tensor with the default --max-gap (what row-parallel
#    o/down read through is reported in its own column), every tensor with --max-gap 0, and only the tensors the
#    target is about (q/k/v by heads, fused qkv and gate_up, gate/up, the padded embeddings and LM head). The plan's
#    bytes come from `plan --json` for every rank; `load --json` confirms them (bytes_read, the loader's own count)
#    for ranks 0, 3 and 7 with direct and prefetch.
# 2. `plan --partition auto --world-size 64` of a 1,000-layer config: wall and CPU time of the whole command, the
#    same for a 2-layer model at W = 1 (the JVM's floor), and the planner's own plan_seconds.
#
# Writes tp-auto.csv, plan.csv and tp-auto.md under --out. No page cache is dropped: bytes read are the loader's
# counts, which do not depend on the cache.
#
# usage: bench/tp-auto.sh [--reps 5] [--out DIR]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
reps=5
out="$root/bench/results/tp-auto-$(date +%Y%m%d-%H%M%S)"
while [ $# -gt 0 ]; do
  case "$1" in
    --reps) reps=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    *) echo "error: usage: bench/tp-auto.sh [--reps 5] [--out DIR]" >&2; exit 2 ;;
  esac
done
mkdir -p "$out"
stload="$root/stload"
data="${STLOAD_BENCH_DIR:-$root/bench/data}/tp-auto"
mkdir -p "$data"
llama="$data/llama-gqa" phi3="$data/phi3-fused" deep="$data/llama-1000" small="$data/llama-small"
[ -f "$llama/config.json" ] || "$stload" gen "$llama" --model llama --layers 2 --hidden 4096 --heads 32 --kv-heads 4 \
  --intermediate 14336 --vocab 32001 --shard-size 512MiB >/dev/null
[ -f "$phi3/config.json" ] || "$stload" gen "$phi3" --model phi3 --layers 2 --hidden 3072 --heads 32 --kv-heads 4 \
  --intermediate 8192 --vocab 32064 --shard-size 512MiB >/dev/null
[ -f "$deep/config.json" ] || "$stload" gen "$deep" --model llama --layers 1000 --hidden 128 --heads 64 --kv-heads 8 \
  --intermediate 256 --vocab 1000 --shard-size 64MiB >/dev/null
[ -f "$small/config.json" ] || "$stload" gen "$small" --model llama >/dev/null

subset='re:.*\.(q|k|v|qkv|gate_up|gate|up)_proj\.weight|.*embed_tokens\.weight|lm_head\.weight'

echo "model,case,rank,strategy,bytes,tensor_file_bytes,plan_read_bytes,bytes_read" > "$out/tp-auto.csv"
for model in llama-gqa phi3-fused; do
  ckpt="$data/$model"
  for case in all all-gap0 heads-fused-vocab; do
    extra=()
    [ "$case" = all-gap0 ] && extra=(--max-gap 0)
    [ "$case" = heads-fused-vocab ] && extra=(--tensors "$subset")
    for r in 0 1 2 3 4 5 6 7; do
      read -r bytes file planned < <("$stload" plan "$ckpt" --partition auto --world-size 8 --rank "$r" "${extra[@]}" \
        --json | jq -r '[.bytes, .tensor_file_bytes, .read_bytes] | @tsv')
      echo "$model,$case,$r,plan,$bytes,$file,$planned," >> "$out/tp-auto.csv"
      if [ "$r" = 0 ] || [ "$r" = 3 ] || [ "$r" = 7 ]; then
        for strategy in direct prefetch; do
          read -r lbytes lread < <("$stload" load "$ckpt" --partition auto --world-size 8 --rank "$r" "${extra[@]}" \
            --load-strategy "$strategy" --json | jq -r '[.bytes, .bytes_read] | @tsv')
          echo "$model,$case,$r,$strategy,$lbytes,$file,$planned,$lread" >> "$out/tp-auto.csv"
          printf '%-10s %-17s rank %s %-8s: holds %s, plan reads %s, read %s\n' "$model" "$case" "$r" "$strategy" \
            "$lbytes" "$planned" "$lread"
        done
      fi
    done
  done
done

echo "what,rep,wall_s,user_s,sys_s,plan_seconds" > "$out/plan.csv"
for rep in $(seq 1 "$reps"); do
  for what in auto-1000-layers-w64 floor-2-layers-w1; do
    if [ "$what" = floor-2-layers-w1 ]; then args=(plan "$small"); else
      args=(plan "$deep" --partition auto --world-size 64 --rank 63); fi
    t=$( { /usr/bin/time -f "%e %U %S" "$stload" "${args[@]}" >/dev/null; } 2>&1 | tail -1)
    ps=$("$stload" "${args[@]}" --json | jq -r .plan_seconds)
    echo "$what,$rep,${t// /,},$ps" >> "$out/plan.csv"
    echo "$what rep $rep: wall/user/sys $t s, plan_seconds $ps"
  done
done

python3 - "$out" "reps=$reps cores=$(nproc) kernel=$(uname -r) load=$(cut -d' ' -f1-3 /proc/loadavg)" <<'PY'
import csv, statistics, sys
from collections import defaultdict
out, cond = sys.argv[1], sys.argv[2]
rows = list(csv.DictReader(open(f"{out}/tp-auto.csv")))
md = [f"Conditions: {cond}; W = 8; bytes are the rank's (pad rows included), file bytes what it holds from the files.", ""]
md += ["| model | case | plan: max read / file bytes over ranks | plan: max read through gaps | direct: max bytes_read / file bytes | prefetch: max bytes_read / file bytes |",
       "|---|---|---|---|---|---|"]
keys = sorted({(r["model"], r["case"]) for r in rows}, key=lambda k: (k[0], ["all", "all-gap0", "heads-fused-vocab"].index(k[1])))
for m, c in keys:
    plan = [r for r in rows if r["model"] == m and r["case"] == c and r["strategy"] == "plan"]
    ratio = max(int(r["plan_read_bytes"]) / int(r["tensor_file_bytes"]) for r in plan)
    gaps = max(int(r["plan_read_bytes"]) - int(r["tensor_file_bytes"]) for r in plan)
    cells = []
    for s in ("direct", "prefetch"):
        loads = [r for r in rows if r["model"] == m and r["case"] == c and r["strategy"] == s]
        cells.append(f"{max(int(r['bytes_read']) / int(r['tensor_file_bytes']) for r in loads):.4f}")
    md.append(f"| {m} | {c} | {ratio:.4f} | {gaps} | {cells[0]} | {cells[1]} |")
p = list(csv.DictReader(open(f"{out}/plan.csv")))
md += ["", "| plan | median wall s | median user s | median sys s | median cpu s (user + sys) | median plan_seconds |",
       "|---|---|---|---|---|---|"]
cpu = {}
for what in ("auto-1000-layers-w64", "floor-2-layers-w1"):
    sel = [r for r in p if r["what"] == what]
    cpu[what] = statistics.median(float(r["user_s"]) + float(r["sys_s"]) for r in sel)
    cells = [f"{statistics.median(float(r[k]) for r in sel):.3f}" for k in ("wall_s", "user_s", "sys_s")]
    cells += [f"{cpu[what]:.3f}", f"{statistics.median(float(r['plan_seconds']) for r in sel):.3f}"]
    md.append(f"| {what} | " + " | ".join(cells) + " |")
md += ["", f"CPU the 1,000-layer auto plan at W = 64 takes above the JVM's floor (all threads, JIT included): "
       f"{cpu['auto-1000-layers-w64'] - cpu['floor-2-layers-w1']:.3f} s."]
open(f"{out}/tp-auto.md", "w").write("\n".join(md) + "\n")
print("\n".join(md))
PY
