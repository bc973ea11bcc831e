package io.stload.host;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class MemoryHeadroomTest {
    private static final long GIB = 1L << 30;
    private static final String MEMINFO = """
            MemTotal:       67108864 kB
            MemFree:         1048576 kB
            MemAvailable:   33554432 kB
            Buffers:          524288 kB
            Cached:         16777216 kB
            """; // MemAvailable 32 GiB

    @TempDir
    Path root;

    @Test
    void cgroupV2LimitCapsMemAvailable() throws IOException {
        write("proc/meminfo", MEMINFO);
        write("proc/self/cgroup", "0::/kubepods/pod1/ctr\n");
        write("sys/fs/cgroup/kubepods/pod1/ctr/memory.max", 8 * GIB + "\n");
        write("sys/fs/cgroup/kubepods/pod1/ctr/memory.current", 3 * GIB + "\n");

        MemoryHeadroom headroom = MemoryHeadroom.read(root);
        assertEquals(5 * GIB, headroom.availableBytes());
        assertEquals(32 * GIB, headroom.memAvailableBytes());
        assertEquals(8 * GIB, headroom.cgroupLimitBytes());
        assertEquals(3 * GIB, headroom.cgroupUsageBytes());
        assertEquals("5.0 GiB available (MemAvailable 32.0 GiB; cgroup limit 8.0 GiB, 3.0 GiB used)",
                headroom.describe());
    }

    @Test
    void cgroupV2MaxIsUnlimited() throws IOException {
        write("proc/meminfo", MEMINFO);
        write("proc/self/cgroup", "0::/user.slice\n");
        write("sys/fs/cgroup/user.slice/memory.max", "max\n");
        write("sys/fs/cgroup/user.slice/memory.current", 3 * GIB + "\n");

        MemoryHeadroom headroom = MemoryHeadroom.read(root);
        assertEquals(32 * GIB, headroom.availableBytes());
        assertEquals(-1, headroom.cgroupLimitBytes());
        assertEquals("32.0 GiB available (MemAvailable 32.0 GiB; no cgroup limit)", headroom.describe());
    }

    @Test
    void tighterAncestorLimitWins() throws IOException {
        write("proc/meminfo", MEMINFO);
        write("proc/self/cgroup", "0::/parent/child\n");
        write("sys/fs/cgroup/parent/memory.max", 4 * GIB + "\n");
        write("sys/fs/cgroup/parent/memory.current", 3 * GIB + "\n");
        write("sys/fs/cgroup/parent/child/memory.max", "max\n");
        write("sys/fs/cgroup/parent/child/memory.current", 2 * GIB + "\n");

        MemoryHeadroom headroom = MemoryHeadroom.read(root);
        assertEquals(GIB, headroom.availableBytes());
        assertEquals(4 * GIB, headroom.cgroupLimitBytes());
    }

    @Test
    void cgroupV1LimitCapsMemAvailable() throws IOException {
        write("proc/meminfo", MEMINFO);
        write("proc/self/cgroup", "5:cpu,cpuacct:/\n4:memory:/docker/abc\n0::/\n");
        write("sys/fs/cgroup/memory/docker/abc/memory.limit_in_bytes", 2 * GIB + "\n");
        write("sys/fs/cgroup/memory/docker/abc/memory.usage_in_bytes", GIB / 2 + "\n");

        MemoryHeadroom headroom = MemoryHeadroom.read(root);
        assertEquals(GIB + GIB / 2, headroom.availableBytes());
        assertEquals(2 * GIB, headroom.cgroupLimitBytes());
    }

    @Test
    void cgroupV1HugeLimitIsUnlimited() throws IOException {
        write("proc/meminfo", MEMINFO);
        write("proc/self/cgroup", "4:memory:/\n");
        write("sys/fs/cgroup/memory/memory.limit_in_bytes", "9223372036854771712\n");
        write("sys/fs/cgroup/memory/memory.usage_in_bytes", GIB + "\n");

        MemoryHeadroom headroom = MemoryHeadroom.read(root);
        assertEquals(32 * GIB, headroom.availableBytes());
        assertEquals(-1, headroom.cgroupLimitBytes());
        assertEquals(-1, headroom.cgroupUsageBytes());
    }

    @Test
    void containerWithoutCgroupNamespaceReadsItsMountRoot() throws IOException {
        // /proc/self/cgroup names the host's path, but /sys/fs/cgroup/memory is the container's own group.
        write("proc/meminfo", MEMINFO);
        write("proc/self/cgroup", "4:memory:/docker/abc\n");
        write("sys/fs/cgroup/memory/memory.limit_in_bytes", 6 * GIB + "\n");
        write("sys/fs/cgroup/memory/memory.usage_in_bytes", 2 * GIB + "\n");

        assertEquals(4 * GIB, MemoryHeadroom.read(root).availableBytes());
    }

    @Test
    void usageOverTheLimitLeavesNoHeadroom() throws IOException {
        write("proc/meminfo", MEMINFO);
        write("proc/self/cgroup", "0::/\n");
        write("sys/fs/cgroup/memory.max", GIB + "\n");
        write("sys/fs/cgroup/memory.current", 2 * GIB + "\n");

        assertEquals(0, MemoryHeadroom.read(root).availableBytes());
    }

    @Test
    void oldKernelsEstimateFromFreeBuffersAndCached() throws IOException {
        write("proc/meminfo", MEMINFO.replace("MemAvailable:   33554432 kB\n", ""));

        MemoryHeadroom headroom = MemoryHeadroom.read(root);
        assertEquals((1L + 16) * GIB + GIB / 2, headroom.availableBytes());
        assertEquals(-1, headroom.cgroupLimitBytes());
    }

    @Test
    void nothingReadableIsUnknown() {
        MemoryHeadroom headroom = MemoryHeadroom.read(root);
        assertEquals(-1, headroom.availableBytes());
        assertEquals("unknown headroom (MemAvailable unknown; no cgroup limit)", headroom.describe());
    }

    @Test
    void cgroupLimitAloneStillCounts() throws IOException {
        write("proc/self/cgroup", "0::/\n");
        write("sys/fs/cgroup/memory.max", 2 * GIB + "\n");
        write("sys/fs/cgroup/memory.current", GIB + "\n");

        assertEquals(GIB, MemoryHeadroom.read(root).availableBytes());
    }

    /**
     * The room for memory of the process's own counts what the group holds that the kernel cannot drop, not its
     * page cache nor memory freed lazily, and leaves the pages a running load needs beside it; the tightest level
     * wins; with swap, or a group whose use is unknown, nothing is sure.
     */
    private static final long RESERVE = MemoryHeadroom.RUNNING_RESERVE_BYTES;

    @Test
    void anonymousRoomIsTheLimitLessWhatNoReclaimFrees() throws IOException {
        String swapless = MEMINFO + "SwapTotal:             0 kB\n";
        write("proc/meminfo", swapless);
        write("proc/self/cgroup", "4:memory:/docker/abc\n0::/\n");
        write("sys/fs/cgroup/memory/docker/abc/memory.limit_in_bytes", 2 * GIB + "\n");
        write("sys/fs/cgroup/memory/docker/abc/memory.usage_in_bytes", 2 * GIB + "\n"); // full, mostly of cache
        // A quarter GiB anonymous, a quarter shared (on the anonymous lists too), 32 MiB locked; total_rss also counts
        // a GiB freed lazily (MADV_FREE), which the kernel has moved to the file lists and reclaims at need.
        write("sys/fs/cgroup/memory/docker/abc/memory.stat", "cache 1610612736\nrss 1\ntotal_cache 1610612736\n"
                + "total_rss " + (GIB + GIB / 4) + "\ntotal_shmem " + GIB / 4 + "\ntotal_inactive_anon " + GIB / 4
                + "\ntotal_active_anon " + (GIB / 4 - (32 << 20)) + "\ntotal_unevictable " + (32 << 20) + "\n");
        MemoryHeadroom v1 = MemoryHeadroom.read(root);
        assertEquals(0, v1.availableBytes(), "the headroom counts the cache as used");
        assertEquals(GIB + GIB / 2 - RESERVE, v1.anonymousRoomBytes());
        assertEquals(GIB + GIB / 2 - RESERVE - 64 * MemoryHeadroom.RESERVE_PER_THREAD_BYTES, v1.anonymousRoomBytes(64),
                "each of a load's threads takes memory of its own");
        assertEquals(0, v1.anonymousRoomBytes(1 << 20), "threads that take all of it leave none");

        write("sys/fs/cgroup/memory.max", 3 * GIB + "\n"); // a v2 limit beside, tighter once its anon counts
        write("sys/fs/cgroup/memory.current", 3 * GIB + "\n");
        write("sys/fs/cgroup/memory.stat", "anon " + 2 * GIB + "\nfile " + GIB + "\nactive_anon " + GIB
                + "\ninactive_anon " + (GIB + GIB / 2) + "\nunevictable 0\n");
        assertEquals(GIB / 2 - RESERVE, MemoryHeadroom.read(root).anonymousRoomBytes());

        write("sys/fs/cgroup/memory.stat", "file " + GIB + "\nactive_anon 0\n");
        assertEquals(-1, MemoryHeadroom.read(root).anonymousRoomBytes(), "a group's anonymous memory unknown");
        write("sys/fs/cgroup/memory.max", "max\n");
        assertEquals(GIB + GIB / 2 - RESERVE, MemoryHeadroom.read(root).anonymousRoomBytes(), "no limit, no count needed");
        write("sys/fs/cgroup/memory/docker/abc/memory.limit_in_bytes", GIB / 2 + RESERVE / 2 + "\n");
        assertEquals(0, MemoryHeadroom.read(root).anonymousRoomBytes(), "less than the reserve is no room");
        write("sys/fs/cgroup/memory/docker/abc/memory.limit_in_bytes", 2 * GIB + "\n");

        write("proc/meminfo", swapless.replace("SwapTotal:             0 kB", "SwapTotal:       1048576 kB"));
        assertEquals(-1, MemoryHeadroom.read(root).anonymousRoomBytes(), "swap can take anonymous memory");
        write("proc/meminfo", MEMINFO);
        assertEquals(-1, MemoryHeadroom.read(root).anonymousRoomBytes(), "swap unknown");
        assertEquals(-1, MemoryHeadroom.read(root).anonymousRoomBytes(64), "nothing bounds a load's threads either");
    }

    @Test
    void aProcesssAnonymousMemoryIsItsRssAnon() throws IOException {
        write("proc/42/status", "Name:\tjava\nVmRSS:\t  90000 kB\nRssAnon:\t   41236 kB\nRssFile:\t  20000 kB\n");
        assertEquals(41236L * 1024, MemoryHeadroom.anonymousBytesOf(root.resolve("proc/42/status")));
        assertEquals(-1, MemoryHeadroom.anonymousBytesOf(root.resolve("proc/43/status")), "no such process");
        assertTrue(MemoryHeadroom.ownAnonymousBytes() > 0, "this JVM holds a heap");
    }

    @Test
    void readsThisHost() throws IOException {
        assumeTrue(System.getProperty("os.name").equals("Linux"), "MemAvailable is Linux's");
        MemoryHeadroom headroom = MemoryHeadroom.read();
        // Read again here, independently; memory moves between the two reads, so within 10% or 512 MiB.
        long kib = Files.readAllLines(Path.of("/proc/meminfo")).stream().filter(l -> l.startsWith("MemAvailable:"))
                .mapToLong(l -> Long.parseLong(l.replaceAll("[^0-9]", ""))).findFirst().orElseThrow();
        long expected = kib << 10;
        assertTrue(Math.abs(headroom.memAvailableBytes() - expected) <= Math.max(512L << 20, expected / 10),
                headroom.memAvailableBytes() + " vs /proc/meminfo's " + expected);
        assertTrue(headroom.availableBytes() >= 0 && headroom.availableBytes() <= headroom.memAvailableBytes());
        assertFalse(headroom.describe().contains("unknown"), headroom.describe());
    }

    private void write(String relative, String content) throws IOException {
        Path file = root.resolve(relative);
        Files.createDirectories(file.getParent());
        Files.writeString(file, content);
    }
}
