#!/usr/bin/env bash
# Object-storage benchmark: the same checkpoint loaded from S3Proxy on loopback (its files in the page cache or
# not) and from local disk with mmap, cold and warm; ranged-GET part size and concurrency swept; then a rank of
# W = 2, 4, 8 (every matrix split on dim 0) through a counting proxy, with the bytes counted at the server and
# the time per rank; then the server's own rate with curl as the client; last, both sources loaded alternately
# in one JVM (the steady state, without the CLI's warm-up), with the CPU the loader and the server used. Every
# load's digests must equal the local load's. Cold runs need root (drop_caches); without root (or with
# --warm-only) only warm runs are made, and the conditions line says so.
# Writes runs.jsonl (every load's --json, tagged) and s3.md (medians, and S3-warm / local-mmap-warm and
# server bytes x W / checkpoint bytes, the issue's targets) under --out. The objects are stored through S3Proxy's
# blob store, with an ETag as S3 and MinIO give every object, so the loads take the CRT client's path;
# --no-etag places the files in its folder instead, served without one (plain GETs, each response checked by
# size and Last-Modified).
#
# usage: bench/s3.sh [--size 2GiB] [--shard 1GiB] [--reps 3] [--parts 1MiB,8MiB,32MiB] [--concurrency 4,16,64]
#                    [--data DIR] [--out DIR] [--warm-only] [--no-etag]
# A rank fetches its slices and reads through only gaps of at most 4 KiB between them (the plan's rule for
# object storage), so server bytes x W stays near the checkpoint's bytes at any --size.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
usage="usage: bench/s3.sh [--size 2GiB] [--shard 1GiB] [--reps 3] [--parts 1MiB,8MiB,32MiB] [--concurrency 4,16,64] [--data DIR] [--out DIR] [--warm-only] [--no-etag]"
size=2GiB shard=1GiB reps=3 parts=1MiB,8MiB,32MiB concurrency=4,16,64 data=/var/tmp/stload-s3 warm_only=0 etag=1
out="$root/bench/results/s3-$(date +%Y%m%d-%H%M%S)"
while [ $# -gt 0 ]; do
  case "$1" in
    --size) size=$2; shift 2 ;;
    --shard) shard=$2; shift 2 ;;
    --reps) reps=$2; shift 2 ;;
    --parts) parts=$2; shift 2 ;;
    --concurrency) concurrency=$2; shift 2 ;;
    --data) data=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --warm-only) warm_only=1; shift ;;
    --no-etag) etag=0; shift ;;
    *) echo "error: $usage" >&2; exit 2 ;;
  esac
done
for tool in jq curl python3 mvn; do
  command -v "$tool" >/dev/null || { echo "error: bench/s3.sh needs $tool" >&2; exit 2; }
done
caches=warm; [ "$(id -u)" = 0 ] && [ "$warm_only" = 0 ] && caches="cold warm"
stload="$root/stload"
"$stload" --version >/dev/null   # builds the CLI once, before anything is timed

# The server: S3Proxy and the counting proxy, from the loader-s3 test classes (BenchServer), in their own JVM.
cp_file="$data/classpath.txt"
mkdir -p "$out" "$data"
(cd "$root" && mvn -B -q -DskipTests package org.apache.maven.plugins:maven-dependency-plugin:3.8.1:build-classpath -pl loader-s3 -am \
   -Dmdep.includeScope=test -Dmdep.outputFile="$cp_file") >"$out/build.log" 2>&1 \
  || { cat "$out/build.log" >&2; echo "error: building the benchmark server failed" >&2; exit 4; }
java="" java_version=0   # a JDK >= 22, found as the launcher finds it
for c in ${JAVA_HOME:+"$JAVA_HOME/bin/java"} /usr/lib/jvm/*/bin/java; do
  v=$("$c" -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java\.specification\.version = \([0-9]*\).*/\1/p')
  if [ -n "$v" ] && [ "$v" -ge 22 ]; then java=$c java_version=$v; fi
done
[ -n "$java" ] || { echo "error: bench/s3.sh needs a JDK 22 or newer" >&2; exit 4; }
# As the launcher: S3 bodies land in the CRT's lent direct buffers only where the JVM allows that without a warning.
unsafe=""; [ "$java_version" -ge 23 ] && unsafe="--sun-misc-unsafe-memory-access=allow"

ckpt="$data/ckpt" served="$data/s3"
if [ ! -f "$ckpt/model.safetensors.index.json" ]; then
  rm -rf "$ckpt"
  "$stload" gen "$ckpt" --shape llama --size "$size" --shard-size "$shard" --seed 7 >/dev/null
fi
rm -rf "$served" && mkdir -p "$served"
store=()
if [ "$etag" = 1 ]; then store=("$ckpt" models/ckpt); else mkdir -p "$served/models/ckpt" && cp "$ckpt"/* "$served/models/ckpt/"; fi
ports="$data/ports"
rm -f "$ports"
"$java" -cp "$root/loader-s3/target/test-classes:$(cat "$cp_file")" io.stload.s3.BenchServer "$served" "$ports" "${store[@]}" \
  >"$out/server.log" 2>&1 &
server=$!
trap 'kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true' EXIT
for _ in $(seq 1 3000); do [ -s "$ports" ] && break; kill -0 "$server" 2>/dev/null || break; sleep 0.1; done
[ -s "$ports" ] || { cat "$out/server.log" >&2; echo "error: the S3 server did not start" >&2; exit 4; }
read -r s3port countport < "$ports"
# S3Proxy here checks no signature, but the SDK signs every request and needs a key to sign with.
export AWS_ACCESS_KEY_ID=${AWS_ACCESS_KEY_ID:-bench} AWS_SECRET_ACCESS_KEY=${AWS_SECRET_ACCESS_KEY:-bench}
direct_ep="http://127.0.0.1:$s3port" counting_ep="http://127.0.0.1:$countport"
# Every matrix split on dim 0 (rows): a rank's slices are contiguous, so it should fetch about 1/W of the bytes.
echo '{"rules": [{"regex": ".*\\.weight", "split": 0}]}' > "$out/rows.json"

drop_caches() { sync; echo 3 > /proc/sys/vm/drop_caches; }
warm_files() { cat "$ckpt"/* "$served"/models/ckpt/* >/dev/null; }
reference=""
record() { # record SOURCE CACHE PART CONC WORLD RANK SERVER_BYTES JSON
  local digests
  digests=$(jq -S -c .digests <<<"$8")
  if [ "$5" = 1 ]; then
    [ -n "$reference" ] || reference=$digests
    [ "$digests" = "$reference" ] || { echo "error: $1 $2 part=$3 conc=$4: digests differ from the first load" >&2; exit 1; }
  fi
  jq -c --arg source "$1" --arg cache "$2" --arg part "$3" --arg conc "$4" --argjson world "$5" --argjson rank "$6" \
     --argjson server_bytes "$7" '{source: $source, cache: $cache, part: $part, concurrency: $conc, world: $world,
     rank: $rank, server_bytes: $server_bytes, load: (. | del(.digests))}' <<<"$8" >> "$out/runs.jsonl"
  printf '%-6s %-4s part %-6s conc %-3s W=%s r=%s: %7.3f s %6.2f GB/s, server bytes %s\n' "$1" "$2" "$3" "$4" "$5" "$6" \
    "$(jq .seconds <<<"$8")" "$(jq .gbps <<<"$8")" "$7"
}

for rep in $(seq 1 "$reps"); do
  for cache in $caches; do
    [ "$cache" = cold ] && drop_caches || warm_files
    record local "$cache" - - 1 0 0 "$("$stload" load "$ckpt" --load-strategy mmap --digest --json)"
    for part in ${parts//,/ }; do
      for conc in ${concurrency//,/ }; do
        [ "$cache" = cold ] && drop_caches || warm_files
        curl -s "$counting_ep/__served" >/dev/null
        json=$("$stload" load s3://models/ckpt --s3-endpoint "$direct_ep" --s3-part-size "$part" \
               --s3-concurrency "$conc" --digest --json)
        record s3 "$cache" "$part" "$conc" 1 0 0 "$json"
      done
    done
  done
  for w in 2 4 8; do
    for ((r = 0; r < w; r++)); do
      warm_files
      curl -s "$counting_ep/__served" >/dev/null
      json=$("$stload" load s3://models/ckpt --s3-endpoint "$counting_ep" --rank "$r" --world-size "$w" \
             --partition "$out/rows.json" --json)
      record s3 warm 8MiB 16 "$w" "$r" "$(curl -s "$counting_ep/__served")" "$json"
    done
  done
done

# What the server itself gives on this machine, with a client that does little more than receive: 16 curls in
# parallel GETting 64 MiB ranges of the same objects to /dev/null, warm, with the server's CPU meanwhile (on a
# machine of few cores the server and the loader share them).
cpu_ticks() { awk '{ sub(/.*\) /, ""); print $12 + $13 }' "/proc/$1/stat"; }
export direct_ep
for rep in $(seq 1 "$reps"); do
  warm_files
  bytes=$(stat -c %s "$ckpt"/* | awk '{ s += $1 } END { print s }')
  t0=$(cpu_ticks "$server") start=$(date +%s%N)
  for f in "$ckpt"/*; do
    n=$(stat -c %s "$f")
    for ((o = 0; o < n; o += 64 << 20)); do echo "$(basename "$f") $o $((o + (64 << 20) - 1))"; done
  done | xargs -P 16 -L 1 sh -c 'curl -sf -o /dev/null -r "$1-$2" "$direct_ep/models/ckpt/$0"' \
    || { echo "error: a GET with curl from the server failed" >&2; exit 4; }
  end=$(date +%s%N) t1=$(cpu_ticks "$server")
  awk -v r="$rep" -v b="$bytes" -v ns=$((end - start)) -v t=$((t1 - t0)) \
    'BEGIN { printf "%d %.3f %.3f %.2f\n", r, ns / 1e9, b / ns, t / 100 / (ns / 1e9) }' >> "$out/ceiling.txt"
done

# The steady state of an engine that loads more than once: both sources loaded alternately in one JVM, warm,
# 2 x reps times each; the first load of each pays the JIT's warm-up and is left out of the medians.
warm_files
"$java" --enable-native-access=ALL-UNNAMED $unsafe \
  -cp "$root/loader-s3/target/test-classes:$root/loader-s3/target/classes:$(cat "$cp_file")" \
  io.stload.s3.BenchInProcess "$direct_ep" s3://models/ckpt "$ckpt" $((reps * 2)) "$server" >"$out/in-process.txt" 2>>"$out/server.log" \
  || { cat "$out/in-process.txt" >&2; echo "error: the in-process loads failed" >&2; exit 4; }

total=$(jq -s 'map(select(.source == "local")) | .[0].load.bytes' "$out/runs.jsonl")
python3 - "$out" "$total" "size=$size shard=$shard reps=$reps caches=[$caches] cores=$(nproc) kernel=$(uname -r) etag=$etag data=$data ($(findmnt -n -o FSTYPE --target "$data" || echo unknown))" <<'PY'
import json, statistics, sys
from collections import defaultdict
out, total, cond = sys.argv[1], int(sys.argv[2]), sys.argv[3]
gbps, secs, server = defaultdict(list), defaultdict(list), defaultdict(list)
for line in open(f"{out}/runs.jsonl"):
    r = json.loads(line)
    key = (r["source"], r["cache"], r["part"], r["concurrency"], r["world"])
    gbps[key].append(r["load"]["gbps"])
    secs[key].append(r["load"]["seconds"])
    if r["world"] > 1:
        server[(r["world"], r["rank"])].append(r["server_bytes"])
med = lambda xs: statistics.median(xs)
lines = [f"Conditions: S3Proxy on loopback vs local mmap; {cond}", "",
         "| source | cache | part | concurrency | GB/s (median) | seconds | vs local mmap, same cache |", "|---|---|---|---|---|---|---|"]
for key in sorted(k for k in gbps if k[4] == 1):
    local = gbps.get(("local", key[1], "-", "-", 1))
    ratio = f"{med(gbps[key]) / med(local):.2f}" if local else "-"
    lines.append(f"| {key[0]} | {key[1]} | {key[2]} | {key[3]} | {med(gbps[key]):.2f} | {med(secs[key]):.3f} | {ratio} |")
lines += ["", f"Ranks (warm, every matrix split on dim 0, 8 MiB parts, 16 in flight); checkpoint {total} tensor bytes.", "",
          "| W | rank | bytes at the server (median) | x W / checkpoint (target <= 1.05) |", "|---|---|---|---|"]
for (w, rank) in sorted(server):
    b = med(server[(w, rank)])
    lines.append(f"| {w} | {rank} | {int(b)} | {b * w / total:.3f} |")
steady, client_cores, server_cores, cpu_per_gb = defaultdict(list), defaultdict(list), defaultdict(list), defaultdict(list)
for line in open(f"{out}/in-process.txt"):
    source, rep, seconds, rate, client, served = line.split()
    if int(rep) > 1:
        steady[source].append(float(rate))
        client_cores[source].append(float(client))
        server_cores[source].append(float(served))
        cpu_per_gb[source].append(float(client) / float(rate))  # cores / (GB/s): CPU-seconds per GB
if steady.get("local") and steady.get("s3"):
    lines += ["", "In one JVM, warm, loads 2 to N of each source alternately (in-process.txt): local mmap "
              f"{med(steady['local']):.2f} GB/s, S3 {med(steady['s3']):.2f} GB/s, "
              f"ratio {med(steady['s3']) / med(steady['local']):.2f} (medians of {len(steady['s3'])}); "
              f"during the S3 loads the loader used {med(client_cores['s3']):.2f} cores "
              f"({med(cpu_per_gb['s3']):.2f} CPU-seconds per GB; local mmap {med(cpu_per_gb['local']):.2f}) and the "
              f"server {med(server_cores['s3']):.2f}."]
ceiling = [line.split() for line in open(f"{out}/ceiling.txt")]
lines += ["", "The server's own rate here (ceiling.txt): 16 curls in parallel, 64 MiB ranges to /dev/null, warm: "
          f"{med([float(c[2]) for c in ceiling]):.2f} GB/s with the server using "
          f"{med([float(c[3]) for c in ceiling]):.2f} cores (medians of {len(ceiling)})."]
open(f"{out}/s3.md", "w").write("\n".join(lines) + "\n")
print("\n".join(lines))
PY
echo "results in $out"
