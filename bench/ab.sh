#!/usr/bin/env bash
# Regression guard for the engine: this checkout ("new", the working tree as it is) against another commit REF
# ("old"), alternated on the same generated files. REF is checked out into a temporary git worktree and built
# there with Maven offline (a REF whose pom leaves a plugin version to Maven's defaults gets the versions this
# checkout pins, since offline only those are in the local repository). Then, --reps times: per filesystem and
# cache state, `dd bs=64M` of the same files (warm; `iflag=direct` cold) as the copy or device limit, and per order
# and strategy one load of each tree, back to back, which tree goes first alternating from rep to rep, so a
# machine that gets busier or quieter during the run moves both alike.
# Each measured load is preceded by one unmeasured load of the same tree (--no-prime turns it off; see
# bench/run.sh), which also checks its digests against the first load's. Each tree's own output is read: the
# flags it takes (`load --help`) and the fields its `--json` has (gbps, or bytes over seconds; cpu_seconds where it
# reports them). The process's CPU (GNU time: user and system, launcher and JVM start included) is recorded for
# both trees whatever they report.
# Writes runs.csv and ab.md (per cell: median GB/s of each tree, new/old, the range, CPU) under --out and prints
# ab.md. Cold cells need root (drop_caches); without root only warm cells run, and that is said.
# --realtime (root) runs each measured load (and dd) under SCHED_FIFO, so on a machine shared with other work the
# load has the cores while it runs (the kernel still leaves others 5% of each second); say so when quoting.
#
# usage: bench/ab.sh REF [--size 2GiB] [--shard 1GiB] [--reps 4] [--fs ext4,tmpfs] [--cache cold,warm]
#                        [--strategies mmap,prefetch,direct,auto] [--orders file,shuffled] [--threads 4]
#                        [--no-prime] [--hold-freed-pages] [--realtime] [--ref-tree DIR] [--keep-ref]
#                        [--data DIR] [--out DIR]
# --ref-tree DIR uses a checkout of REF already there (built if its jar is older than its sources) instead of a new
# worktree; --keep-ref leaves the worktree made for REF in place and says where, for a later --ref-tree.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
usage="usage: bench/ab.sh REF [--size 2GiB] [--shard 1GiB] [--reps 4] [--fs ext4,tmpfs] [--cache cold,warm] [--strategies mmap,prefetch,direct,auto] [--orders file,shuffled] [--threads 4] [--no-prime] [--hold-freed-pages] [--realtime] [--ref-tree DIR] [--keep-ref] [--data DIR] [--out DIR]"
size=2GiB shard=1GiB reps=4 filesystems=ext4,tmpfs caches=cold,warm strategies=mmap,prefetch,direct,auto
orders=file,shuffled threads=4 prime=true hold_pages=false realtime=false ref_tree="" keep_ref=false
data=/var/tmp/stload-ab out="$root/bench/results/ab-$(date +%Y%m%d-%H%M%S)"
[ $# -gt 0 ] && [[ "$1" != --* ]] || { echo "error: $usage" >&2; exit 2; }
ref=$1; shift
while [ $# -gt 0 ]; do
  case "$1" in
    --size) size=$2; shift 2 ;;
    --shard) shard=$2; shift 2 ;;
    --reps) reps=$2; shift 2 ;;
    --fs) filesystems=$2; shift 2 ;;
    --cache) caches=$2; shift 2 ;;
    --strategies) strategies=$2; shift 2 ;;
    --orders) orders=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    --no-prime) prime=false; shift ;;
    --hold-freed-pages) hold_pages=true; shift ;;
    --realtime) realtime=true; shift ;;
    --ref-tree) ref_tree=$2; shift 2 ;;
    --keep-ref) keep_ref=true; shift ;;
    --data) data=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    *) echo "error: $usage" >&2; exit 2 ;;
  esac
done
[[ "$reps" =~ ^[1-9][0-9]*$ ]] || { echo "error: --reps wants a positive count, not '$reps'" >&2; exit 2; }
for tool in git mvn jq python3 /usr/bin/time dd; do
  command -v "$tool" >/dev/null || { echo "error: bench/ab.sh needs $tool" >&2; exit 2; }
done
ref_sha=$(git -C "$root" rev-parse --verify --quiet "$ref^{commit}") \
  || { echo "error: $ref is no commit of this repository" >&2; exit 2; }
is_root=false; [ "$(id -u)" = 0 ] && is_root=true
if $realtime && ! $is_root; then echo "error: --realtime needs root (chrt -f)" >&2; exit 2; fi
source "$root/bench/lib/freed-pages.sh"

work=$(mktemp -d "${TMPDIR:-/tmp}/stload-ab.XXXXXX")
made_tree=""
cleanup() {
  freed_pages_restore
  rm -rf /dev/shm/stload-ab
  if [ -n "$made_tree" ] && ! $keep_ref; then
    git -C "$root" worktree remove --force "$made_tree" >/dev/null 2>&1 || true
    git -C "$root" worktree prune
  fi
  rm -rf "$work"
}
trap cleanup EXIT

# --- the two trees ------------------------------------------------------------------------------------------------

if [ -z "$ref_tree" ]; then
  ref_tree="$work/ref"
  if $keep_ref; then ref_tree=$(mktemp -d "${TMPDIR:-/tmp}/stload-ab-ref.XXXXXX"); rmdir "$ref_tree"; fi
  git -C "$root" worktree add --detach --quiet "$ref_tree" "$ref_sha"
  made_tree=$ref_tree
else
  ref_tree=$(cd "$ref_tree" && pwd)
  [ "$(git -C "$ref_tree" rev-parse HEAD 2>/dev/null)" = "$ref_sha" ] \
    || { echo "error: --ref-tree $ref_tree is not a checkout of $ref ($ref_sha)" >&2; exit 2; }
fi

# Adds to $1's root pom a pluginManagement version for every plugin this checkout pins and it does not.
pin_plugins() {
  python3 - "$root/pom.xml" "$1/pom.xml" <<'PY'
import re, sys
ours, theirs = open(sys.argv[1]).read(), open(sys.argv[2]).read()
managed = lambda pom: re.search(r"<pluginManagement>\s*<plugins>(.*?)</plugins>", pom, re.S)
pinned = []
for p in re.findall(r"<plugin>.*?</plugin>", managed(ours).group(1), re.S):
    g = re.search(r"<groupId>([^<]*)</groupId>", p)
    a, v = re.search(r"<artifactId>([^<]*)</artifactId>", p), re.search(r"<version>([^<]*)</version>", p)
    if a and v:
        pinned.append((g.group(1) if g else "org.apache.maven.plugins", a.group(1), v.group(1)))
m = managed(theirs)
have = set(re.findall(r"<artifactId>([^<]*)</artifactId>", m.group(1))) if m else set()
add = "".join(f"<plugin><groupId>{g}</groupId><artifactId>{a}</artifactId><version>{v}</version></plugin>"
              for g, a, v in pinned if a not in have)
if m:
    theirs = theirs[:m.end(1)] + add + theirs[m.end(1):]
elif "<build>" in theirs:
    theirs = theirs.replace("<build>", f"<build><pluginManagement><plugins>{add}</plugins></pluginManagement>", 1)
else:
    theirs = theirs.replace("</project>", f"<build><pluginManagement><plugins>{add}</plugins></pluginManagement></build></project>")
open(sys.argv[2], "w").write(theirs)
PY
}

build_tree() { # builds the CLI jar of the checkout $1 with Maven offline, once
  local tree=$1 log="$work/build.log"
  local jar="$tree/cli/target/stload.jar"
  if [ -f "$jar" ] && [ -z "$(find "$tree" \( -path '*/target' -o -path "$tree/examples" \) -prune -o \( -name '*.java' -o -name 'pom.xml' \) -newer "$jar" -print -quit)" ]; then
    return
  fi
  echo "building $(git -C "$tree" rev-parse --short HEAD) in $tree (Maven, offline)"
  local cmd=(mvn -B -q -o -DskipTests -Dmaven.javadoc.skip=true package -pl cli -am)
  if ! (cd "$tree" && "${cmd[@]}") > "$log" 2>&1; then
    if grep -q "could not be resolved" "$log"; then
      echo "  offline build failed on an unpinned plugin; retrying with this checkout's plugin versions"
      pin_plugins "$tree"
      (cd "$tree" && "${cmd[@]}") > "$log" 2>&1 || { tail -30 "$log" >&2; echo "error: building $ref failed" >&2; exit 1; }
    else
      tail -30 "$log" >&2; echo "error: building $ref failed" >&2; exit 1
    fi
  fi
}

build_tree "$ref_tree"
"$root/stload" --version >/dev/null   # the current checkout, built by its launcher when its sources changed
# Each tree's launcher and CLI jar, copied: an edit to either checkout during the run changes nothing measured (the
# launcher rebuilds a jar older than its sources).
for t in old new; do
  src=$([ "$t" = old ] && echo "$ref_tree" || echo "$root")
  mkdir -p "$work/$t/cli/target"
  cp "$src/stload" "$work/$t/stload"
  cp "$src/cli/target/stload.jar" "$work/$t/cli/target/stload.jar"
done
trees=("$work/old" "$work/new")
names=(old new)

# What each tree's `load` takes: the strategy flag's name, and whether it has --order, --threads, --digest.
declare -A flag
for i in 0 1; do
  help=$("${trees[$i]}/stload" load --help 2>&1 || true)
  has() { grep -qE -- "(^|[[ ,])$1([]=, ]|$)" <<<"$help"; }
  has --json || { echo "error: the ${names[$i]} tree's load has no --json" >&2; exit 1; }
  if has --load-strategy; then flag[$i.strategy]=--load-strategy; elif has --strategy; then flag[$i.strategy]=--strategy
  else echo "error: the ${names[$i]} tree's load takes no strategy flag" >&2; exit 1; fi
  for f in --order --threads --digest; do flag[$i$f]=$(has $f && echo yes || echo no); done
done

# --- measuring ----------------------------------------------------------------------------------------------------

bytes_of() { python3 -c 'import re,sys; m=re.fullmatch(r"([0-9.]+)([KMGT]i?B)?", sys.argv[1]); u={"KiB":2**10,"MiB":2**20,"GiB":2**30,"TiB":2**40,"KB":1e3,"MB":1e6,"GB":1e9,"TB":1e12}.get(m.group(2),1); print(int(float(m.group(1))*u))' "$1"; }
drop_caches() { sync; echo 3 > /proc/sys/vm/drop_caches; }
fast=(); $realtime && fast=(chrt -f 10)

set_data_dir() { # sets $dir for filesystem $1 and makes the checkpoint there once; empty when not available
  dir=""
  case "$1" in
    ext4) dir="$data/ckpt" ;;
    tmpfs) [ -d /dev/shm ] && dir=/dev/shm/stload-ab/ckpt ;;
    *) echo "error: --fs takes ext4 and tmpfs, not '$1'" >&2; exit 2 ;;
  esac
  [ -n "$dir" ] || return 0
  local params="llama size=$size shard=$shard seed=7"
  if [ "$(cat "$dir/.ab-params" 2>/dev/null)" != "$params" ]; then
    rm -rf "$dir"; mkdir -p "$(dirname "$dir")"
    echo "generating a $size llama-shaped checkpoint in $dir"
    "$root/stload" gen "$dir" --shape llama --size "$size" --shard-size "$shard" --seed 7 >/dev/null
    echo "$params" > "$dir/.ab-params"
  fi
}

dd_rate() { # GB/s and CPU seconds (user, system) of reading every shard with dd (flags in $1)
  local flags=$1 total=0 b t0 t1 secs=0 u=0 s=0 f du ds
  for f in "$dir"/*.safetensors; do
    b=$(stat -c %s "$f")
    t0=$(date +%s.%N)
    "${fast[@]}" /usr/bin/time -f '%U %S' -o "$work/time" dd if="$f" of=/dev/null bs=64M $flags status=none
    t1=$(date +%s.%N)
    read -r du ds < "$work/time"
    total=$((total + b)); secs=$(echo "$secs + $t1 - $t0" | bc -l); u=$(echo "$u + $du" | bc -l); s=$(echo "$s + $ds" | bc -l)
  done
  echo "$(echo "scale=4; $total / 1000000000 / $secs" | bc -l) $u $s"
}

load_cmd() { # the load command of tree $1 for strategy $2 and order $3 ($4 = digest or nothing)
  local i=$1 cmd=("${trees[$1]}/stload" load "$dir" "${flag[$1.strategy]}" "$2")
  [ "${flag[$i--order]}" = yes ] && cmd+=(--order "$3")
  [ "${flag[$i--threads]}" = yes ] && cmd+=(--threads "$threads")
  cmd+=(--json)
  [ "$4" = digest ] && [ "${flag[$i--digest]}" = yes ] && cmd+=(--digest)
  printf '%s\0' "${cmd[@]}"
}

# An unmeasured load of tree $1 ($2 strategy, $3 order) whose digests must equal the reference for this filesystem.
primed_check() {
  local json; mapfile -d '' cmd < <(load_cmd "$1" "$2" "$3" digest)
  json=$("${cmd[@]}") || { echo "error: ${names[$1]} tree: load $2/$3 on $fs failed" >&2; exit 1; }
  [ "${flag[$1--digest]}" = yes ] || return 0
  if [ -f "$out/reference.$fs.json" ]; then
    if ! diff -q <(jq -S .digests <<<"$json") "$out/reference.$fs.json" >/dev/null; then
      echo "error: ${names[$1]} tree: $2/$3 on $fs: digests differ from the reference" >&2; exit 1
    fi
  else
    jq -S .digests <<<"$json" > "$out/reference.$fs.json"
  fi
}

# One measured load of tree $1; appends its row to runs.csv and prints it.
measure() {
  local i=$1 strategy=$2 order=$3 json row u s
  mapfile -d '' cmd < <(load_cmd "$i" "$strategy" "$order" "")
  if [ "$order" != file ] && [ "${flag[$i--order]}" = no ]; then
    echo "$fs,$cache,$order,$strategy,${names[$i]},$rep,,,,,,," >> "$csv"; return
  fi
  if [ "$cache" = cold ]; then drop_caches; "${trees[$i]}/stload" --version >/dev/null; else cat "$dir"/*.safetensors > /dev/null; fi
  json=$("${fast[@]}" /usr/bin/time -f '%U %S' -o "$work/time" "${cmd[@]}") \
    || { echo "error: ${names[$i]} tree: load $strategy/$order on $fs failed" >&2; exit 1; }
  read -r u s < "$work/time"
  row=$(jq -r '[(.gbps // (.bytes / .seconds / 1e9)), .seconds,
                ([(.strategy // [.files[]?.strategy]) | if type == "object" or type == "array" then .[] else . end]
                 | map(tostring) | unique | join("+")),
                (.cpu_seconds.user // ""), (.cpu_seconds.system // "")] | map(tostring) | join(",")' <<<"$json")
  echo "$fs,$cache,$order,$strategy,${names[$i]},$rep,$row,$u,$s" >> "$csv"
  printf '%-5s %-4s %-8s %-8s %-3s rep %s: %6.2f GB/s\n' "$fs" "$cache" "$order" "$strategy" "${names[$i]}" "$rep" \
    "$(cut -d, -f1 <<<"$row")"
}

mkdir -p "$out"
csv="$out/runs.csv"
echo "fs,cache,order,strategy,tree,rep,gbps,seconds,chosen,load_cpu_user,load_cpu_system,process_cpu_user,process_cpu_system" > "$csv"
$hold_pages && freed_pages_hold
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
IFS=, read -ra fss <<<"$filesystems"
IFS=, read -ra want_caches <<<"$caches"
IFS=, read -ra want_orders <<<"$orders"
IFS=, read -ra want_strategies <<<"$strategies"
$is_root || echo "not root: cold cells skipped (drop_caches needs root)"
for fs in "${fss[@]}"; do
  set_data_dir "$fs"
  [ -n "$dir" ] || { echo "skipping $fs: not available here"; continue; }
done
for rep in $(seq 1 "$reps"); do
  first=$(( rep % 2 ))   # odd reps: new first; even reps: old first
  for fs in "${fss[@]}"; do
    set_data_dir "$fs"; [ -n "$dir" ] || continue
    for cache in "${want_caches[@]}"; do
      if [ "$cache" = cold ] && { ! $is_root || [ "$fs" = tmpfs ]; }; then continue; fi
      if [ "$cache" = cold ]; then drop_caches; r=$(dd_rate "iflag=direct"); else cat "$dir"/*.safetensors > /dev/null; r=$(dd_rate ""); fi
      read -r gbps u s <<<"$r"
      echo "$fs,$cache,file,dd,dd,$rep,$gbps,,,,,$u,$s" >> "$csv"
      for order in "${want_orders[@]}"; do
        for strategy in "${want_strategies[@]}"; do
          for i in $first $((1 - first)); do
            if $prime || [ "$rep" = 1 ]; then primed_check "$i" "$strategy" "$order"; fi
            measure "$i" "$strategy" "$order"
          done
        done
      done
    done
  done
done
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

conditions="old=$(git -C "$root" log -1 --format='%h' "$ref_sha") new=$(git -C "$root" describe --always --dirty)"
conditions+=" size=$size shard=$shard threads=$threads reps=$reps prime=$prime freed-pages-held=$hold_pages realtime=$realtime"
conditions+=" host=$(hostname) cores=$(nproc) kernel=$(uname -r) loadavg-before=$load_before loadavg-after=$load_after"
python3 - "$csv" "$out/ab.md" "$conditions" <<'PY'
import csv, statistics, sys
from collections import defaultdict
path, md_path, conditions = sys.argv[1:]
cells = defaultdict(lambda: defaultdict(list))
chosen = defaultdict(set)
for r in csv.DictReader(open(path)):
    if not r["gbps"]:
        continue
    key = (r["fs"], r["cache"], r["order"], r["strategy"])
    c = cells[key][r["tree"]]
    load_cpu = float(r["load_cpu_user"]) + float(r["load_cpu_system"]) if r["load_cpu_user"] else None
    c.append((float(r["gbps"]), load_cpu, float(r["process_cpu_user"]) + float(r["process_cpu_system"])))
    if r["chosen"]:
        chosen[(key, r["tree"])].add(r["chosen"])
med = lambda xs: statistics.median(xs) if xs else None
f2 = lambda v: "-" if v is None else f"{v:.2f}"
dd = {(k[0], k[1]): med([x[0] for x in v["dd"]]) for k, v in cells.items() if k[3] == "dd"}
lines = [f"Conditions: {conditions}", "",
         "GB/s: medians of the loads' own figures (tensor bytes over the whole load), range min-max; dd: `dd bs=64M`"
         " warm, `dd iflag=direct bs=64M` cold, the same files, median. CPU s: user + system, of the whole process"
         " (GNU time: launcher and JVM start included) and of the load alone (as the new tree reports it).", "",
         "| fs | cache | order | strategy | dd GB/s | old GB/s | new GB/s | new/old | new/dd | old range | new range "
         "| old process CPU s | new process CPU s | new load CPU s |",
         "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
for key in sorted(cells, key=lambda k: (k[0], k[1], k[2], k[3])):
    fs, cache, order, strategy = key
    if strategy == "dd":
        continue
    old, new = cells[key].get("old", []), cells[key].get("new", [])
    go, gn, gd = med([x[0] for x in old]), med([x[0] for x in new]), dd.get((fs, cache))
    rng = lambda runs: f"{min(x[0] for x in runs):.2f}-{max(x[0] for x in runs):.2f}" if runs else "-"
    name = strategy
    if strategy == "auto":
        name += " (" + "/".join("+".join(sorted(chosen[(key, t)])) or "?" for t in ("old", "new")) + ")"
    load_cpu = [x[1] for x in new if x[1] is not None]
    lines.append(f"| {fs} | {cache} | {order} | {name} | {f2(gd)} | {f2(go)} | {f2(gn)} | "
                 f"{f2(gn / go if go and gn else None)} | {f2(gn / gd if gd and gn else None)} | {rng(old)} | "
                 f"{rng(new)} | {f2(med([x[2] for x in old]))} | {f2(med([x[2] for x in new]))} | {f2(med(load_cpu))} |")
report = "\n".join(lines) + "\n"
open(md_path, "w").write(report)
print(report)
PY
echo "results in $out"
if $keep_ref && [ -n "$made_tree" ]; then echo "the $ref tree stays in $made_tree (--ref-tree $made_tree reuses it)"; fi
