package io.stload.load;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.stload.checkpoint.Checkpoint;
import io.stload.format.DType;
import io.stload.format.SafetensorsWriter.TensorData;
import io.stload.format.SafetensorsWriter;
import io.stload.format.Tensor;
import io.stload.io.Engine;
import io.stload.nativeio.DelegatingNativeAccess;
import io.stload.nativeio.DelegatingNativeFile;
import io.stload.nativeio.NativeAccess;
import io.stload.nativeio.NativeFile;
import io.stload.plan.ByteRange;
import io.stload.plan.LoadOptions;
import io.stload.plan.LoadPlan;
import io.stload.plan.LoadStrategy;
import io.stload.plan.PartitionSpec;
import io.stload.plan.Partitioning;
import io.stload.plan.Planner;
import io.stload.plan.Planners;
import io.stload.plan.ReadOrder;
import io.stload.plan.TensorSlice;
import io.stload.plan.Thresholds;
import io.stload.report.LoadListener;
import io.stload.sink.StreamingSink;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * A streamed load whose consumers ask in a shuffled order, with the default blocks and windows, each of which
 * spans every tensor of the file: a window read for one consumer must not have the sink hold the others' slices.
 * A tensor-parallel rank's slices are strided, so every strategy gathers them in memory the sink holds.
 */
class ShuffledStreamTest {
    private static final int TENSORS = 64;
    private static final int ROWS = 64;
    private static final int ROW_BYTES = 1024;
    /** Eight of the rank's 64 slices of 32 KiB. */
    private static final long BUDGET = 256 << 10;
    private static final int THREADS = 3;

    @TempDir
    static Path dir;
    static Checkpoint checkpoint;

    @BeforeAll
    static void writeCheckpoint() throws IOException {
        SplittableRandom random = new SplittableRandom(5);
        List<TensorData> tensors = new ArrayList<>();
        for (int i = 0; i < TENSORS; i++) {
            byte[] bytes = new byte[ROWS * ROW_BYTES];
            random.nextBytes(bytes);
            tensors.add(new TensorData("expert." + i, DType.U8, new long[] {ROWS, ROW_BYTES}, bytes));
        }
        SafetensorsWriter.write(dir.resolve("model.safetensors"), Map.of(), tensors);
        checkpoint = Checkpoint.open(dir.resolve("model.safetensors"));
    }

    /** The real calls, with the bytes each positional read returned added up. */
    private static final class CountingReads extends DelegatingNativeAccess {
        final AtomicLong read = new AtomicLong();

        CountingReads(NativeAccess real) {
            super(real);
        }

        @Override
        public NativeFile open(Path path, boolean direct) throws IOException {
            return new DelegatingNativeFile(real.open(path, direct)) {
                @Override
                public long read(MemorySegment dst, long offset) throws IOException {
                    long n = real.read(dst, offset);
                    CountingReads.this.read.addAndGet(n);
                    return n;
                }
            };
        }
    }

    @ParameterizedTest
    @EnumSource(value = LoadStrategy.class, names = {"MMAP", "PREFETCH", "DIRECT"})
    void theSinkHoldsItsBudgetAndTheSliceEachConsumerWaitsForAndEachByteIsReadAboutOnce(LoadStrategy strategy) {
        PartitionSpec columns = PartitionSpec.parse("test", "{\"rules\": [{\"pattern\": \"expert.*\", \"split\": 1}]}");
        CountingReads os = new CountingReads(NativeAccess.get());
        LoadPlan plan = Planners.with(os).plan(checkpoint, new LoadOptions(strategy, ReadOrder.SHUFFLED, THREADS, 9,
                Thresholds.DEFAULTS).withPartitioning(new Partitioning(1, 2, columns)));
        long largest = plan.slices().values().stream().mapToLong(TensorSlice::byteSize).max().orElseThrow();
        assertTrue(plan.bytes() >= 8 * BUDGET && largest == BUDGET / 8, "a rank of many slices, far beyond the budget");

        Map<String, String> host = new TreeMap<>();
        try (LoadedWeights w = new Loader().execute(plan, LoadListener.NONE)) {
            for (Tensor t : w.tensors().values()) {
                host.put(t.name(), Digests.crc32(t.data()));
            }
        }
        Map<String, String> streamed = new ConcurrentHashMap<>();
        StreamingSink sink = new StreamingSink((s, bytes) -> streamed.put(s.name(), Digests.crc32(bytes)), BUDGET);
        os.read.set(0);
        new Engine(os).execute(plan, sink, LoadListener.NONE);

        assertEquals(host, new TreeMap<>(streamed));
        long bound = BUDGET + (THREADS - 1) * largest;
        assertTrue(sink.peakHeldBytes() <= bound, sink.peakHeldBytes() + " bytes held, more than " + bound);
        if (strategy == LoadStrategy.DIRECT) {
            // Each slice's reads (its rows, with the gaps between them read through), widened to whole pages.
            long exact = plan.slices().values().stream()
                    .flatMap(s -> s.reads(plan.options().thresholds().maxGapBytes()).stream())
                    .mapToLong(ByteRange::length).sum();
            long widened = exact + 2L * os.pageSize() * plan.slices().size();
            assertTrue(os.read.get() >= exact && os.read.get() <= widened,
                    os.read.get() + " bytes read for slices of " + exact + " bytes");
        }
    }

    /**
     * More consumer threads than the budget has slices for: each waits its turn rather than holding a slice beside the
     * others (16 threads held 16 slices, whatever the budget; in a memory cgroup that thrashed the page cache).
     */
    @ParameterizedTest
    @EnumSource(value = LoadStrategy.class, names = {"MMAP", "PREFETCH", "DIRECT"})
    void consumersBeyondTheBudgetWaitTheirTurn(LoadStrategy strategy) {
        LoadPlan plan = new Planner().plan(checkpoint, new LoadOptions(strategy, ReadOrder.SHUFFLED, 16, 4,
                Thresholds.DEFAULTS));
        long slice = (long) ROWS * ROW_BYTES;
        Map<String, String> streamed = new ConcurrentHashMap<>();
        StreamingSink sink = new StreamingSink((s, bytes) -> streamed.put(s.name(), Digests.crc32(bytes)), 2 * slice);
        new Loader().execute(plan, sink, LoadListener.NONE);

        assertEquals(Digests.ofFiles(checkpoint), new TreeMap<>(streamed));
        assertTrue(sink.peakHeldBytes() <= 2 * slice, sink.peakHeldBytes() + " bytes held, budget " + 2 * slice);
    }

    /**
     * A rank's strided slices come through bounce buffers, one per I/O thread at most; where a cgroup leaves no room
     * beside the rank's bytes, one in all, the threads taking turns.
     */
    @Test
    void directReadsTakeTheBounceBuffersTheRoomAllows() {
        PartitionSpec columns = PartitionSpec.parse("test", "{\"rules\": [{\"pattern\": \"expert.*\", \"split\": 1}]}");
        LoadPlan plan = new Planner().plan(checkpoint, new LoadOptions(LoadStrategy.DIRECT, ReadOrder.FILE, 4, 9,
                LoaderTest.SMALL_WINDOWS).withPartitioning(new Partitioning(1, 2, columns)));
        Map<String, String> roomy = new TreeMap<>();
        long roomyBuffers;
        try (LoadedWeights w = new Loader().execute(plan, LoadListener.NONE)) {
            w.tensors().values().forEach(t -> roomy.put(t.name(), Digests.crc32(t.data())));
            roomyBuffers = w.report().memory().readBufferBytes();
        }
        try (LoadedWeights w = new Loader().execute(StreamMemoryTest.withRoom(plan, plan.bytes() + 1),
                LoadListener.NONE)) {
            Map<String, String> tight = new TreeMap<>();
            w.tensors().values().forEach(t -> tight.put(t.name(), Digests.crc32(t.data())));
            assertEquals(roomy, tight);
            long one = w.report().memory().readBufferBytes();
            assertTrue(one > 0 && one <= LoaderTest.SMALL_WINDOWS.directBlock() + 2 * 4096, "one buffer: " + one);
            assertTrue(roomyBuffers >= one, roomyBuffers + " bytes of buffers with room");
        }
    }
}
