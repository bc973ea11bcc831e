# Holding freed pages for the benchmarks that write host memory (sourced, not run). A virtual machine with free
# page reporting hands freed memory back to its hypervisor, and the first touch of such a page runs at a fraction
# of memory speed: whichever load's destination draws those pages pays for it. Holding reporting off for the run
# (page_reporting_order above the buddy allocator's largest order, so nothing qualifies) and touching the free
# memory once beforehand takes that cost out of every load; freed_pages_restore puts the order back.

freed_pages_param=/sys/module/page_reporting/parameters/page_reporting_order
freed_pages_was=""

# Holds freed pages for the rest of the run, or exits 2 with one line where that cannot be done here.
freed_pages_hold() {
  if [ "$(id -u)" != 0 ] || [ ! -w "$freed_pages_param" ]; then
    echo "error: --hold-freed-pages needs root and free page reporting ($freed_pages_param)" >&2; exit 2
  fi
  freed_pages_was=$(cat "$freed_pages_param")
  # Above the buddy allocator's largest order nothing qualifies for reporting; the kernel refuses larger.
  local order avail_gib
  for order in 11 10; do echo $order > "$freed_pages_param" 2>/dev/null && break; done
  # Pages reported before this point stay unbacked until touched: touch the free memory once, now.
  sync; echo 3 > /proc/sys/vm/drop_caches
  avail_gib=$(awk '/MemAvailable/ { print int($2 / 1048576) }' /proc/meminfo)
  for _ in $(seq 1 $(((avail_gib * 8 / 10) / 2))); do dd if=/dev/zero of=/dev/null bs=2G count=1 status=none & done
  wait
}

# Puts the reporting order back as it was before freed_pages_hold (nothing when it was not held).
freed_pages_restore() {
  if [ -n "$freed_pages_was" ]; then echo "$freed_pages_was" > "$freed_pages_param"; freed_pages_was=""; fi
}
