package io.stload.host;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;
import java.util.Optional;

/**
 * How much memory the loader may fill with page cache and buffers before the kernel has to reclaim:
 * MemAvailable from /proc/meminfo, capped by the tightest cgroup memory limit above this process less
 * what that group already uses (cgroup v2 memory.max / memory.current, v1 memory.limit_in_bytes /
 * memory.usage_in_bytes). A container sees the host's MemAvailable, so without the cap a loader would
 * plan for memory it will be killed for using.
 *
 * @param availableBytes    the headroom; -1 when neither source could be read
 * @param memAvailableBytes MemAvailable; -1 when unknown
 * @param cgroupLimitBytes  the limit of the cgroup that leaves the least headroom; -1 when none applies
 * @param cgroupUsageBytes  that cgroup's current usage; -1 when no limit applies
 * @param anonymousRoomBytes the anonymous memory (a host destination's) this process can still take before a cgroup
 *                          limit has the kernel kill it: each limit less what its group holds that no reclaim frees
 *                          without swap (memory.stat: the anonymous LRU lists, shared memory included, and the
 *                          unevictable one), the least of them; -1 when no limit applies, a group's use is unknown,
 *                          or the host has swap to move such memory to. The cgroup's usage counts page cache the
 *                          kernel reclaims at need, and so does its anonymous total count memory freed lazily
 *                          (MADV_FREE, which moves it to the file lists); this counts neither, so it is sure where the
 *                          headroom is cautious. It leaves out {@link #RUNNING_RESERVE_BYTES} for the pages a load
 *                          needs beside its allocations.
 * @param roomGroup          the directory of the cgroup whose limit leaves that least room; null where it is -1
 */
public record MemoryHeadroom(long availableBytes, long memAvailableBytes, long cgroupLimitBytes, long cgroupUsageBytes,
                             long anonymousRoomBytes, Path roomGroup) {

    /**
     * What a process needs beside its anonymous memory to make progress within a memory cgroup: the JVM's code and
     * the mapped jars (about 25 MiB resident during a load), a read in flight, and some of the runtime's own growth
     * during a load. Where less is left, reclaim takes the code's own pages, the load crawls and the kernel kills it.
     * Measured cold on ext4, the room a load found beside its bytes (this reserve not yet taken): a 96 MiB host load
     * was killed beside 15 MiB, took 14 s beside 25 MiB, 0.8 s beside 35 MiB; a 400 MiB one was killed beside 11
     * MiB, took 3 to 10 s beside 31 MiB and 3 s beside 51 MiB.
     */
    public static final long RUNNING_RESERVE_BYTES = 40L << 20;
    /**
     * What each thread of a load adds to the process's own memory: its stack, its allocation buffers in the heap and
     * its malloc arena's pages. Measured by the peak anonymous memory of a stream of an MoE checkpoint at 1 to 256
     * threads: 0.3 to 0.6 MiB a thread.
     */
    public static final long RESERVE_PER_THREAD_BYTES = 512L << 10;

    /** cgroup v1 writes "no limit" as LONG_MAX rounded down to a page; anything this large is no limit. */
    private static final long V1_UNLIMITED = 1L << 62;

    /** Reads the running host's files. */
    public static MemoryHeadroom read() {
        return read(Path.of("/"));
    }

    /** Reads proc/meminfo, proc/self/cgroup and sys/fs/cgroup under {@code root} (a canned tree in tests). */
    public static MemoryHeadroom read(Path root) {
        List<String> meminfo = readLines(root.resolve("proc/meminfo"));
        long memAvailable = memAvailable(meminfo);
        List<CgroupLimit> limits = cgroupLimits(root);
        Optional<CgroupLimit> cgroup = limits.stream().min(Comparator.comparingLong(CgroupLimit::headroom));
        long available = memAvailable;
        if (cgroup.isPresent()) {
            long headroom = cgroup.get().headroom();
            available = memAvailable < 0 ? headroom : Math.min(memAvailable, headroom);
        }
        boolean swapless = meminfoField(meminfo, "SwapTotal") == 0;
        Optional<CgroupLimit> tightest = !swapless || limits.stream().anyMatch(l -> l.unreclaimable() < 0)
                ? Optional.empty() : limits.stream().min(Comparator.comparingLong(CgroupLimit::anonymousRoom));
        return new MemoryHeadroom(available, memAvailable, cgroup.map(CgroupLimit::limit).orElse(-1L),
                cgroup.map(CgroupLimit::usage).orElse(-1L), tightest.map(CgroupLimit::anonymousRoom).orElse(-1L),
                tightest.map(CgroupLimit::dir).orElse(null));
    }

    /**
     * The anonymous room left to a load that runs {@code threads} threads: {@link #anonymousRoomBytes()} less their
     * {@link #RESERVE_PER_THREAD_BYTES} each.
     *
     * @param threads the load's threads
     * @return the bytes, -1 when nothing bounds them
     */
    public long anonymousRoomBytes(int threads) {
        return anonymousRoomBytes < 0 ? -1 : Math.max(0, anonymousRoomBytes - threads * RESERVE_PER_THREAD_BYTES);
    }

    /**
     * The anonymous memory this process holds: {@code RssAnon} of {@code /proc/self/status} (its heap, thread stacks
     * and what it allocated natively, a host load's tensors among them).
     *
     * @return the bytes, -1 where the kernel does not say (not Linux)
     */
    public static long ownAnonymousBytes() {
        return anonymousBytesOf(Path.of("/proc/self/status"));
    }

    /** {@code RssAnon} of a process's {@code /proc/PID/status} file, in bytes; -1 where it cannot be read. */
    static long anonymousBytesOf(Path procStatus) {
        return meminfoField(readLines(procStatus), "RssAnon");
    }

    /** One line for logs, e.g. "7.5 GiB available (MemAvailable 60.2 GiB; cgroup limit 8.0 GiB, 0.5 GiB used)". */
    public String describe() {
        String total = availableBytes < 0 ? "unknown headroom" : gib(availableBytes) + " available";
        String host = memAvailableBytes < 0 ? "MemAvailable unknown" : "MemAvailable " + gib(memAvailableBytes);
        String cgroup = cgroupLimitBytes < 0 ? "no cgroup limit"
                : "cgroup limit " + gib(cgroupLimitBytes) + ", " + gib(cgroupUsageBytes) + " used";
        return total + " (" + host + "; " + cgroup + ")";
    }

    private static String gib(long bytes) {
        return String.format(Locale.ROOT, "%.1f GiB", bytes / (double) (1L << 30));
    }

    /** MemAvailable, or on kernels before 3.14 that lack it, the older estimate MemFree + Buffers + Cached. */
    static long memAvailable(List<String> lines) {
        long available = meminfoField(lines, "MemAvailable");
        if (available >= 0) {
            return available;
        }
        long free = meminfoField(lines, "MemFree");
        long buffers = meminfoField(lines, "Buffers");
        long cached = meminfoField(lines, "Cached");
        return free < 0 || buffers < 0 || cached < 0 ? -1 : free + buffers + cached;
    }

    private static long meminfoField(List<String> lines, String name) {
        for (String line : lines) {
            // MemAvailable:   24127656 kB
            if (line.startsWith(name + ":")) {
                String[] parts = line.substring(name.length() + 1).trim().split("\\s+");
                long value = parseLong(parts[0]);
                return value < 0 || parts.length < 2 || !parts[1].equals("kB") ? value : value * 1024;
            }
        }
        return -1;
    }

    /**
     * A cgroup's limit and usage: how much more it lets its members use; {@code unreclaimable} is the part of the usage
     * the kernel cannot drop without swap (the anonymous and unevictable LRU lists), -1 when unknown.
     */
    private record CgroupLimit(Path dir, long limit, long usage, long unreclaimable) {
        long headroom() {
            return Math.max(0, limit - usage);
        }

        long anonymousRoom() {
            return Math.max(0, limit - unreclaimable - RUNNING_RESERVE_BYTES);
        }
    }

    /**
     * The limits of this process's cgroups and their ancestors, in both hierarchies (a hybrid host has v1
     * controllers and a v2 tree). Ancestors matter because a parent's limit binds its children, and walking up from
     * a group path that does not exist under our /sys/fs/cgroup (a container without its own cgroup namespace) ends
     * at the mount's root, which is then the container's own group.
     */
    private static List<CgroupLimit> cgroupLimits(Path root) {
        Path cgroupFs = root.resolve("sys/fs/cgroup");
        List<CgroupLimit> limits = new ArrayList<>();
        for (String line : readLines(root.resolve("proc/self/cgroup"))) {
            // v2: "0::/user.slice/session-1.scope"   v1: "4:memory:/docker/abc"
            String[] fields = line.split(":", 3);
            if (fields.length < 3) {
                continue;
            }
            boolean v2 = fields[0].equals("0") && fields[1].isEmpty();
            boolean v1Memory = List.of(fields[1].split(",")).contains("memory");
            if (!v2 && !v1Memory) {
                continue;
            }
            Path base = v2 ? cgroupFs : cgroupFs.resolve("memory");
            String limitFile = v2 ? "memory.max" : "memory.limit_in_bytes";
            String usageFile = v2 ? "memory.current" : "memory.usage_in_bytes";
            Path dir = base.resolve(fields[2].replaceFirst("^/+", "")).normalize();
            for (; dir != null && dir.startsWith(base); dir = dir.getParent()) {
                CgroupLimit limit = readLimit(dir, limitFile, usageFile,
                        v2 ? List.of("active_anon", "inactive_anon", "unevictable")
                                : List.of("total_active_anon", "total_inactive_anon", "total_unevictable"));
                if (limit != null) {
                    limits.add(limit);
                }
            }
        }
        return limits;
    }

    /**
     * The limit in {@code dir}'s {@code limitFile} with the usage beside it, and the sum of the {@code unreclaimable}
     * fields of its memory.stat; null when there is no finite limit.
     */
    private static CgroupLimit readLimit(Path dir, String limitFile, String usageFile, List<String> unreclaimable) {
        List<String> limitLines = readLines(dir.resolve(limitFile));
        if (limitLines.isEmpty()) {
            return null;
        }
        long limit = parseLong(limitLines.getFirst().trim()); // "max" in v2 parses as -1: no limit
        if (limit < 0 || limit >= V1_UNLIMITED) {
            return null;
        }
        List<String> usageLines = readLines(dir.resolve(usageFile));
        long usage = usageLines.isEmpty() ? 0 : Math.max(0, parseLong(usageLines.getFirst().trim()));
        return new CgroupLimit(dir, limit, usage, statSum(readLines(dir.resolve("memory.stat")), unreclaimable));
    }

    /** The sum of the named fields of a memory.stat ("anon 1234" lines), -1 if one is missing. */
    private static long statSum(List<String> stat, List<String> fields) {
        long sum = 0;
        for (String field : fields) {
            long value = stat.stream().filter(l -> l.startsWith(field + " "))
                    .mapToLong(l -> parseLong(l.substring(field.length() + 1).trim())).findFirst().orElse(-1);
            if (value < 0) {
                return -1;
            }
            sum += value;
        }
        return sum;
    }

    private static long parseLong(String s) {
        try {
            return Long.parseLong(s);
        } catch (NumberFormatException e) {
            return -1;
        }
    }

    private static List<String> readLines(Path file) {
        try {
            return Files.readAllLines(file, StandardCharsets.UTF_8);
        } catch (IOException | SecurityException e) {
            return List.of();
        }
    }
}
