package io.stload.cuda;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.stload.ErrorKind;
import io.stload.StloadException;
import io.stload.checkpoint.Checkpoint;
import io.stload.format.DType;
import io.stload.format.SafetensorsWriter;
import io.stload.format.SafetensorsWriter.TensorData;
import io.stload.format.Tensor;
import io.stload.sink.SliceScatter;
import io.stload.load.Digests;
import io.stload.report.LoadListener;
import io.stload.load.LoadedWeights;
import io.stload.load.Loader;
import io.stload.plan.ByteRange;
import io.stload.plan.FileFacts;
import io.stload.plan.FilePlan;
import io.stload.plan.LoadOptions;
import io.stload.plan.LoadPlan;
import io.stload.plan.LoadStrategy;
import io.stload.plan.PartitionSpec;
import io.stload.plan.Partitioning;
import io.stload.plan.Planner;
import io.stload.plan.RankSlices;
import io.stload.plan.ReadOrder;
import io.stload.plan.ReadRanges;
import io.stload.plan.TensorSlice;
import io.stload.plan.Thresholds;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.TreeMap;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Tensor-parallel device loads on the CPU copy engine: every rank's slices on the device equal the host loader's
 * for the same plan, with windows far smaller than the runs, and a rank reads only its plan's bytes.
 */
class TensorParallelDeviceLoadTest {
    /** Windows smaller than many runs: runs straddle windows, and one run may cover a window on both sides. */
    private static final RingOptions TINY_RING = new RingOptions(3, 4 << 10, Pinning.HOST_ALLOC);
    /** Windows holding many runs: whole runs leave as one strided copy. */
    private static final RingOptions ROOMY_RING = new RingOptions(4, 256 << 10, Pinning.HOST_ALLOC);
    /** Small prefetch steps, so populating walks the plan's ranges in many steps. */
    private static final Thresholds SMALL_STEPS = new Thresholds(0.8, 64L << 20, 1.25, LoadStrategy.DIRECT,
            16 << 10, 48 << 10, 64 << 10, Thresholds.DEFAULTS.maxGapBytes());

    static final String RULES = """
            {"rules": [
              {"pattern": "*.rows", "split": 0},
              {"pattern": "*.cols", "split": 1},
              {"pattern": "*.experts", "split": 1},
              {"pattern": "*", "replicate": true}
            ]}""";

    @TempDir
    static Path dir;
    static Checkpoint checkpoint;

    @BeforeAll
    static void writeCheckpoint() throws IOException {
        SplittableRandom random = new SplittableRandom(11);
        SafetensorsWriter.write(dir.resolve("a.safetensors"), Map.of(), List.of(
                tensor(random, "a.rows", DType.BF16, 37, 129),            // uneven dim-0 split
                tensor(random, "a.cols", DType.F32, 300, 61),             // short strided runs, read through
                tensor(random, "a.experts", DType.BF16, 4, 30, 20),       // 3-D, split on dim 1
                tensor(random, "a.big.experts", DType.BF16, 3, 64, 96),   // 3-D, runs longer than a tiny window
                tensor(random, "a.norm", DType.F32, 129),                 // replicated by the catch-all rule
                tensor(random, "a.few.rows", DType.I64, 3, 100),          // fewer rows than ranks: empty slices
                tensor(random, "a.empty.rows", DType.F32, 0, 8),
                tensor(random, "a.scalar", DType.F64)));
        SafetensorsWriter.write(dir.resolve("b.safetensors"), Map.of(), List.of(
                tensor(random, "b.wide.cols", DType.BF16, 3, 200_000),    // rows 400 kB apart: separate reads
                tensor(random, "b.rows", DType.BF16, 100, 50)));
        checkpoint = Checkpoint.open(dir);
    }

    private static TensorData tensor(SplittableRandom random, String name, DType dtype, long... shape) {
        long bits = dtype.bits();
        for (long d : shape) {
            bits *= d;
        }
        byte[] data = new byte[(int) (bits / 8)];
        random.nextBytes(data);
        return new TensorData(name, dtype, shape, data);
    }

    private static LoadPlan plan(LoadStrategy strategy, int rank, int worldSize) {
        return new Planner().plan(checkpoint, new LoadOptions(strategy, ReadOrder.FILE, 3, 0, SMALL_STEPS,
                new Partitioning(rank, worldSize, PartitionSpec.parse("test", RULES))));
    }

    /** The CRC-32 of every rank-local slice as the host loader materializes it. */
    private static Map<String, String> hostDigests(LoadPlan plan) {
        Map<String, String> out = new HashMap<>();
        try (LoadedWeights w = new Loader().execute(plan, LoadListener.NONE)) {
            for (Tensor t : w.tensors().values()) {
                out.put(t.name(), Digests.crc32(t.data()));
            }
        }
        return out;
    }

    static Stream<Arguments> worldSizesStrategiesAndRings() {
        Stream.Builder<Arguments> out = Stream.builder();
        for (int w = 1; w <= 4; w++) {
            for (LoadStrategy s : List.of(LoadStrategy.MMAP, LoadStrategy.PREFETCH, LoadStrategy.DIRECT)) {
                out.add(Arguments.of(w, s, "tiny"));
                out.add(Arguments.of(w, s, "roomy"));
            }
        }
        return out.build();
    }

    @ParameterizedTest(name = "W={0} {1} {2} windows")
    @MethodSource("worldSizesStrategiesAndRings")
    void everyRanksDeviceSlicesEqualTheHostLoadersAndReadOnlyThePlansBytes(int worldSize, LoadStrategy strategy,
                                                                          String windows) throws Exception {
        RingOptions ring = windows.equals("tiny") ? TINY_RING : ROOMY_RING;
        for (int rank = 0; rank < worldSize; rank++) {
            LoadPlan plan = plan(strategy, rank, worldSize);
            String who = "rank " + rank + " of " + worldSize;
            try (FakeCopyEngine engine = new FakeCopyEngine(16 << 20)) {
                try (DeviceLoader loader = new DeviceLoader(engine, ring); DeviceWeights w = loader.execute(plan)) {
                    assertEquals(hostDigests(plan), TestCheckpoint.deviceDigests(w), who);
                    for (TensorSlice s : plan.slices().values()) {
                        DeviceTensor t = w.tensor(s.name());
                        assertArrayEquals(s.local().shape().toArray(), t.shape().toArray(), s.name());
                        assertEquals(s.byteSize(), t.byteSize(), s.name());
                    }
                    assertEquals(plan.bytes(), w.report().load().bytes(), who);
                    assertEquals(plan.bytes(), engine.bytesToDevice(), who + ": every slice byte copied once");
                    assertEquals(new DeviceLayout(plan.slices().values()).bytes(), w.deviceBytes(), who);
                    assertReadOnlyItsBytes(plan, strategy, w.report().load().bytesRead());
                    if (worldSize > 1) {
                        assertTrue(engine.stridedCopies() > 0, who + ": inner-dimension slices left in 2D copies");
                    }
                }
                assertNull(engine.overwrittenSource());
                assertEquals(0, engine.liveStagingBuffers());
                assertEquals(0, engine.liveDeviceAllocations());
            }
        }
    }

    /**
     * The load's count of bytes read: mmap copies each slice's own ranges into the staging windows, prefetch
     * populates the plan's ranges, direct widens each range to whole 4 KiB blocks.
     */
    private static void assertReadOnlyItsBytes(LoadPlan plan, LoadStrategy strategy, long bytesRead) {
        if (strategy == LoadStrategy.MMAP) {
            assertTrue(bytesRead >= plan.bytes() && bytesRead <= plan.readBytes(), bytesRead + " for " + plan.readBytes());
            return;
        }
        if (strategy != LoadStrategy.DIRECT) {
            assertEquals(plan.readBytes(), bytesRead);
            return;
        }
        long blocks = 0;
        for (FilePlan f : plan.files()) {
            for (ByteRange r : f.reads()) {
                long a = 4096;
                blocks += (r.to() + a - 1) / a * a - r.from() / a * a;
            }
        }
        assertTrue(bytesRead >= plan.readBytes() && bytesRead <= blocks,
                "direct read " + bytesRead + " for a plan of " + plan.readBytes() + " (blocks " + blocks + ")");
    }

    @Test
    void piecesTileEverySliceExactlyOnceWhateverTheWindowSize() {
        for (int rank = 0; rank < 3; rank++) {
            LoadPlan plan = plan(LoadStrategy.MMAP, rank, 3);
            DeviceLayout layout = new DeviceLayout(plan.slices().values());
            for (long window : new long[] {4 << 10, 12 << 10, 64 << 10, 1 << 20}) {
                // Device offset of each row copied -> its length, over all windows of all files.
                TreeMap<Long, Long> rows = new TreeMap<>();
                for (FilePlan f : plan.files()) {
                    SliceScatter scatter = new SliceScatter(plan.slices().values().stream()
                            .filter(s -> s.tensor().file() == f.file()).toList());
                    for (ByteRange r : f.reads()) {
                        for (long start = r.from(); start < r.to(); start += window) {
                            long length = Math.min(window, r.to() - start);
                            for (SliceScatter.Piece p : scatter.pieces(start, start + length)) {
                                assertTrue(p.blockOffset() >= 0 && p.blockOffset() + p.span() <= length);
                                long at = layout.offset(p.slice()) + p.sliceOffset();
                                for (long row = 0; row < p.rows(); row++) {
                                    assertNull(rows.put(at + row * p.width(), p.width()));
                                }
                            }
                        }
                    }
                }
                for (TensorSlice s : plan.slices().values()) {
                    long at = layout.offset(s);
                    long end = at + s.byteSize();
                    while (at < end) {
                        Long length = rows.get(at);
                        assertTrue(length != null && length > 0, s.name() + " has a hole at " + at + ", window " + window);
                        at += length;
                    }
                    assertEquals(end, at, s.name());
                }
            }
        }
    }

    @Test
    void theFreeMemoryCheckAsksForTheRanksSlicesOnly() {
        LoadPlan plan = plan(LoadStrategy.MMAP, 1, 4);
        long needed = new DeviceLayout(plan.slices().values()).bytes();
        assertTrue(needed < checkpoint.totalBytes() / 2, needed + " of " + checkpoint.totalBytes());
        try (FakeCopyEngine engine = new FakeCopyEngine(needed)) {
            try (DeviceLoader loader = new DeviceLoader(engine, TINY_RING)) {
                loader.execute(plan).close();
            }
        }
        try (FakeCopyEngine engine = new FakeCopyEngine(needed - 1)) {
            DeviceLoader loader = new DeviceLoader(engine, TINY_RING);
            StloadException e = assertThrows(StloadException.class, () -> loader.execute(plan));
            loader.close();
            assertEquals(ErrorKind.OutOfMemory, e.kind());
            assertTrue(e.getMessage().contains("rank 1 of 4 needs "), e.getMessage());
            assertEquals(0, engine.stagingAllocations());
            assertEquals(0, engine.liveDeviceAllocations());
        }
    }

    @Test
    void aTensorThePlanLeavesOutIsNeitherReadNorOnTheDevice() throws Exception {
        LoadPlan full = plan(LoadStrategy.MMAP, 0, 2);
        Set<String> left = Set.of("a.experts", "b.wide.cols");
        LoadPlan plan = without(full, left);
        try (FakeCopyEngine engine = new FakeCopyEngine(16 << 20);
             DeviceLoader loader = new DeviceLoader(engine, TINY_RING);
             DeviceWeights w = loader.execute(plan)) {
            Map<String, String> expected = new HashMap<>(hostDigests(full));
            expected.keySet().removeAll(left);
            assertEquals(expected, TestCheckpoint.deviceDigests(w));
            assertEquals(plan.slices().size(), w.report().load().tensors());
            assertReadOnlyItsBytes(plan, LoadStrategy.MMAP, w.report().load().bytesRead());
            assertTrue(plan.readBytes() < full.readBytes() / 2, plan.readBytes() + " of " + full.readBytes());
        }
    }

    /** The plan a rank would get if {@code names} were assigned to other ranks: their slices and reads gone. */
    private static LoadPlan without(LoadPlan p, Set<String> names) {
        Map<String, TensorSlice> slices = new LinkedHashMap<>(p.slices());
        slices.keySet().removeAll(names);
        List<FilePlan> files = new ArrayList<>();
        for (FilePlan f : p.files()) {
            List<TensorSlice> inFile = slices.values().stream().filter(s -> s.tensor().file() == f.file()).toList();
            List<ByteRange> reads = ReadRanges.of(inFile, Thresholds.DEFAULTS.maxGapBytes());
            FileFacts facts = f.facts();
            files.add(new FilePlan(f.file(), new FileFacts(facts.file(), facts.fs(), ReadRanges.bytes(reads),
                    facts.resident(), facts.directSupported()), f.decision(), reads));
        }
        List<Long> bytesPerRank = new ArrayList<>(p.bytesPerRank());
        bytesPerRank.set(p.partitioning().rank(), RankSlices.bytes(slices));
        List<io.stload.checkpoint.TensorRef> order = p.order().stream().filter(t -> slices.containsKey(t.name())).toList();
        return new LoadPlan(p.checkpoint(), p.options(), p.host(), files, order, slices, bytesPerRank, p.planNanos());
    }
}
