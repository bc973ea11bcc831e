package io.stload.load;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.stload.ErrorKind;
import io.stload.StloadException;
import io.stload.checkpoint.Checkpoint;
import io.stload.plan.DecisionRule;
import io.stload.plan.FilePlan;
import io.stload.plan.HostFacts;
import io.stload.plan.LoadOptions;
import io.stload.plan.LoadPlan;
import io.stload.plan.LoadStrategy;
import io.stload.plan.Planner;
import io.stload.plan.ReadOrder;
import io.stload.plan.TensorSlice;
import io.stload.report.LoadListener;
import io.stload.report.LoadReport;
import io.stload.sink.StreamingSink;
import java.io.IOException;
import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * Streaming tells the truth about memory: every load's report says what the loader held (its destination's peak, the
 * direct reads' bounce buffers, the budget), and a resident limit makes AUTO read without mappings, sizes the default
 * budget under it, says so in the plan, and refuses what cannot keep within it.
 */
class StreamMemoryTest {
    @TempDir
    static Path dir;
    static Checkpoint checkpoint;
    static Map<String, String> reference;

    @BeforeAll
    static void open() throws IOException {
        checkpoint = Checkpoint.open(TestCheckpoints.sharded(dir, 2, 23));
        reference = Digests.ofFiles(checkpoint);
    }

    @AfterAll
    static void close() {
        checkpoint.close();
    }

    private static LoadOptions options(LoadStrategy strategy) {
        return new LoadOptions(strategy, ReadOrder.FILE, 3, 1, LoaderTest.SMALL_WINDOWS);
    }

    @ParameterizedTest
    @EnumSource(names = {"MMAP", "PREFETCH", "DIRECT"})
    void aStreamReportsThePeakItHeldWithinItsBudget(LoadStrategy strategy) {
        long budget = 1L << 20;
        Map<String, String> crcs = new ConcurrentHashMap<>();
        LoadReport r = Loader.stream(checkpoint, options(strategy), budget,
                (slice, bytes) -> crcs.put(slice.name(), Digests.crc32(bytes)));
        assertEquals(reference, crcs);
        LoadReport.Memory m = r.memory();
        assertEquals(budget, m.budgetBytes());
        long largest = new Planner().plan(checkpoint, options(strategy)).slices().values().stream()
                .mapToLong(TensorSlice::byteSize).max().orElseThrow();
        assertTrue(m.destinationPeakBytes() > 0, m.toString());
        // A slice larger than the budget is held whole while it is gathered: the budget, or that slice and a window.
        assertTrue(m.destinationPeakBytes() <= Math.max(budget, 2 * largest), m + ", largest slice " + largest);
        if (strategy == LoadStrategy.PREFETCH) {
            assertEquals(0, m.readBufferBytes(), "prefetch allocates no buffer of its own");
        } else {
            // Direct reads of unaligned slices, and mmap's buffered reads of a file in memory, go through bounce
            // buffers of a direct block (and an aligned block each side) per thread.
            assertTrue(strategy == LoadStrategy.MMAP || m.readBufferBytes() > 0, "direct's bounce buffers: " + m);
            assertTrue(m.readBufferBytes() <= 3 * (LoaderTest.SMALL_WINDOWS.directBlock() + 2 * 4096), m.toString());
        }
        assertEquals(m.destinationPeakBytes() + m.readBufferBytes(), m.peakHeldBytes());
    }

    @Test
    void aHostLoadReportsTheMemoryItsTensorsTake() {
        try (LoadedWeights w = Loader.load(checkpoint, options(LoadStrategy.MMAP))) {
            assertEquals(w.memoryBytes(), w.report().memory().destinationPeakBytes());
            assertEquals(0, w.report().memory().budgetBytes(), "host memory holds the rank's bytes, no budget");
        }
    }

    @Test
    void aResidentLimitReadsDirectlyAndSaysSoInThePlan() {
        long limit = 64L << 20;
        LoadOptions options = LoadOptions.DEFAULTS.withResidentLimit(limit);
        StreamingSink sink = new StreamingSink((s, b) -> { }, 0);
        LoadPlan plan = new Planner().plan(checkpoint, options, sink.profile());
        for (FilePlan f : plan.files()) {
            assertEquals(LoadStrategy.DIRECT, f.strategy());
            assertEquals(DecisionRule.RESIDENT_LIMIT, f.rule());
            assertTrue(f.decision().summary().contains("resident set bounded to 64.0 MiB"), f.decision().summary());
        }
        assertTrue(plan.host().headroomBytes() <= limit, plan.host().toString());
        assertTrue(plan.host().headroomSource().contains("capped by the resident limit of 64.0 MiB"),
                plan.host().headroomSource());
        Map<String, String> crcs = new ConcurrentHashMap<>();
        LoadReport r = Loader.stream(checkpoint, options, (slice, bytes) -> crcs.put(slice.name(), Digests.crc32(bytes)));
        assertEquals(reference, crcs);
        assertEquals(16L << 20, r.memory().budgetBytes(), "the default budget: a quarter of the limit");
        assertTrue(r.memory().peakHeldBytes() <= limit, r.memory().toString());
        assertEquals(LoadStrategy.DIRECT, r.files().getFirst().strategy());
    }

    @Test
    void whatCannotKeepWithinTheLimitIsRefusedBeforeAnythingIsRead() {
        LoadOptions tight = LoadOptions.DEFAULTS.withResidentLimit(1L << 20);
        StloadException host = assertThrows(StloadException.class, () -> Loader.load(checkpoint, tight));
        assertEquals(ErrorKind.Usage, host.kind());
        assertTrue(host.getMessage().contains("beyond the resident limit of 1.0 MiB"), host.getMessage());
        StloadException mapped = assertThrows(StloadException.class, () -> new Planner().plan(checkpoint,
                LoadOptions.DEFAULTS.withStrategy(LoadStrategy.MMAP).withResidentLimit(1L << 30)));
        assertEquals(ErrorKind.Usage, mapped.kind());
        assertTrue(mapped.getMessage().contains("strategy mmap maps the files"), mapped.getMessage());
        assertEquals(ErrorKind.Usage,
                assertThrows(StloadException.class, () -> LoadOptions.DEFAULTS.withResidentLimit(-1)).kind());
    }

    @Test
    void thePlanBasedStreamReportsTooAndTheListenerHearsEachTensor() {
        StreamingSink sink = new StreamingSink((s, b) -> { }, 2L << 20);
        LoadPlan plan = new Planner().plan(checkpoint, options(LoadStrategy.PREFETCH), sink.profile());
        java.util.concurrent.atomic.AtomicInteger heard = new java.util.concurrent.atomic.AtomicInteger();
        LoadReport r = new Loader().stream(plan, (s, b) -> { }, 2L << 20, (t, bytes) -> heard.incrementAndGet());
        assertEquals(plan.order().size(), heard.get());
        assertEquals(2L << 20, r.memory().budgetBytes());
        assertTrue(r.memory().destinationPeakBytes() > 0);
    }

    /**
     * Where a memory cgroup with no swap leaves less room than the rank's bytes, a load into host memory is refused
     * before a byte is allocated (the kernel would kill it part way); the same rank streams, and with room it loads.
     */
    @Test
    void aHostLoadNoCgroupCanHoldIsRefusedAndStreams() {
        LoadPlan measured = new Planner().plan(checkpoint, options(LoadStrategy.DIRECT));
        LoadPlan tight = withRoom(measured, measured.bytes() - 1);
        StloadException e = assertThrows(StloadException.class,
                () -> new Loader().execute(tight, LoadListener.NONE).close());
        assertEquals(ErrorKind.OutOfMemory, e.kind());
        assertTrue(e.getMessage().contains("memory cgroup") && e.getMessage().contains("stream"), e.getMessage());

        Map<String, String> crcs = new ConcurrentHashMap<>();
        new Loader().stream(tight, (slice, bytes) -> crcs.put(slice.name(), Digests.crc32(bytes)), 0,
                LoadListener.NONE);
        assertEquals(reference, crcs);
        try (LoadedWeights w = new Loader().execute(withRoom(measured, measured.bytes()), LoadListener.NONE)) {
            assertEquals(reference.size(), w.tensors().size());
        }
    }

    /**
     * A stream holds each slice whole, so one whose largest slice a cgroup cannot give is refused up front; where the
     * room holds it, the budget asked for is held within half the room.
     */
    @Test
    void aStreamKeepsWithinTheRoomACgroupLeaves() {
        StreamingSink sink = new StreamingSink((slice, bytes) -> { }, 1L << 30);
        LoadPlan measured = new Planner().plan(checkpoint, options(LoadStrategy.DIRECT), sink.profile());
        long largest = measured.slices().values().stream().mapToLong(TensorSlice::byteSize).max().orElseThrow();
        StloadException e = assertThrows(StloadException.class,
                () -> new Loader().execute(withRoom(measured, largest - 1), sink, LoadListener.NONE));
        assertEquals(ErrorKind.OutOfMemory, e.kind());
        assertTrue(e.getMessage().contains("largest slice"), e.getMessage());
        assertEquals(0, sink.heldBytes());

        Map<String, String> crcs = new ConcurrentHashMap<>();
        LoadReport r = new Loader().execute(withRoom(measured, 4 * largest),
                new StreamingSink((slice, bytes) -> crcs.put(slice.name(), Digests.crc32(bytes)), 1L << 30),
                LoadListener.NONE);
        assertEquals(reference, crcs);
        assertEquals(2 * largest, r.memory().budgetBytes(), "half the room, not the GiB asked for");
    }

    static LoadPlan withRoom(LoadPlan p, long anonymousRoomBytes) {
        HostFacts host = new HostFacts(p.host().headroomBytes(), p.host().headroomSource(), p.host().nativeAccess(),
                anonymousRoomBytes);
        return new LoadPlan(p.checkpoint(), p.options(), host, p.files(), p.order(), p.slices(), p.bytesPerRank(),
                p.planNanos());
    }
}
