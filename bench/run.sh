#!/usr/bin/env bash
# End-to-end load benchmark. In one run, on the same generated checkpoint, for each filesystem:
#   - the device limit: dd iflag=direct bs=64M (cold) and a warm dd read (a copy from the page cache), and fio
#     reading the same files its own way (cold: O_DIRECT, libaio, 4 x 8 MiB in flight; warm: buffered pread of
#     8 MiB, two jobs a half each), where fio is installed (Debian: apt-get install fio);
#   - every strategy (mmap, prefetch, direct, auto) x cold/warm x file/shuffled order, --reps times;
#   - each measured load preceded by an unmeasured one of the same checkpoint (--no-prime turns it off): on a
#     virtual machine the first touch of memory the hypervisor took back runs at a fraction of memory speed,
#     and without priming that cost lands on whichever run happens to allocate first;
#   - every run's digests checked against the reference digests (the first mmap run's, itself checked
#     against the file bytes by the test suite);
#   - the CPU each one costs: a load's own (user and system, of the process during the load, as `load --json`
#     reports it) and GB per CPU-second, beside dd's and fio's for the same bytes (their whole process, GNU time);
#     the loader's whole process (JVM start included) is recorded too;
#   - with --hold-freed-pages (root, a VM with free page reporting): page reporting is held off for the run
#     and the free memory backed once before it, so no load's destination lands on pages the hypervisor
#     took back (their first touch runs at a fraction of memory speed); restored on exit;
#   - with --realtime (root): each measured load, dd and fio under SCHED_FIFO, so that on a machine shared with
#     other work the measurement has the cores while it runs (the kernel still leaves others 5% of each second).
# Writes results.csv, results.md (tables of medians: speed and cost, and the target ratios) and results.png under
# --out.
#
# usage: bench/run.sh [--size 2GiB] [--shard 1GiB] [--fs ext4,xfs,tmpfs] [--reps 3] [--threads 4] [--no-prime]
#                     [--hold-freed-pages] [--realtime] [--out DIR]
# Cold runs need root (drop_caches); XFS needs root and mkfs.xfs (Debian: xfsprogs). Without root, only
# warm runs are measured, and that is said in the output.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
size=2GiB shard=1GiB filesystems=ext4,xfs,tmpfs reps=3 threads=4 prime=true hold_pages=false realtime=false
usage="usage: bench/run.sh [--size 2GiB] [--shard 1GiB] [--fs ext4,xfs,tmpfs] [--reps 3] [--threads 4] [--no-prime] [--hold-freed-pages] [--realtime] [--out DIR]"
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
    --realtime) realtime=true; shift ;;
    *) echo "error: $usage" >&2; exit 2 ;;
  esac
done
for tool in jq python3 bc /usr/bin/time; do
  command -v "$tool" >/dev/null || { echo "error: bench/run.sh needs $tool" >&2; exit 2; }
done
mkdir -p "$out"
csv="$out/results.csv"
# cpu_*: the load's own CPU (dd's and fio's whole process); process_cpu_*: the whole process, JVM start included.
echo "fs,strategy,cache,order,rep,seconds,gbps,chosen,cpu_user,cpu_system,gb_per_cpu_second,process_cpu_user,process_cpu_system" > "$csv"
stload="$root/stload"
"$stload" --version >/dev/null   # builds once, before anything is timed

is_root=false; [ "$(id -u)" = 0 ] && is_root=true
if $realtime && ! $is_root; then echo "error: --realtime needs root (chrt -f)" >&2; exit 2; fi
fast=(); $realtime && fast=(chrt -f 10)
has_fio=false; command -v fio >/dev/null && has_fio=true
$has_fio || echo "fio not installed (Debian: apt-get install fio): its rows are skipped"
drop_caches() { sync; echo 3 > /proc/sys/vm/drop_caches; }
timing=$(mktemp)

source "$root/bench/lib/freed-pages.sh"
$hold_pages && freed_pages_hold
load_before=$(cut -d' ' -f1-3 /proc/loadavg)

xfs_img="" xfs_mnt=""
cleanup() {
  freed_pages_restore
  rm -f "$timing"
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

# Runs a reader of every shard ("$@", with FILE in place of the shard's path), one shard after the other, and
# prints "seconds gbps user system gb-per-cpu-second": bytes are the shards' (or what the reader says it read, on
# the last line of its output, where it says), seconds and CPU (GNU time) summed over the shards.
read_shards() {
  local total=0 secs=0 u=0 s=0 f b t0 t1 ru rs said
  for f in "$dir"/*.safetensors; do
    b=$(stat -c %s "$f")
    t0=$(date +%s.%N)
    said=$("${fast[@]}" /usr/bin/time -f '%U %S' -o "$timing" "${@//FILE/$f}" | tail -1)
    t1=$(date +%s.%N)
    [[ "$said" =~ ^[0-9]+$ ]] && b=$said
    read -r ru rs < "$timing"
    total=$((total + b)); secs=$(echo "$secs + $t1 - $t0" | bc -l)
    u=$(echo "$u + $ru" | bc -l); s=$(echo "$s + $rs" | bc -l)
  done
  python3 -c "import sys; t, s, u, y = map(float, sys.argv[1:]); c = u + y
print(f'{s:.4f} {t / 1e9 / s:.3f} {u:.2f} {y:.2f} ' + (f'{t / 1e9 / c:.2f}' if c > 0 else ''))" "$total" "$secs" "$u" "$s"
}

# dd and fio of the same shards as the loads, as a CSV row each (fio only where installed).
limits() { # $1 = cold|warm
  local cache=$1 secs gbps u s per flags fio_args
  if [ "$cache" = cold ]; then flags=(iflag=direct); fio_args=(--ioengine=libaio --iodepth=4 --direct=1)
  else flags=(); fio_args=(--ioengine=psync --numjobs=2 --size=50% --offset_increment=50%); fi
  [ "$cache" = cold ] && drop_caches || cat "$dir"/*.safetensors > /dev/null
  read -r secs gbps u s per < <(read_shards dd if=FILE of=/dev/null bs=64M "${flags[@]}" status=none)
  echo "$fs,$([ "$cache" = cold ] && echo dd-direct || echo dd),$cache,file,$rep,$secs,$gbps,,$u,$s,$per,$u,$s" >> "$csv"
  $has_fio || return 0
  [ "$cache" = cold ] && drop_caches || cat "$dir"/*.safetensors > /dev/null
  read -r secs gbps u s per < <(read_shards bash -c 'fio "$@" | jq "[.jobs[].read.io_bytes] | add"' _ \
    --name=read --filename=FILE --readonly --rw=read --bs=8M --thread --output-format=json "${fio_args[@]}")
  echo "$fs,fio,$cache,file,$rep,$secs,$gbps,,$u,$s,$per,$u,$s" >> "$csv"
}

run_load() { # prints "seconds,gbps,chosen,cpu_user,cpu_system,gb_per_cpu_second,process_user,process_system"
  local strategy=$1 order=$2 json pu ps
  json=$("${fast[@]}" /usr/bin/time -f '%U %S' -o "$timing" \
    "$stload" load "$dir" --load-strategy "$strategy" --order "$order" --threads "$threads" --digest --json)
  read -r pu ps < "$timing"
  if [ -f "$out/reference.$fs.json" ]; then
    if ! diff -q <(jq -S .digests <<<"$json") <(jq -S .digests "$out/reference.$fs.json") >/dev/null; then
      echo "error: $strategy/$order on $fs: digests differ from the reference" >&2; exit 1
    fi
  else
    jq '{digests}' <<<"$json" > "$out/reference.$fs.json"
  fi
  jq -r --arg pu "$pu" --arg ps "$ps" '[.seconds, .gbps, ([.strategy[]] | unique | join("+")), .cpu_seconds.user,
    .cpu_seconds.system, .gb_per_cpu_second, $pu, $ps] | map(tostring) | join(",")' <<<"$json"
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
      limits "$cache"
      for order in file shuffled; do
        for strategy in mmap prefetch direct auto; do
          if $prime; then "$stload" load "$dir" --load-strategy "$strategy" --order "$order" --threads "$threads" --json >/dev/null; fi
          if [ "$cache" = cold ]; then drop_caches; else cat "$dir"/*.safetensors > /dev/null; fi
          row=$(run_load "$strategy" "$order")
          echo "$fs,$strategy,$cache,$order,$rep,$row" >> "$csv"
          IFS=, read -r _ gbps chosen u s per _ <<<"$row"
          printf '%-6s %-9s %-5s %-9s rep %s: %6.2f GB/s (%s), CPU %s s user + %s s system, %s GB per CPU-second\n' \
            "$fs" "$strategy" "$cache" "$order" "$rep" "$gbps" "$chosen" "$u" "$s" "$per"
        done
      done
    done
  done
  if [ "$fs" = xfs ]; then umount "$xfs_mnt"; rmdir "$xfs_mnt"; rm -f "$xfs_img"; xfs_img="" xfs_mnt=""; fi
done

python3 "$root/bench/summarize.py" "$csv" "$out" "size=$size shard=$shard threads=$threads reps=$reps prime=$prime freed-pages-held=$hold_pages realtime=$realtime host=$(hostname) cores=$(nproc) kernel=$(uname -r) loadavg-before=$load_before loadavg-after=$(cut -d' ' -f1-3 /proc/loadavg)"
echo "results in $out"
