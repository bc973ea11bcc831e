package io.stload.load;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.stload.checkpoint.Checkpoint;
import io.stload.format.DType;
import io.stload.format.SafetensorsWriter;
import io.stload.format.Tensor;
import io.stload.io.Engine;
import io.stload.nativeio.DelegatingNativeAccess;
import io.stload.nativeio.DelegatingNativeFile;
import io.stload.nativeio.NativeAccess;
import io.stload.nativeio.NativeFile;
import io.stload.plan.LoadOptions;
import io.stload.plan.LoadPlan;
import io.stload.plan.LoadStrategy;
import io.stload.plan.PartitionSpec;
import io.stload.plan.Partitioning;
import io.stload.plan.Planner;
import io.stload.plan.ReadOrder;
import io.stload.plan.TensorSlice;
import io.stload.report.LoadListener;
import io.stload.sink.StreamingSink;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/** The streaming destination: every tensor once, the same bytes as a host load, within its memory budget. */
class StreamingLoadTest {
    /** Much less than the checkpoint (about 7 MiB), a few times its largest tensor (about 700 KiB). */
    private static final long BUDGET = 2 << 20;

    @TempDir
    static Path dir;
    static Checkpoint checkpoint;
    static Map<String, String> reference;

    @BeforeAll
    static void writeCheckpoint() throws IOException {
        checkpoint = Checkpoint.open(TestCheckpoints.sharded(dir, 8, 23));
        reference = Digests.ofFiles(checkpoint);
    }

    static Stream<LoadStrategy> strategies() {
        return Stream.of(LoadStrategy.MMAP, LoadStrategy.PREFETCH, LoadStrategy.DIRECT);
    }

    private static LoadOptions options(LoadStrategy s) {
        return new LoadOptions(s, ReadOrder.FILE, 3, 1, LoaderTest.SMALL_WINDOWS);
    }

    @ParameterizedTest
    @MethodSource("strategies")
    void everyTensorArrivesOnceWithItsBytesWithinTheBudget(LoadStrategy strategy) {
        LoadPlan plan = new Planner().plan(checkpoint, options(strategy));
        long largest = plan.slices().values().stream().mapToLong(TensorSlice::byteSize).max().orElseThrow();
        assertTrue(checkpoint.totalBytes() > 3 * BUDGET && largest < BUDGET / 2);
        Map<String, String> seen = new ConcurrentHashMap<>();
        StreamingSink sink = new StreamingSink((s, bytes) -> {
            assertTrue(bytes.isReadOnly(), s.name());
            assertEquals(null, seen.put(s.name(), Digests.crc32(bytes)), s.name() + " arrived twice");
        }, BUDGET);
        new Engine(NativeAccess.get()).execute(plan, sink, LoadListener.NONE);
        assertEquals(reference, seen);
        assertTrue(sink.peakHeldBytes() <= BUDGET, sink.peakHeldBytes() + " bytes held");
        assertEquals(0, sink.heldBytes());
    }

    @Test
    void directReadsOfLargeSlicesLandInTheirBuffersSaveAPageAtEachEnd(@TempDir Path large) throws IOException {
        SplittableRandom random = new SplittableRandom(5);
        // Megabytes at odd offsets, of one size: reads land in place, and b may take a's buffer at another offset.
        SafetensorsWriter.write(large.resolve("model.safetensors"), Map.of(), List.of(
                TestCheckpoints.tensor(random, "head", DType.U8, 1001),
                TestCheckpoints.tensor(random, "a", DType.F32, 3 << 18),
                TestCheckpoints.tensor(random, "gap", DType.U8, 777),
                TestCheckpoints.tensor(random, "b", DType.F32, 3 << 18)));
        Checkpoint c = Checkpoint.open(large);
        List<MemorySegment> reads = new CopyOnWriteArrayList<>();
        NativeAccess recording = new DelegatingNativeAccess(NativeAccess.get()) {
            @Override
            public NativeFile open(Path path, boolean direct) throws IOException {
                return new DelegatingNativeFile(real.open(path, direct)) {
                    @Override
                    public long read(MemorySegment dst, long offset) throws IOException {
                        reads.add(dst);
                        return real.read(dst, offset);
                    }
                };
            }
        };
        Map<String, String> seen = new ConcurrentHashMap<>();
        List<MemorySegment> delivered = new CopyOnWriteArrayList<>();
        StreamingSink sink = new StreamingSink((s, bytes) -> {
            seen.put(s.name(), Digests.crc32(bytes));
            delivered.add(bytes);
        }, 8 << 20);
        new Engine(recording).execute(new Planner().plan(c, options(LoadStrategy.DIRECT)), sink, LoadListener.NONE);
        assertEquals(Digests.ofFiles(c), seen);
        assertEquals(0, sink.heldBytes());
        // With 64 KiB read blocks laid out from the file's start, each slice's first and last blocks would straddle
        // its ends and go through a bounce buffer; cut at its ends, only the partial page at each end does.
        long inPlace = reads.stream().filter(r -> delivered.stream().anyMatch(d -> r.address() >= d.address()
                && r.address() + r.byteSize() <= d.address() + d.byteSize())).mapToLong(MemorySegment::byteSize).sum();
        long largeBytes = 2L * (3 << 20);
        assertTrue(inPlace >= largeBytes - 4 * 4096, inPlace + " of " + largeBytes + " bytes read in place");
    }

    @Test
    void directReadsReuseTheBufferOfASliceOfTheSameSize() {
        LoadPlan plan = new Planner().plan(checkpoint, options(LoadStrategy.DIRECT));
        Set<Long> bigBuffers = ConcurrentHashMap.newKeySet();
        StreamingSink sink = new StreamingSink((s, bytes) -> {
            if (s.name().endsWith(".big")) {
                bigBuffers.add(bytes.address());
            }
        }, BUDGET);
        new Engine(NativeAccess.get()).execute(plan, sink, LoadListener.NONE);
        assertTrue(bigBuffers.size() < 8, "8 tensors of one size took " + bigBuffers.size() + " buffers");
        assertTrue(sink.peakHeldBytes() <= BUDGET, sink.peakHeldBytes() + " bytes held");
        assertEquals(0, sink.heldBytes(), "spare buffers are freed when the load ends");
    }

    @ParameterizedTest
    @MethodSource("strategies")
    void aTensorParallelRanksStreamedSlicesEqualItsHostLoad(LoadStrategy strategy) {
        PartitionSpec spec = PartitionSpec.parse("test", """
                {"rules": [{"pattern": "*.big", "split": 1}, {"pattern": "*.mid", "split": 0}]}""");
        for (int rank = 0; rank < 2; rank++) {
            LoadPlan plan = new Planner().plan(checkpoint, options(strategy).withPartitioning(new Partitioning(rank, 2, spec)));
            Map<String, String> host = new HashMap<>();
            try (LoadedWeights w = new Loader().execute(plan, LoadListener.NONE)) {
                for (Tensor t : w.tensors().values()) {
                    host.put(t.name(), Digests.crc32(t.data()));
                }
            }
            Map<String, String> streamed = new ConcurrentHashMap<>();
            new Loader().stream(plan, (s, bytes) -> streamed.put(s.name(), Digests.crc32(bytes)), BUDGET,
                    LoadListener.NONE);
            assertEquals(host, streamed, "rank " + rank);
        }
    }
}
