#!/bin/bash
# usage: run.sh OLD_TREE NEW_TREE CKPT OUT ; each load cold, in a fresh v1 memory cgroup of 256 MiB without swap
old=$1 new=$2 ck=$3 out=$4
echo "tree,threads,strategy,rep,rc,wall_s,gbps,kernel_read_gib" > $out
for rep in 1 2; do for threads in 16 64; do for strategy in prefetch mmap; do
  for tree in old new; do
    [ $tree = old ] && s=$old/stload || s=$new/stload
    cg=/sys/fs/cgroup/memory/stload-cg-$$; rmdir $cg 2>/dev/null; mkdir $cg
    echo 268435456 > $cg/memory.limit_in_bytes; echo 0 > $cg/memory.swappiness
    sync; echo 3 > /proc/sys/vm/drop_caches
    start=$(date +%s.%N)
    j=$(timeout -s KILL 60 bash -c "echo \$\$ > $cg/cgroup.procs; exec $s load $ck --sink stream --order shuffled --threads $threads --load-strategy $strategy --json" 2>/dev/null); rc=$?
    wall=$(echo "$(date +%s.%N) - $start" | bc)
    g=$(echo "$j" | jq -r '.gbps // "-"' 2>/dev/null); k=$(echo "$j" | jq -r '(.kernel_bytes_read // 0) / 1073741824' 2>/dev/null)
    echo "$tree,$threads,$strategy,$rep,$rc,$wall,$g,$k" | tee -a $out
    rmdir $cg 2>/dev/null
  done
done; done; done
