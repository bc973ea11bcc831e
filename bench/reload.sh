#!/usr/bin/env bash
# The reload targets (docs/reload.md, "Figures"):
#  - delta: a store serving a Llama-shaped checkpoint (with digests) reloads its next step, where the tensors of every
#    tenth layer changed (about 10% of the tensors and of the bytes), beside, into host memory, cold (page cache
#    dropped before each reload): reading every tensor ("full") against reading only what changed ("delta"),
#    interleaved --reps times. Target: delta reads at most 12% of full's bytes and takes at most 20% of its time.
#  - inplace: the same store reloads in place, staged under the bound, straight from the files (a bound below the
#    changed bytes), and a step where every tensor changed under the default 1 GiB bound; the peak of the process's
#    anonymous memory above what it held before the reload, sampled every millisecond. Target: at most the bound.
#  - lease: LeaseBenchmark (JMH), one lease taken and closed, with and without reloads running back to back.
#    Target: median under 200 ns with reloads running.
# Needs root (cold = page cache dropped). Writes delta.jsonl, inplace.jsonl, lease.json and reload.md under --out.
#
# usage: bench/reload.sh [--size 2GiB] [--shard 512MiB] [--strategy auto] [--reps 3] [--data DIR] [--out DIR]
#                        [--only delta|inplace|lease]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
usage="usage: bench/reload.sh [--size 2GiB] [--shard 512MiB] [--strategy auto] [--reps 3] [--data DIR] [--out DIR] [--only delta|inplace|lease]"
size=2GiB shard=512MiB strategy=auto reps=3 data=/var/tmp/stload-reload only=""
out="$root/bench/results/reload-$(date +%Y%m%d-%H%M%S)"
while [ $# -gt 0 ]; do
  case "$1" in
    --size) size=$2; shift 2 ;;
    --shard) shard=$2; shift 2 ;;
    --strategy) strategy=$2; shift 2 ;;
    --reps) reps=$2; shift 2 ;;
    --data) data=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --only) only=$2; shift 2 ;;
    *) echo "error: $usage" >&2; exit 2 ;;
  esac
done
[ "$(id -u)" = 0 ] || { echo "error: bench/reload.sh measures cold reloads and needs root (drop_caches); nothing was run" >&2; exit 2; }
command -v python3 >/dev/null || { echo "error: bench/reload.sh needs python3" >&2; exit 2; }
java=$(ls -d /usr/lib/jvm/*25*/bin/java /usr/lib/jvm/*2[2-9]*/bin/java 2>/dev/null | head -1)
[ -n "${JAVA_HOME:-}" ] && java="$JAVA_HOME/bin/java"
[ -x "$java" ] || { echo "error: bench/reload.sh needs a JDK 22 or newer (set JAVA_HOME)" >&2; exit 2; }
jar="$root/jmh/target/benchmarks.jar"
(cd "$root" && JAVA_HOME=$(dirname "$(dirname "$java")") mvn -B -q -o -pl jmh -am package -DskipTests -Dmaven.javadoc.skip)
mkdir -p "$out" "$data"
# A fixed, pre-touched heap: the heap never grows during a reload, so the anonymous memory sampled is the reload's.
jvm=("$java" -Xms512m -Xmx512m -XX:+AlwaysPreTouch --enable-native-access=ALL-UNNAMED -cp "$jar")
{ echo "size=$size shard=$shard strategy=$strategy reps=$reps"; uname -a; nproc; free -b | head -2; "$java" -version 2>&1; } > "$out/conditions.txt"
if [ -z "$only" ] || [ "$only" = delta ]; then
  "${jvm[@]}" io.stload.jmh.ReloadBench delta "$data" --size "$size" --shard "$shard" --reps "$reps" \
    --strategy "$strategy" > "$out/delta.jsonl" 2> >(tee -a "$out/stderr.txt" >&2)
fi
if [ -z "$only" ] || [ "$only" = inplace ]; then
  "${jvm[@]}" io.stload.jmh.ReloadBench inplace "$data" --size "$size" --shard "$shard" \
    --strategy "$strategy" > "$out/inplace.jsonl" 2> >(tee -a "$out/stderr.txt" >&2)
fi
if [ -z "$only" ] || [ "$only" = lease ]; then
  "$java" -jar "$jar" LeaseBenchmark -rf json -rff "$out/lease.json" > "$out/lease.txt"
fi
python3 - "$out" <<'PY'
import json, os, statistics, sys
out = sys.argv[1]
md = []
def lines(name):
    p = os.path.join(out, name)
    return [json.loads(l) for l in open(p) if l.startswith("{")] if os.path.exists(p) else []
delta = lines("delta.jsonl")
if delta:
    med = lambda which, key: statistics.median(r[key] for r in delta if r["which"] == which)
    md.append("| reload (beside, cold) | tensors read | bytes read (MiB) | from storage (MiB) | kernel read (MiB) | median seconds |")
    md.append("|---|---|---|---|---|---|")
    for which in ("full", "delta"):
        md.append(f"| {which} | {med(which, 'tensors_read'):.0f} of {med(which, 'tensors'):.0f} | {med(which, 'bytes_read') / 2**20:.0f} | "
                  f"{med(which, 'bytes_from_storage') / 2**20:.0f} | {med(which, 'kernel_bytes_read') / 2**20:.0f} | {med(which, 'seconds'):.3f} |")
    share = lambda key: med("delta", key) / med("full", key)
    md.append("")
    md.append(f"delta / full: bytes read {share('bytes_read'):.3f}, from storage {share('bytes_from_storage'):.3f}, "
              f"kernel read {share('kernel_bytes_read'):.3f}, time {share('seconds'):.3f} "
              f"(targets: bytes <= 0.12, time <= 0.20); {len(delta) // 2} runs each")
    md.append("")
inplace = lines("inplace.jsonl")
if inplace:
    md.append("| reload in place | bound (MiB) | bytes read (MiB) | staged (MiB) | peak extra anonymous (MiB) | within bound | seconds |")
    md.append("|---|---|---|---|---|---|---|")
    for r in inplace:
        md.append(f"| {r['case']} | {r['bound'] / 2**20:.0f} | {r['bytes_read'] / 2**20:.0f} | {r['staged_bytes'] / 2**20:.0f} | "
                  f"{r['peak_extra_anon'] / 2**20:.1f} | {'yes' if r['peak_extra_anon'] <= r['bound'] else 'NO'} | {r['seconds']:.3f} |")
    md.append("")
if os.path.exists(os.path.join(out, "lease.json")):
    md.append("| lease acquire + release | median ns | p99 ns | samples |")
    md.append("|---|---|---|---|")
    for b in json.load(open(os.path.join(out, "lease.json"))):
        p = b["primaryMetric"]["scorePercentiles"]
        md.append(f"| reloading={b['params']['reloading']} | {p['50.0']:.0f} | {p['99.0']:.0f} | "
                  f"{sum(len(x) for x in b['primaryMetric']['rawDataHistogram'][0])} |")
open(os.path.join(out, "reload.md"), "w").write("\n".join(md) + "\n")
print("\n".join(md))
PY
