#!/usr/bin/env bash
# End-to-end load benchmark. In one run, on the same generated checkpoint, for each filesystem:
#   - the device limit: dd iflag=direct bs=64M (cold) and a warm dd read (a copy from the page cache);
#   - every strategy (mmap, prefetch, direct, auto) x cold/warm x file/shuffled order, --reps times;
#   - each measured load preceded by an unmeasured one of the same checkpoint (--no-prime turns it off): on a
#     virtual machine the first touch of memory the hypervisor took back runs at a fraction of memory speed,
#     and without priming that cost lands on whichever run happens to allocate first;
#   - every run's digests checked against the reference digests (the first mmap run's, itself checked
#     against the file bytes by the test suite);
#   - with --hold-freed-pages (root, a VM with free page reporting): page reporting is held off for the run
#     and the free memory backed once before it, so no load's destination lands on pages the hypervisor
#     took back (their first touch runs at a fraction of memory speed); restored on exit.
# Writes results.csv, results.md (table of medians and the target ratios) and results.png under --out.
#
# usage: bench/run.sh [--size 2GiB] [--shard 1GiB] [--fs ext4,xfs,tmpfs] [--reps 3] [--threads 4] [--no-prime]
#                     [--hold-freed-pages] [--out DIR]
# Cold runs need root (drop_caches); XFS needs root and mkfs.xfs (Debian: xfsprogs). Without root, only
# warm runs are measured, and that is said in the output.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
size=2GiB shard=1GiB filesystems=ext4,xfs,tmpfs reps=3 threads=4 prime=true hold_pages=false
usage="usage: bench/run.sh [--size 2GiB] [--shard 1GiB] [--fs ext4,xfs,tmpfs] [--reps 3] [--threads 4] [--no-prime] [--hold-freed-pages] [--out DIR]"
out="$root/bench/results/$(date +%Y%m%d-%H%M%S)"
while [ $# -gt 0 ]; do
  case "$1" in
    --size) size=$2; shift 2 ;;
    --shard) shard=$2; shift 2 ;;
    --fs) filesystems=$2; shift 2 ;;
    --reps) reps=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --no-prime) prime=false; shift ;;
    --hold-freed-pages) hold_pages=true; shift ;;
    *) echo "error: $usage" >&2; exit 2 ;;
  esac
done
mkdir -p "$out"
csv="$out/results.csv"
echo "fs,strategy,cache,order,rep,seconds,gbps,chosen" > "$csv"
stload="$root/stload"
"$stload" --version >/dev/null   # builds once, before anything is timed

is_root=false; [ "$(id -u)" = 0 ] && is_root=true
drop_caches() { sync; echo 3 > /proc/sys/vm/drop_caches; }

reporting=/sys/module/page_reporting/parameters/page_reporting_order
reporting_was=""
if $hold_pages; then
  if ! $is_root || [ ! -w "$reporting" ]; then
    echo "error: --hold-freed-pages needs root and free page reporting ($reporting)" >&2; exit 2
  fi
  reporting_was=$(cat "$reporting")
  # Above the buddy allocator's largest order nothing qualifies for reporting; the kernel refuses larger.
  for order in 11 10; do echo $order > "$reporting" 2>/dev/null && break; done
  # Pages reported before this point stay unbacked until touched: touch the free memory once, now.
  sync; echo 3 > /proc/sys/vm/drop_caches
  avail_gib=$(awk '/MemAvailable/ { print int($2 / 1048576) }' /proc/meminfo)
  for _ in $(seq 1 $(((avail_gib * 8 / 10) / 2))); do dd if=/dev/zero of=/dev/null bs=2G count=1 status=none & done
  wait
fi

xfs_img="" xfs_mnt=""
cleanup() {
  if [ -n "$reporting_was" ]; then echo "$reporting_was" > "$reporting"; fi
  if [ -n "$xfs_mnt" ] && mountpoint -q "$xfs_mnt"; then umount "$xfs_mnt"; rmdir "$xfs_mnt"; fi
  [ -n "$xfs_img" ] && rm -f "$xfs_img"
  rm -rf /dev/shm/stload-bench
}
trap cleanup EXIT

set_data_dir() { # sets $dir for filesystem $1; empty when that filesystem cannot be had here
  dir=""
  case "$1" in
    ext4) dir="${STLOAD_BENCH_DIR:-$root/bench/data}" ;;
    tmpfs) if [ -d /dev/shm ]; then dir=/dev/shm/stload-bench; fi ;;
    xfs)
      if ! $is_root || ! command -v mkfs.xfs >/dev/null; then return; fi
      xfs_img=$(mktemp /var/tmp/stload-xfs.XXXXXX.img) xfs_mnt=$(mktemp -d /tmp/stload-xfs.XXXXXX)
      local bytes; bytes=$(numfmt --from=auto "${size%B}")
      truncate -s $((bytes + bytes / 2 + (1 << 30))) "$xfs_img"
      mkfs.xfs -q -f "$xfs_img" && mount -o loop "$xfs_img" "$xfs_mnt" && dir="$xfs_mnt/ckpt" ;;
  esac
}

dd_rate() { # GB/s of reading every shard with dd (flags in $1), summed bytes over summed seconds
  local flags=$1 total=0 secs=0 f b t0 t1
  for f in "$dir"/*.safetensors; do
    b=$(stat -c %s "$f")
    t0=$(date +%s.%N); dd if="$f" of=/dev/null bs=64M $flags status=none; t1=$(date +%s.%N)
    total=$((total + b)); secs=$(echo "$secs + $t1 - $t0" | bc -l)
  done
  echo "scale=3; $total / 1000000000 / $secs" | bc -l
}

run_load() { # prints "seconds gbps chosen-strategies" and checks digests against the reference
  local strategy=$1 order=$2 json
  json=$("$stload" load "$dir" --load-strategy "$strategy" --order "$order" --threads "$threads" --digest --json)
  if [ -f "$out/reference.$fs.json" ]; then
    if ! diff -q <(jq -S .digests <<<"$json") <(jq -S .digests "$out/reference.$fs.json") >/dev/null; then
      echo "error: $strategy/$order on $fs: digests differ from the reference" >&2; exit 1
    fi
  else
    jq '{digests}' <<<"$json" > "$out/reference.$fs.json"
  fi
  jq -r '[.seconds, .gbps, ([.strategy[]] | unique | join("+"))] | @tsv' <<<"$json"
}

IFS=, read -ra fss <<<"$filesystems"
for fs in "${fss[@]}"; do
  set_data_dir "$fs"
  if [ -z "$dir" ]; then echo "skipping $fs: not available here (XFS needs root and xfsprogs)"; continue; fi
  if [ ! -f "$dir/model.safetensors.index.json" ]; then
    echo "generating a $size llama-shaped checkpoint in $dir"
    "$stload" gen "$dir" --shape llama --size "$size" --shard-size "$shard" --seed 7 >/dev/null
  fi
  caches=(warm); if $is_root && [ "$fs" != tmpfs ]; then caches=(cold warm); fi
  [ "$fs" = tmpfs ] && echo "tmpfs: always in memory, measured warm only"
  $is_root || echo "not root: cold runs skipped (drop_caches needs root)"
  for rep in $(seq 1 "$reps"); do
    for cache in "${caches[@]}"; do
      if [ "$cache" = cold ]; then
        drop_caches; r=$(dd_rate "iflag=direct"); echo "$fs,dd-direct,cold,file,$rep,,$r," >> "$csv"
      else
        cat "$dir"/*.safetensors > /dev/null; r=$(dd_rate ""); echo "$fs,dd,warm,file,$rep,,$r," >> "$csv"
      fi
      for order in file shuffled; do
        for strategy in mmap prefetch direct auto; do
          if $prime; then "$stload" load "$dir" --load-strategy "$strategy" --order "$order" --threads "$threads" --json >/dev/null; fi
          if [ "$cache" = cold ]; then drop_caches; else cat "$dir"/*.safetensors > /dev/null; fi
          read -r secs gbps chosen < <(run_load "$strategy" "$order")
          echo "$fs,$strategy,$cache,$order,$rep,$secs,$gbps,$chosen" >> "$csv"
          printf '%-6s %-9s %-5s %-9s rep %s: %6.2f GB/s (%s)\n' "$fs" "$strategy" "$cache" "$order" "$rep" "$gbps" "$chosen"
        done
      done
    done
  done
  if [ "$fs" = xfs ]; then umount "$xfs_mnt"; rmdir "$xfs_mnt"; rm -f "$xfs_img"; xfs_img="" xfs_mnt=""; fi
done

python3 "$root/bench/summarize.py" "$csv" "$out" "size=$size shard=$shard threads=$threads reps=$reps prime=$prime freed-pages-held=$hold_pages host=$(hostname) cores=$(nproc) kernel=$(uname -r)"
echo "results in $out"
