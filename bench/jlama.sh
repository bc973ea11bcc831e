#!/usr/bin/env bash
# Jlama from nothing to its first generated token (the issue's target: with stload-jlama at most 0.8x the time of
# Jlama's own loader cold, and no slower warm). A Llama-shaped checkpoint of --size BF16 bytes in transformers'
# layout (config.json, tokenizer.json, shards of --shard with their index; TinyLlama-1.1B's proportions at 1 GiB
# and more) is written once under --data (JlamaBench in loader-jlama's test classes). Each run is a fresh JVM that
# builds Jlama's LlamaModel on one loader and generates one token greedily:
#   - jlama:         Jlama's own loader (SafeTensorSupport.loadWeights: every file mapped, pages faulted in as the
#                    first forward pass touches them);
#   - stload-lazy:   StloadWeightLoader.open (views of the mappings, as Jlama's own);
#   - stload-direct: StloadWeightLoader.load under DIRECT (every tensor read with parallel O_DIRECT reads first).
# The time is from just before the JVM starts to the token (JVM start, model build, weights, the prompt's forward
# pass), and to the model built. Cold: page cache dropped before each run (root); warm: the checkpoint read once
# before each run. The loaders alternate within each run, their order rotated from one run to the next; one
# unmeasured run of each comes first. Every run must generate the same tokens as the first (the model makes its
# first token decisive: see JlamaBench), else the script stops with exit 1. --hold-freed-pages: as run.sh.
# --disk-mbps N: each run's JVM reads its disk through a cgroup (v1 blkio) throttle of N MB/s, a disk of that
# bandwidth (this VM's disk is served from its host's cache, faster than most real ones); root only.
# Writes results.csv (every run) and results.md (medians and ratios to Jlama's own loader, same cache) under --out.
#
# usage: bench/jlama.sh [--size 2GiB] [--shard 1GiB] [--runs 5] [--data DIR] [--out DIR] [--warm-only]
#                       [--hold-freed-pages] [--disk-mbps N]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
usage="usage: bench/jlama.sh [--size 2GiB] [--shard 1GiB] [--runs 5] [--data DIR] [--out DIR] [--warm-only] [--hold-freed-pages] [--disk-mbps N]"
size=2GiB shard=1GiB runs=5 data=/var/tmp/stload-jlama warm_only=false hold_pages=false disk_mbps=
out="$root/bench/recorded/$(date +%Y-%m-%d)-jlama"
while [ $# -gt 0 ]; do
  case "$1" in
    --size) size=$2; shift 2 ;;
    --shard) shard=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    --data) data=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --warm-only) warm_only=true; shift ;;
    --hold-freed-pages) hold_pages=true; shift ;;
    --disk-mbps) disk_mbps=$2; shift 2 ;;
    *) echo "error: $usage" >&2; exit 2 ;;
  esac
done
[[ "$runs" =~ ^[1-9][0-9]*$ ]] || { echo "error: --runs takes a positive number; $usage" >&2; exit 2; }
[[ -z "$disk_mbps" || "$disk_mbps" =~ ^[1-9][0-9]*$ ]] || { echo "error: --disk-mbps takes a positive number; $usage" >&2; exit 2; }
for tool in mvn python3; do
  command -v "$tool" >/dev/null || { echo "error: bench/jlama.sh needs $tool" >&2; exit 2; }
done
caches="cold warm"
if $warm_only; then caches=warm
elif [ "$(id -u)" != 0 ]; then caches=warm; echo "not root: cold runs (drop_caches) skipped, warm runs only"; fi

java="" java_version=0   # a JDK >= 22, found as the launcher finds it
for c in ${JAVA_HOME:+"$JAVA_HOME/bin/java"} /usr/lib/jvm/*/bin/java; do
  v=$("$c" -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java\.specification\.version = \([0-9]*\).*/\1/p')
  if [ -n "$v" ] && [ "$v" -ge 22 ]; then java=$c java_version=$v; fi
done
[ -n "$java" ] || { echo "error: bench/jlama.sh needs a JDK 22 or newer (set JAVA_HOME)" >&2; exit 2; }
flags=(--enable-native-access=ALL-UNNAMED --add-modules=jdk.incubator.vector)
# Jlama's JCTools uses sun.misc.Unsafe; from JDK 23 on that warns unless allowed.
[ "$java_version" -ge 23 ] && flags+=(--sun-misc-unsafe-memory-access=allow)

mkdir -p "$out" "$data"
cp_file="$data/classpath.txt"
echo "building loader-jlama and its test classes"
(cd "$root" && mvn -B -q -o -DskipTests -Dmaven.javadoc.skip=true package \
   org.apache.maven.plugins:maven-dependency-plugin:3.8.1:build-classpath -pl loader-jlama -am \
   -Dmdep.includeScope=test -Dmdep.outputFile="$cp_file") >"$out/build.log" 2>&1 \
  || { cat "$out/build.log" >&2; echo "error: building loader-jlama failed" >&2; exit 4; }
classpath="$root/loader-jlama/target/test-classes:$root/loader-jlama/target/classes:$(cat "$cp_file")"
bench() { "$java" "${flags[@]}" -cp "$classpath" io.stload.jlama.JlamaBench "$@"; }
throttle=""
if [ -n "$disk_mbps" ]; then   # every run's JVM joins a blkio group whose reads from the data's disk are throttled
  [ "$(id -u)" = 0 ] && [ -d /sys/fs/cgroup/blkio ] || { echo "error: --disk-mbps needs root and cgroup v1 blkio" >&2; exit 2; }
  disk=$(lsblk -no PKNAME "$(findmnt -n -o SOURCE --target "$data")" 2>/dev/null || true)
  [ -n "$disk" ] || disk=$(basename "$(findmnt -n -o SOURCE --target "$data")")
  throttle=/sys/fs/cgroup/blkio/stload-jlama-bench
  mkdir -p "$throttle"
  echo "$(cat "/sys/block/$disk/dev") $((disk_mbps * 1000000))" > "$throttle/blkio.throttle.read_bps_device"
fi
run_bench() { # JlamaBench run ..., inside the throttle when there is one (a subshell joins it; its JVM inherits it)
  if [ -n "$throttle" ]; then (echo $BASHPID > "$throttle/cgroup.procs" && bench "$@"); else bench "$@"; fi
}

model="$data/llama-$size-$shard-v2"   # v: the generator's version; a change to JlamaBench's model bumps it
if [ ! -f "$model/config.json" ]; then
  rm -rf "$model" "$model.tmp"   # the writer takes an absent or empty folder
  bench write "$model.tmp" "$size" "$shard" && mv "$model.tmp" "$model"
fi
bytes=$(cat "$model"/*.safetensors | wc -c)

source "$root/bench/lib/freed-pages.sh"
trap 'freed_pages_restore; [ -z "$throttle" ] || rmdir "$throttle" 2>/dev/null || true' EXIT
$hold_pages && freed_pages_hold

drop_caches() { sync; echo 3 > /proc/sys/vm/drop_caches; }
warm_files() { cat "$model"/* >/dev/null; }
loaders=(jlama stload-lazy stload-direct)
csv="$out/results.csv"
echo "loader,cache,run,ready_seconds,built_seconds,first_token" > "$csv"
first_token=""
measure() { # measure LOADER CACHE RUN: one run, appended to results.csv unless RUN is 0 (unmeasured)
  local start line built token text
  [ "$2" = cold ] && drop_caches || warm_files
  start=$(date +%s%N)
  line=$(run_bench run "$model" "$1" 2>>"$out/runs.log" | tail -1) \
    || { tail -20 "$out/runs.log" >&2; echo "error: $1 ($2) failed" >&2; exit 4; }
  read -r _ built _ token _ text <<<"$line"
  if [ -z "$first_token" ]; then first_token=$text
  elif [ "$text" != "$first_token" ]; then
    echo "error: $1 ($2, run $3) generated '$text', the first run (Jlama's own loader) '$first_token'" >&2; exit 1
  fi
  [ "$3" = 0 ] && return
  printf '%s,%s,%s,%s,%s,"%s"\n' "$1" "$2" "$3" "$(awk -v a="$start" -v b="$token" 'BEGIN { printf "%.3f", (b - a) / 1e9 }')" \
    "$(awk -v a="$start" -v b="$built" 'BEGIN { printf "%.3f", (b - a) / 1e9 }')" "$text" >> "$csv"
  tail -1 "$csv"
}

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
for l in "${loaders[@]}"; do measure "$l" warm 0; done   # unmeasured: each works, and the JDK's files are read once
for run in $(seq 1 "$runs"); do
  for cache in $caches; do
    for i in 0 1 2; do measure "${loaders[$(((i + run - 1) % 3))]}" "$cache" "$run"; done
  done
done

python3 - "$out" "size=$size shard=$shard tensor bytes=$bytes runs=$runs caches=[$caches] cores=$(nproc) kernel=$(uname -r) java=$java_version data=$model ($(findmnt -n -o FSTYPE --target "$data" || echo unknown)) hold-freed-pages=$hold_pages disk throttle=${disk_mbps:-none}${disk_mbps:+ MB/s} load average before=$load_before after=$(cut -d' ' -f1-3 /proc/loadavg)" <<'PY'
import csv, statistics, sys
out, cond = sys.argv[1], sys.argv[2]
rows = list(csv.DictReader(open(f"{out}/results.csv")))
ready, built = {}, {}
for r in rows:
    ready.setdefault((r["loader"], r["cache"]), []).append(float(r["ready_seconds"]))
    built.setdefault((r["loader"], r["cache"]), []).append(float(r["built_seconds"]))
med = statistics.median
lines = ["Jlama's LlamaModel from nothing to its first generated token (bench/jlama.sh): a fresh JVM per run, the time from",
         "its start to the model built and to the token; medians.", "", f"Conditions: {cond}", "",
         "| loader | cache | runs | first token, s | model built, s | vs Jlama's own loader, same cache |",
         "|---|---|---|---|---|---|"]
for cache in ("cold", "warm"):
    base = ready.get(("jlama", cache))
    for loader in ("jlama", "stload-lazy", "stload-direct"):
        xs = ready.get((loader, cache))
        if not xs:
            continue
        ratio = f"{med(xs) / med(base):.2f}" if base else "-"
        lines.append(f"| {loader} | {cache} | {len(xs)} | {med(xs):.3f} | {med(built[(loader, cache)]):.3f} | {ratio} |")
targets = []
# The targets: direct reads against faulting mmap at most 0.8x cold; no slower warm.
for loader, cache, bound in (("stload-direct", "cold", 0.8), ("stload-direct", "warm", 1.0), ("stload-lazy", "warm", 1.0)):
    if ready.get((loader, cache)) and ready.get(("jlama", cache)):
        r = med(ready[(loader, cache)]) / med(ready[("jlama", cache)])
        targets.append(f"{loader} {cache}: {r:.2f}x (target <= {bound}: {'met' if r <= bound else 'not met'})")
lines += ["", "Targets: " + "; ".join(targets) + "."]
open(f"{out}/results.md", "w").write("\n".join(lines) + "\n")
print("\n".join(lines))
PY
echo "results in $out"
