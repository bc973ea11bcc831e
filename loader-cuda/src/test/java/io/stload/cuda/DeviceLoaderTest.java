package io.stload.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.stload.ErrorKind;
import io.stload.StloadException;
import io.stload.checkpoint.Checkpoint;
import io.stload.load.Digests;
import io.stload.plan.ByteRange;
import io.stload.plan.FilePlan;
import io.stload.plan.LoadOptions;
import io.stload.plan.LoadPlan;
import io.stload.plan.LoadStrategy;
import io.stload.plan.PartitionSpec;
import io.stload.plan.Partitioning;
import io.stload.plan.Planner;
import io.stload.plan.ReadRanges;
import io.stload.plan.TensorSlice;
import io.stload.report.Phase;
import io.stload.sink.SliceScatter;
import java.io.RandomAccessFile;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/** Device loads on the CPU copy engine: bytes, layout, splitting, the free-memory check and failure cleanup. */
class DeviceLoaderTest {
    /** Smaller than most tensors of the test checkpoint, so they stream through in pieces. */
    private static final RingOptions SMALL_RING = new RingOptions(3, 16 << 10, Pinning.HOST_ALLOC);

    @TempDir
    static Path dir;
    static Checkpoint checkpoint;
    static Map<String, String> reference;

    @BeforeAll
    static void generate() throws Exception {
        checkpoint = TestCheckpoint.generate(dir, 3 << 20);
        reference = Digests.ofFiles(checkpoint);
    }

    private static LoadPlan plan(LoadStrategy strategy, int threads) {
        return new Planner().plan(checkpoint, LoadOptions.DEFAULTS.withStrategy(strategy).withThreads(threads));
    }

    @ParameterizedTest
    @EnumSource(value = LoadStrategy.class, names = {"MMAP", "PREFETCH", "DIRECT", "AUTO"})
    void deviceBytesEqualTheFileBytesForEveryStrategy(LoadStrategy strategy) throws Exception {
        try (FakeCopyEngine engine = new FakeCopyEngine(64 << 20)) {
            try (DeviceLoader loader = new DeviceLoader(engine, SMALL_RING);
                 DeviceWeights w = loader.execute(plan(strategy, 3))) {
                assertEquals(reference, TestCheckpoint.deviceDigests(w));
                DeviceReport r = w.report();
                assertEquals(checkpoint.tensors().size(), r.load().tensors());
                assertTrue(r.h2dSeconds() > 0 && r.readSeconds() > 0, r.toString());
                assertTrue(r.h2dSeconds() <= r.streamSeconds(), r.toString());
                assertTrue(r.load().phases().keySet().containsAll(List.of(Phase.IO, Phase.PIN, Phase.H2D)), r.load().phases().toString());
            }
            assertNull(engine.overwrittenSource());
            assertEquals(0, engine.liveStagingBuffers());
            assertEquals(0, engine.liveDeviceAllocations());
        }
    }

    @Test
    void tensorsLargerThanAWindowArriveInPiecesAtConsecutiveDeviceOffsets() {
        LoadPlan plan = plan(LoadStrategy.DIRECT, 1);
        long window = SMALL_RING.windowBytes();
        int split = 0;
        for (FilePlan f : plan.files()) {
            List<TensorSlice> tensors = plan.slices().values().stream()
                    .filter(t -> t.tensor().file() == f.file()).toList();
            SliceScatter scatter = new SliceScatter(tensors);
            List<SliceScatter.Piece> pieces = new ArrayList<>();
            for (ByteRange r : ReadRanges.aligned(f.reads(), 4096, Long.MAX_VALUE)) {
                for (long start = r.from(); start < r.to(); start += window) {
                    pieces.addAll(scatter.pieces(start, Math.min(r.to(), start + window)));
                }
            }
            for (TensorSlice t : tensors) {
                assertTrue(t.isWhole());
                List<SliceScatter.Piece> mine = pieces.stream().filter(p -> p.slice() == t).toList();
                long next = 0;
                for (SliceScatter.Piece p : mine) {
                    assertEquals(next, p.sliceOffset(), t.name());
                    next += p.bytes();
                }
                assertEquals(t.byteSize(), next, t.name());
                split += mine.size() > 1 ? 1 : 0;
            }
        }
        assertTrue(split > 0, "no tensor was larger than a window");
    }

    @Test
    void theRingIsSizedToThePlanPinnedOnceAndKeptAcrossLoads() throws Exception {
        RingOptions many = new RingOptions(64, 1 << 20, Pinning.HOST_ALLOC);
        LoadPlan small = new Planner().plan(checkpoint, LoadOptions.DEFAULTS.withStrategy(LoadStrategy.MMAP)
                .withPartitioning(new Partitioning(0, 1, PartitionSpec.REPLICATE_ALL)));
        long planWindows = 0;
        for (FilePlan f : small.files()) {
            for (ByteRange r : ReadRanges.aligned(f.reads(), 4096, Long.MAX_VALUE)) {
                planWindows += (r.length() + many.windowBytes() - 1) / many.windowBytes();
            }
        }
        try (FakeCopyEngine engine = new FakeCopyEngine(64 << 20)) {
            try (DeviceLoader loader = new DeviceLoader(engine, many)) {
                for (int i = 0; i < 3; i++) {
                    try (DeviceWeights w = loader.execute(small)) {
                        assertEquals(reference, TestCheckpoint.deviceDigests(w));
                        double pin = w.report().load().seconds(Phase.PIN);
                        assertTrue(i == 0 ? pin > 0 : pin == 0, "load " + i + " pinned for " + pin + " s");
                    }
                }
                assertTrue(planWindows < many.windows(), planWindows + " windows");
                assertEquals(planWindows, engine.stagingAllocations());
                assertTrue(engine.liveStagingBuffers() > 0, "the ring outlives a load");
            }
            assertEquals(0, engine.liveStagingBuffers());
            assertEquals(0, engine.liveDeviceAllocations());
        }
    }

    @Test
    void everyTensorStartsOnA256ByteBoundaryAndNoneOverlap() {
        Map<String, TensorSlice> slices = plan(LoadStrategy.MMAP, 1).slices();
        DeviceLayout layout = new DeviceLayout(slices.values());
        long end = 0;
        for (TensorSlice t : slices.values()) {
            long at = layout.offset(t);
            assertEquals(0, at % 256, t.name());
            assertTrue(at >= end, t.name());
            end = at + t.byteSize();
        }
        assertTrue(layout.bytes() >= end && layout.bytes() % 256 == 0);
    }

    @Test
    void aSliceOfAnotherLayoutOrACopyThatDoesNotSpanItsRowsIsAUsageError() {
        List<TensorSlice> slices = List.copyOf(plan(LoadStrategy.MMAP, 1).slices().values());
        DeviceLayout firstOnly = new DeviceLayout(slices.subList(0, 1));
        assertEquals(ErrorKind.Usage,
                assertThrows(StloadException.class, () -> firstOnly.offset(slices.get(1))).kind());
        MemorySegment rows = MemorySegment.ofArray(new byte[100]);
        assertEquals(ErrorKind.Usage, assertThrows(StloadException.class,
                () -> new CopyEngine.Copy(rows, 0, 10, 4, 32)).kind()); // 4 rows 32 apart span 106 bytes
        assertEquals(ErrorKind.Usage, assertThrows(StloadException.class,
                () -> new CopyEngine.Copy(rows, 0, 10, 0, 32)).kind());
        assertEquals(100, new CopyEngine.Copy(rows, 0, 4, 4, 32).source().byteSize()); // 3 x 32 + 4
    }

    @Test
    void aCheckpointLargerThanFreeDeviceMemoryFailsBeforeAnyCopy() {
        try (FakeCopyEngine engine = new FakeCopyEngine(1 << 20)) {
            StloadException e;
            try (DeviceLoader loader = new DeviceLoader(engine, SMALL_RING)) {
                e = assertThrows(StloadException.class, () -> loader.execute(plan(LoadStrategy.MMAP, 2)));
            }
            assertEquals(ErrorKind.OutOfMemory, e.kind());
            assertTrue(e.getMessage().contains("of device memory and fake has 1.0 MiB free"), e.getMessage());
            assertEquals(0, engine.stagingAllocations());
            assertEquals(0, engine.copiesSubmitted());
            assertEquals(0, engine.liveDeviceAllocations());
        }
    }

    @ParameterizedTest
    @EnumSource(value = LoadStrategy.class, names = {"MMAP", "DIRECT"})
    void aFailedCopyFailsTheLoadAndFreesEveryWindowAndTheDeviceMemory(LoadStrategy strategy) {
        try (FakeCopyEngine engine = new FakeCopyEngine(64 << 20).failCopy(5)) {
            DeviceLoader loader = new DeviceLoader(engine, SMALL_RING);
            StloadException e = assertThrows(StloadException.class, () -> loader.execute(plan(strategy, 3)));
            assertEquals(ErrorKind.Io, e.kind());
            assertEquals(0, engine.liveStagingBuffers(), "a failed load frees its ring at once");
            loader.close();
            assertTrue(e.getMessage().contains("fake copy 5 failed"), e.getMessage());
            assertEquals(SMALL_RING.windows(), engine.stagingAllocations());
            assertEquals(0, engine.liveStagingBuffers());
            assertEquals(0, engine.liveDeviceAllocations());
        }
    }

    @Test
    void aFreeThatFailsAfterAFailedLoadDoesNotHideWhyTheLoadFailed() {
        try (FakeCopyEngine engine = new FakeCopyEngine(64 << 20).failCopy(0).failFreeDevice()) {
            StloadException e = assertThrows(StloadException.class,
                    () -> new DeviceLoader(engine, SMALL_RING).execute(plan(LoadStrategy.MMAP, 2)));
            assertTrue(e.getMessage().contains("fake copy 0 failed"), e.getMessage());
            assertEquals(1, e.getSuppressed().length);
            assertTrue(e.getSuppressed()[0].getMessage().contains("freeing device memory"));
            assertEquals(0, engine.liveStagingBuffers());
        }
    }

    @Test
    void copyToHostRefusesAHeapSegment() throws Exception {
        try (FakeCopyEngine engine = new FakeCopyEngine(64 << 20);
             DeviceWeights w = new DeviceLoader(engine, SMALL_RING).execute(plan(LoadStrategy.MMAP, 1))) {
            DeviceTensor t = w.tensors().values().iterator().next();
            // A heap segment's address() is an offset into its array, which a device copy would write through.
            MemorySegment heap = MemorySegment.ofArray(new byte[(int) t.byteSize() + 16]).asSlice(16);
            assertThrows(StloadException.class, () -> w.copyToHost(t, heap));
        }
    }

    @ParameterizedTest
    @EnumSource(value = LoadStrategy.class, names = {"MMAP", "PREFETCH", "DIRECT"})
    void aShardTruncatedAfterPlanningFailsNamingItAndFreesEverything(LoadStrategy strategy, @TempDir Path scratch)
            throws Exception {
        Path copy = scratch.resolve("model.safetensors");
        Files.copy(checkpoint.files().get(0).file(), copy);
        LoadPlan plan = new Planner().plan(Checkpoint.open(copy), LoadOptions.DEFAULTS.withStrategy(strategy));
        try (RandomAccessFile f = new RandomAccessFile(copy.toFile(), "rw")) {
            f.setLength(f.length() / 2);
        }
        try (FakeCopyEngine engine = new FakeCopyEngine(64 << 20); DeviceLoader loader = new DeviceLoader(engine, SMALL_RING)) {
            StloadException e = assertThrows(StloadException.class, () -> loader.execute(plan));
            assertEquals(ErrorKind.Io, e.kind());
            assertEquals(copy, e.file(), e.getMessage());
            assertEquals(0, engine.liveStagingBuffers());
            assertEquals(0, engine.liveDeviceAllocations());
        }
    }
}
