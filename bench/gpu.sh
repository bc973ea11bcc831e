#!/usr/bin/env bash
# GPU tests and the GPU load benchmark, on a machine with an NVIDIA GPU and driver, from a checkout packed by
# bench/gpu-pack.sh (.jre/, .dist/gpu-tests/, cli/target/stload.jar): no Maven or JDK needed there.
#   1. the GPU tests (every loader-cuda test, the CUDA ones included) with the JUnit console launcher (classes
#      are named, not scanned: the minimal runtime has no zip filesystem to scan jars with);
#   2. a 12 GiB checkpoint generated on local disk and on /dev/shm;
#   3. gpu-probe: pinned cudaMemcpyAsync host-to-device GB/s, the ceiling;
#   4. load --device cuda for each strategy, page cache warm (disk) and from tmpfs, --reps times, plus one run
#      with --pinning register to compare the two ways of pinning the staging windows, and one of tensor-parallel
#      rank 0 of 4 (default rules; its digests, and those of rank 3, checked against the host load's first);
#   5. safetensors.torch.load_file(path, device="cuda") on the same files (needs python3 with torch and
#      safetensors; skipped, and said so, without them);
# and writes results.csv and results.md (medians, ratio to the probe, speedup over safetensors) under --out.
#
# usage: bench/gpu.sh [--size 12GiB] [--shard 4GiB] [--reps 3] [--threads 8] [--disk DIR] [--out DIR] [--tests-only]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
size=12GiB shard=4GiB reps=3 threads=8 disk="$root/bench/data/gpu" tests_only=false
out="$root/bench/results/gpu-$(date +%Y%m%d-%H%M%S)"
while [ $# -gt 0 ]; do
  case "$1" in
    --size) size=$2; shift 2 ;;
    --shard) shard=$2; shift 2 ;;
    --reps) reps=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    --disk) disk=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --tests-only) tests_only=true; shift ;;
    *) echo "error: usage: bench/gpu.sh [--size 12GiB] [--shard 4GiB] [--reps 3] [--threads 8] [--disk DIR] [--out DIR] [--tests-only]" >&2; exit 2 ;;
  esac
done
java="$root/.jre/bin/java"
lib="$root/.dist/gpu-tests"
stload="$root/stload"
[ -x "$java" ] && [ -d "$lib" ] || { echo "error: run bench/gpu-pack.sh first (no .jre/ or .dist/gpu-tests/)" >&2; exit 4; }
mkdir -p "$out"

echo "== GPU tests" | tee "$out/tests.txt"
cp=$(ls "$lib"/*.jar | grep -v -e '/junit-' -e '/opentest4j-' -e '/apiguardian-' | tr '\n' ':')
# stload.requireGpu turns "no device" into failed GPU tests, and --fail-if-no-tests fails a run that ran none:
# broken bindings on the GPU machine must not look like a pass. pipefail carries the launcher's exit status.
"$java" --enable-native-access=ALL-UNNAMED -Dstload.requireGpu=true \
  -jar "$lib/junit-platform-console-standalone.jar" execute \
  --class-path "$cp" --details summary --disable-banner --fail-if-no-tests \
  --select-class io.stload.cuda.CudaDeviceLoaderGpuTest --select-class io.stload.cuda.DeviceLoaderTest \
  --select-class io.stload.cuda.StagingRingTest --select-class io.stload.cuda.BandwidthProbeTest \
  --select-class io.stload.cuda.TensorParallelDeviceLoadTest \
  2>&1 | tee -a "$out/tests.txt"
$tests_only && exit 0

csv="$out/results.csv"
echo "source,loader,strategy,pinning,rep,seconds,gbps,h2d_gbps,overlap" > "$csv"
gen() { [ -f "$1/model.safetensors.index.json" ] || "$stload" gen "$1" --size "$size" --shard-size "$shard" >/dev/null; }
mkdir -p "$disk"; gen "$disk/ckpt"
shm=/dev/shm/stload-gpu-bench; trap 'rm -rf "$shm"' EXIT
mkdir -p "$shm"; cp -r "$disk/ckpt" "$shm/"

echo "== probe"
"$stload" gpu-probe --size 1GiB --reps 5 --json | tee "$out/probe.json"

# Digests of a device load equal the host load's (the CLI path end to end), whole and for tensor-parallel ranks
# (o_proj and down_proj split on dim 1: strided runs, copied with cudaMemcpy2DAsync).
same_digests() { # name [load args...]
  local name=$1; shift
  "$stload" load "$shm/ckpt" "$@" --digest --json > "$out/host-digests$name.json"
  "$stload" load "$shm/ckpt" "$@" --device cuda --digest --json > "$out/cuda-digests$name.json"
  python3 - "$out/host-digests$name.json" "$out/cuda-digests$name.json" "$*" <<'PY'
import json, sys
h, c = (json.load(open(p))["digests"] for p in sys.argv[1:3])
print(f"digests {sys.argv[3] or 'of whole tensors'}: " + ("cuda load equals host load" if h == c else "MISMATCH"), flush=True)
sys.exit(0 if h == c else 1)
PY
}
same_digests ""
for r in 0 3; do same_digests "-tp$r" --rank $r --world-size 4 --partition default; done

run_stload() { # source dir strategy pinning rep label [load args...]
  local src=$1 dir=$2 strategy=$3 pinning=$4 rep=$5 label=$6; shift 6
  "$stload" load "$dir/ckpt" --device cuda --load-strategy "$strategy" --pinning "$pinning" --threads "$threads" --json "$@" \
    | python3 -c 'import json,sys; r=json.load(sys.stdin); print(",".join(sys.argv[1:]) + ",%.4f,%.3f,%.3f,%.3f" % (r["seconds"], r["gbps"], r["h2d_gbps"], r["overlap"]))' \
      "$src" "$label" "$strategy" "$pinning" "$rep" | tee -a "$csv"
}
run_torch() { # source dir rep
  python3 - "$2/ckpt" "$1" "$3" <<'PY' | tee -a "$csv"
import glob, os, sys, time
import torch
from safetensors.torch import load_file
files = sorted(glob.glob(os.path.join(sys.argv[1], "*.safetensors")))
torch.cuda.init(); torch.cuda.synchronize()
start = time.perf_counter()
tensors = [load_file(f, device="cuda") for f in files]
torch.cuda.synchronize()
s = time.perf_counter() - start
n = sum(t.numel() * t.element_size() for d in tensors for t in d.values())
print(f"{sys.argv[2]},safetensors,-,-,{sys.argv[3]},{s:.4f},{n / 1e9 / s:.3f},,")
PY
}
has_torch=true
python3 -c 'import torch, safetensors; assert torch.cuda.is_available()' 2>/dev/null || has_torch=false

for src in disk tmpfs; do
  dir=$disk; [ $src = tmpfs ] && dir=$shm
  cat "$dir"/ckpt/*.safetensors > /dev/null   # warm the page cache (tmpfs is memory anyway)
  echo "== $src"
  for rep in $(seq 1 "$reps"); do
    for s in mmap prefetch direct auto; do run_stload $src "$dir" $s alloc "$rep" stload; done
    run_stload $src "$dir" auto register "$rep" stload
    run_stload $src "$dir" auto alloc "$rep" "stload rank 0 of 4" --rank 0 --world-size 4 --partition default
    if $has_torch; then run_torch $src "$dir" "$rep"; fi
  done
done
$has_torch || echo "note: python3 with torch (CUDA) and safetensors not found: no safetensors comparison" | tee "$out/note.txt"

python3 - "$csv" "$out/probe.json" "$out/results.md" <<'PY'
import csv, json, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1])))
probe = json.load(open(sys.argv[2]))
groups = {}
for r in rows:
    groups.setdefault((r["source"], r["loader"], r["strategy"], r["pinning"]), []).append(r)
st = {k[0]: statistics.median(float(r["gbps"]) for r in v) for k, v in groups.items() if k[1] == "safetensors"}
lines = [f"device: {probe['device']}; pinned H2D probe: best {probe['best_gbps']:.2f} GB/s, median {probe['median_gbps']:.2f} GB/s", "",
         "| source | loader | strategy | pinning | median GB/s | of probe | H2D GB/s | overlap | vs safetensors |",
         "|---|---|---|---|---|---|---|---|---|"]
for (src, loader, strat, pin), v in groups.items():
    g = statistics.median(float(r["gbps"]) for r in v)
    h2d = statistics.median(float(r["h2d_gbps"]) for r in v) if v[0]["h2d_gbps"] else None
    ov = statistics.median(float(r["overlap"]) for r in v) if v[0]["overlap"] else None
    vs = f"{g / st[src]:.2f}x" if loader == "stload" and st.get(src) else ""
    lines.append(f"| {src} | {loader} | {strat} | {pin} | {g:.2f} | {g / probe['median_gbps']:.0%} | "
                 f"{'' if h2d is None else f'{h2d:.2f}'} | {'' if ov is None else f'{ov:.2f}'} | {vs} |")
open(sys.argv[3], "w").write("\n".join(lines) + "\n")
print("\n".join(lines))
PY
echo "results: $out/results.md"
