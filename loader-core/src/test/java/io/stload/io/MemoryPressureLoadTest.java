package io.stload.io;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.stload.checkpoint.Checkpoint;
import io.stload.format.DType;
import io.stload.format.SafetensorsWriter;
import io.stload.format.SafetensorsWriter.TensorData;
import io.stload.load.Digests;
import io.stload.report.LoadListener;
import io.stload.nativeio.DelegatingNativeAccess;
import io.stload.nativeio.DelegatingNativeFile;
import io.stload.nativeio.FileAdvice;
import io.stload.nativeio.NativeAccess;
import io.stload.nativeio.NativeFile;
import io.stload.plan.LoadOptions;
import io.stload.plan.LoadPlan;
import io.stload.plan.LoadStrategy;
import io.stload.plan.PartitionSpec;
import io.stload.plan.Partitioning;
import io.stload.plan.Planners;
import io.stload.plan.ReadOrder;
import io.stload.plan.Thresholds;
import io.stload.sink.HostSink;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.TreeMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/** The page-cache strategies under a memory headroom the test reports: what they read, and what they leave cached. */
class MemoryPressureLoadTest {
    private static final boolean LINUX = System.getProperty("os.name").startsWith("Linux");
    private static final long MIB = 1 << 20;
    private static final MemoryPressure NO_HEADROOM = new MemoryPressure(() -> 0, System::nanoTime, 0);

    @TempDir
    Path dir;

    /** One file of {@code tensors} tensors of {@code rowBytes} x rows bytes each, flushed so its pages can be dropped. */
    private Checkpoint write(int tensors, int rows, long rowBytes) throws IOException {
        SplittableRandom random = new SplittableRandom(12);
        List<TensorData> data = new ArrayList<>();
        for (int i = 0; i < tensors; i++) {
            byte[] bytes = new byte[(int) (rows * rowBytes)];
            random.nextBytes(bytes);
            data.add(new TensorData("t" + i, DType.U8, new long[] {rows, rowBytes}, bytes));
        }
        Path file = dir.resolve("model.safetensors");
        SafetensorsWriter.write(file, Map.of(), data);
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            ch.force(true);
        }
        return Checkpoint.open(file);
    }

    /** Drops the file's clean pages; false where the kernel would not. */
    private static boolean dropCache(Path file, NativeAccess os) throws IOException {
        try (NativeFile f = os.open(file, false)) {
            f.fadvise(0, 0, FileAdvice.DONTNEED);
        }
        return residentFraction(file, os, 0, Files.size(file)) == 0;
    }

    private static double residentFraction(Path file, NativeAccess os, long offset, long length) throws IOException {
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ); Arena arena = Arena.ofConfined()) {
            MemorySegment m = ch.map(FileChannel.MapMode.READ_ONLY, 0, ch.size(), arena);
            return os.residentFraction(m.asSlice(offset, length), (int) (length / os.pageSize()) + 1);
        }
    }

    private static Map<String, String> load(Engine engine, LoadPlan plan, NativeAccess os) {
        try (HostSink sink = new HostSink()) {
            engine.execute(plan, sink, LoadListener.NONE);
            Map<String, String> digests = new TreeMap<>();
            sink.tensors().forEach((name, t) -> digests.put(name, Digests.crc32(t.data())));
            return digests;
        }
    }

    @Test
    void mmapPopulatesExactlyItsRankRangeNotTheNeighbours() throws IOException {
        assumeTrue(LINUX);
        NativeAccess os = NativeAccess.get();
        Checkpoint ckpt = write(1, 24, MIB); // one tensor, 24 rows of 1 MiB
        Path file = ckpt.files().getFirst().file();
        assumeTrue(dropCache(file, os), "pages could not be dropped here");
        PartitionSpec rows = PartitionSpec.parse("test", "{\"rules\": [{\"pattern\": \"t0\", \"split\": 0}]}");
        LoadPlan plan = Planners.with(os).plan(ckpt, new LoadOptions(LoadStrategy.MMAP, ReadOrder.FILE, 2, 1,
                Thresholds.DEFAULTS).withPartitioning(new Partitioning(1, 3, rows)));
        load(new Engine(os, MemoryPressure.NONE), plan, os);

        long rankStart = ckpt.files().getFirst().dataStart() + 8 * MIB; // rank 1 of 3: rows 8 to 15
        assumeTrue(residentFraction(file, os, rankStart, 8 * MIB) == 1.0, "kernel before 5.14: the copy faulted");
        // A fault reads around the page (and ahead of it): the neighbours' pages would be cached too.
        assertEquals(0.0, residentFraction(file, os, rankStart - 64 * 1024, 60 * 1024), "just before the rank");
        assertEquals(0.0, residentFraction(file, os, rankStart + 8 * MIB + 4096, 60 * 1024), "just after the rank");
        assertEquals(0.0, residentFraction(file, os, 0, 7 * MIB), "the rank before");
        assertEquals(0.0, residentFraction(file, os, rankStart + 9 * MIB, 6 * MIB), "the rank after");
    }

    /**
     * The real calls, with the bytes each populate call asked for added up and the buffered opens counted; the
     * planner is told the files' pages are all in memory, or none of them, whatever the page cache holds.
     */
    private static final class CountingPopulate extends DelegatingNativeAccess {
        private final AtomicLong populated;
        private final AtomicLong bufferedOpens = new AtomicLong();
        private final AtomicLong largestRead = new AtomicLong();
        private final double resident;

        CountingPopulate(NativeAccess real, AtomicLong populated, double resident) {
            super(real);
            this.populated = populated;
            this.resident = resident;
        }

        @Override
        public boolean populate(MemorySegment range) throws IOException {
            populated.addAndGet(range.byteSize());
            return real.populate(range);
        }

        @Override
        public double residentFraction(MemorySegment mapping, int maxSamplePages) {
            return resident;
        }

        @Override
        public NativeFile open(Path path, boolean direct) throws IOException {
            if (!direct) {
                bufferedOpens.incrementAndGet();
            }
            return new DelegatingNativeFile(real.open(path, direct)) {
                @Override
                public long read(MemorySegment dst, long offset) throws IOException {
                    largestRead.accumulateAndGet(dst.byteSize(), Math::max);
                    return super.read(dst, offset);
                }
            };
        }
    }

    /** Wherever the kernel's read-around is too small for the residency check above to see, the calls say it. */
    @Test
    void mmapAsksToPopulateExactlyTheRanksBytesInAShuffledOrder() throws IOException {
        Checkpoint ckpt = write(8, 3, 100_000); // tensors not page-aligned, split in three by rows
        PartitionSpec rows = PartitionSpec.parse("test", "{\"rules\": [{\"pattern\": \"t*\", \"split\": 0}]}");
        AtomicLong populated = new AtomicLong();
        NativeAccess os = new CountingPopulate(NativeAccess.get(), populated, 0.0); // pages still on the disk
        LoadPlan plan = Planners.with(os).plan(ckpt, new LoadOptions(LoadStrategy.MMAP, ReadOrder.SHUFFLED, 2, 3,
                Thresholds.DEFAULTS).withPartitioning(new Partitioning(1, 3, rows)));
        Map<String, String> loaded = load(new Engine(os, MemoryPressure.NONE), plan, os);
        assertEquals(8, loaded.size());
        assertEquals(8 * 100_000, populated.get(), "one row of each tensor, nothing around it");
    }

    /**
     * A file in memory is copied out of the page cache by buffered reads straight into the destination, in any order,
     * without mapping a page of it; with memory short, the mapping is read, each slice's pages populated exactly.
     */
    @Test
    void mmapOfAFileInMemoryReadsItWithoutMappingAndShortMemoryPopulatesExactly() throws IOException {
        Checkpoint ckpt = write(16, 4, 256 * 1024 + 3); // 16 tensors of 1 MiB and a little, not page-aligned
        Map<String, String> reference = new TreeMap<>(Digests.ofFiles(ckpt));
        AtomicLong populated = new AtomicLong();
        CountingPopulate os = new CountingPopulate(NativeAccess.get(), populated, 1.0);
        LoadPlan plan = Planners.with(os).plan(ckpt, new LoadOptions(LoadStrategy.MMAP, ReadOrder.SHUFFLED, 3, 7,
                Thresholds.DEFAULTS));

        assertEquals(reference, load(new Engine(os, MemoryPressure.NONE), plan, os));
        assertEquals(0, populated.get(), "no page of the file populated into a mapping");
        assertTrue(os.bufferedOpens.get() > 0, "read by buffered reads");

        assertEquals(reference, load(new Engine(os, NO_HEADROOM), plan, os));
        assertEquals(plan.bytes(), populated.get(), "with no headroom, each slice's bytes populated, nothing more");
    }

    /**
     * A rank's slices of a file in memory are packed, so a window cannot land in place: it is read through a bounce
     * buffer a direct block at a time (whatever the window), and each part goes to the slices as it comes.
     */
    @Test
    void aRanksSlicesOfAFileInMemoryComeThroughTheBounceBufferABlockAtATime() throws IOException {
        Checkpoint ckpt = write(6, 40, 10_000 + 3); // rows not page-aligned, tensors of about 400 KB
        PartitionSpec spec = PartitionSpec.parse("test", "{\"rules\": [{\"pattern\": \"t0\", \"split\": 0},"
                + " {\"pattern\": \"t1\", \"split\": 0}, {\"pattern\": \"t*\", \"split\": 1}]}");
        Thresholds windows = new Thresholds(0.8, 64L << 20, 1.25, LoadStrategy.DIRECT, 256 << 10, 1 << 20, 16 << 10,
                0);
        CountingPopulate os = new CountingPopulate(NativeAccess.get(), new AtomicLong(), 1.0);
        for (int rank = 0; rank < 3; rank++) {
            LoadOptions options = new LoadOptions(LoadStrategy.MMAP, ReadOrder.SHUFFLED, 3, rank, windows)
                    .withPartitioning(new Partitioning(rank, 3, spec));
            LoadPlan inMemory = Planners.with(os).plan(ckpt, options);
            LoadPlan direct = Planners.with(os).plan(ckpt, options.withStrategy(LoadStrategy.DIRECT));
            Map<String, String> reference = load(new Engine(os, MemoryPressure.NONE), direct, os);
            os.largestRead.set(0);
            assertEquals(reference, load(new Engine(os, MemoryPressure.NONE), inMemory, os), "rank " + rank);
            assertEquals((16 << 10) + 2, os.largestRead.get(), "a direct block and a byte each side, at most");
        }
    }

    /** The real calls, with the largest range a populate call asked for kept. */
    private static final class LargestPopulate extends DelegatingNativeAccess {
        private final AtomicLong largest;

        LargestPopulate(NativeAccess real, AtomicLong largest) {
            super(real);
            this.largest = largest;
        }

        @Override
        public boolean populate(MemorySegment range) throws IOException {
            largest.accumulateAndGet(range.byteSize(), Math::max);
            return real.populate(range);
        }
    }

    /**
     * Host memory mapped for the rank's bytes takes its pages only as they land, so the headroom shows it as free
     * when the reads are laid out: room for the bytes read, but not beside the destination, is pressure.
     */
    @Test
    void theHostSinksMemoryToFillCountsAgainstTheHeadroom() throws IOException {
        Checkpoint ckpt = write(16, 4, 256 * 1024); // 16 tensors of 1 MiB, read in one 32 MiB window when roomy
        Map<String, String> reference = new TreeMap<>(Digests.ofFiles(ckpt));
        AtomicLong largest = new AtomicLong();
        NativeAccess os = new LargestPopulate(NativeAccess.get(), largest);
        LoadPlan plan = Planners.with(os).plan(ckpt, new LoadOptions(LoadStrategy.PREFETCH, ReadOrder.SHUFFLED, 3, 7,
                Thresholds.DEFAULTS));
        MemoryPressure roomForTheBytesOnly = new MemoryPressure(() -> plan.bytes() * 3 / 2, System::nanoTime, 0);

        assertEquals(reference, load(new Engine(os, roomForTheBytesOnly), plan, os));
        assertEquals(MIB, largest.get(), "each window one tensor's bytes");
    }

    @ParameterizedTest
    @EnumSource(value = LoadStrategy.class, names = {"MMAP", "PREFETCH"})
    void withNoHeadroomConsumedPagesLeaveThePageCache(LoadStrategy strategy) throws IOException {
        assumeTrue(LINUX);
        NativeAccess os = NativeAccess.get();
        Checkpoint ckpt = write(16, 4, 256 * 1024); // 16 tensors of 1 MiB
        Path file = ckpt.files().getFirst().file();
        Map<String, String> reference = new TreeMap<>(Digests.ofFiles(ckpt));
        LoadPlan plan = Planners.with(os).plan(ckpt, new LoadOptions(strategy, ReadOrder.SHUFFLED, 3, 7,
                Thresholds.DEFAULTS));

        assumeTrue(dropCache(file, os), "pages could not be dropped here");
        assertEquals(reference, load(new Engine(os, MemoryPressure.NONE), plan, os));
        double roomy = residentFraction(file, os, 0, Files.size(file));
        assumeTrue(roomy > 0.9, "pages were not cached by this load: " + roomy);

        assumeTrue(dropCache(file, os), "pages could not be dropped here");
        assertEquals(reference, load(new Engine(os, NO_HEADROOM), plan, os));
        double tight = residentFraction(file, os, 0, Files.size(file));
        assertTrue(tight < 0.05, "still cached after a load with no headroom: " + tight);
    }

    /** The real calls, with the most populate calls running at once kept; the first waits a while for another. */
    private static final class ConcurrentPopulate extends DelegatingNativeAccess {
        final AtomicInteger running = new AtomicInteger();
        final AtomicInteger most = new AtomicInteger();
        final CountDownLatch second = new CountDownLatch(1);
        final AtomicBoolean waited = new AtomicBoolean();

        ConcurrentPopulate(NativeAccess real) {
            super(real);
        }

        @Override
        public boolean populate(MemorySegment range) throws IOException {
            int now = running.incrementAndGet();
            most.accumulateAndGet(now, Math::max);
            try {
                if (now > 1) {
                    second.countDown();
                } else if (!waited.getAndSet(true)) {
                    second.await(500, TimeUnit.MILLISECONDS); // long enough for another thread's window to start
                }
                return real.populate(range);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IOException(e);
            } finally {
                running.decrementAndGet();
            }
        }
    }

    /**
     * With no headroom, one window is populated at a time, however many threads read: every thread's window has a
     * floor, and 64 of them in flight did not fit a cgroup's room, so pages populated for a copy were evicted first.
     */
    @ParameterizedTest
    @EnumSource(value = LoadStrategy.class, names = {"MMAP", "PREFETCH"})
    void withNoHeadroomOneWindowIsInFlight(LoadStrategy strategy) throws IOException {
        Checkpoint ckpt = write(16, 4, 256 * 1024); // 16 tensors of 1 MiB
        Map<String, String> reference = new TreeMap<>(Digests.ofFiles(ckpt));
        LoadOptions options = new LoadOptions(strategy, ReadOrder.FILE, 8, 7, Thresholds.DEFAULTS);
        ConcurrentPopulate os = new ConcurrentPopulate(NativeAccess.get());
        LoadPlan plan = Planners.with(os).plan(ckpt, options);
        assertEquals(reference, load(new Engine(os, NO_HEADROOM), plan, os));
        assertEquals(1, os.most.get(), "populate calls at once");
    }
}
