# Memory cgroups for the benchmarks that measure under a memory limit (sourced, not run). cgroup v1's memory
# controller under /sys/fs/cgroup/memory or v2's unified tree; no systemd needed (many containers and VMs run
# without it).

# Sets cgv (1 or 2) and cgbase, or exits 2 with one line.
cgroup_detect() {
  if [ -d /sys/fs/cgroup/memory ] && [ -f /sys/fs/cgroup/memory/memory.limit_in_bytes ]; then
    cgv=1 cgbase=/sys/fs/cgroup/memory
  elif [ -f /sys/fs/cgroup/cgroup.controllers ] && grep -qw memory /sys/fs/cgroup/cgroup.controllers; then
    cgv=2 cgbase=/sys/fs/cgroup
    grep -qw memory /sys/fs/cgroup/cgroup.subtree_control || echo +memory > /sys/fs/cgroup/cgroup.subtree_control
  else
    echo "error: no memory cgroup controller found (v1 /sys/fs/cgroup/memory or v2 /sys/fs/cgroup)" >&2; exit 2
  fi
  cg=""
}

# A fresh cgroup limited to $1 bytes, without swap; its path in $cg.
new_cgroup() {
  cg="$cgbase/stload-bench-$$-$RANDOM"
  mkdir "$cg"
  if [ "$cgv" = 1 ]; then
    echo "$1" > "$cg/memory.limit_in_bytes"
    echo 0 > "$cg/memory.swappiness" 2>/dev/null || true
  else
    echo "$1" > "$cg/memory.max"
    echo 0 > "$cg/memory.swap.max" 2>/dev/null || true
  fi
}

# Peak usage of $cg in bytes (page cache included), -1 where the kernel does not keep one.
cgroup_peak() { if [ "$cgv" = 1 ]; then cat "$cg/memory.max_usage_in_bytes"; else cat "$cg/memory.peak" 2>/dev/null || echo -1; fi; }

# How many processes of $cg the OOM killer took.
cgroup_ooms() {
  if [ "$cgv" = 1 ]; then sed -n 's/^oom_kill //p' "$cg/memory.oom_control"; else sed -n 's/^oom_kill //p' "$cg/memory.events"; fi
}

# Removes $cg (empty once its processes have exited).
cgroup_remove() { [ -z "$cg" ] || rmdir "$cg" 2>/dev/null || true; cg=""; }
