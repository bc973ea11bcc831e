package io.stload.load;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.stload.ErrorKind;
import io.stload.StloadException;
import io.stload.checkpoint.Checkpoint;
import io.stload.checkpoint.TensorRef;
import io.stload.format.Tensor;
import io.stload.nativeio.NativeAccess;
import io.stload.plan.DecisionRule;
import io.stload.plan.LoadOptions;
import io.stload.plan.LoadPlan;
import io.stload.plan.LoadStrategy;
import io.stload.plan.Planner;
import io.stload.plan.Planners;
import io.stload.plan.ReadOrder;
import io.stload.plan.Thresholds;
import io.stload.report.LoadListener;
import io.stload.report.LoadReport;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

public class LoaderTest {
    /** Windows far smaller than the tensors, so every scheduling path (bound, demand, edges) is exercised. */
    public static final Thresholds SMALL_WINDOWS = new Thresholds(0.8, 64L << 20, 1.25, LoadStrategy.DIRECT,
            64 << 10, 192 << 10, 64 << 10, Thresholds.DEFAULTS.maxGapBytes());

    @TempDir
    static Path dir;
    static Checkpoint checkpoint;
    static Map<String, String> reference;

    @BeforeAll
    static void writeCheckpoint() throws IOException {
        checkpoint = Checkpoint.open(TestCheckpoints.sharded(dir, 3, 11));
        reference = Digests.ofFiles(checkpoint);
    }

    static Stream<Arguments> matrix() {
        Stream.Builder<Arguments> b = Stream.builder();
        for (LoadStrategy s : List.of(LoadStrategy.MMAP, LoadStrategy.PREFETCH, LoadStrategy.DIRECT)) {
            for (ReadOrder o : ReadOrder.values()) {
                for (int threads : new int[] {1, 3}) {
                    for (boolean fallback : new boolean[] {false, true}) {
                        b.add(Arguments.of(s, o, threads, fallback));
                    }
                }
            }
        }
        return b.build();
    }

    @ParameterizedTest(name = "{0} {1} threads={2} fallback={3}")
    @MethodSource("matrix")
    void everyStrategyMaterializesEveryTensorExactly(LoadStrategy strategy, ReadOrder order, int threads, boolean fallback) {
        NativeAccess os = fallback ? NativeAccess.fallback("test") : NativeAccess.get();
        LoadOptions options = new LoadOptions(strategy, order, threads, 5, SMALL_WINDOWS);
        LoadPlan plan = Planners.with(os).plan(checkpoint, options);
        List<String> seen = new java.util.concurrent.CopyOnWriteArrayList<>();
        try (LoadedWeights w = new Loader(os).execute(plan, (t, bytes) -> seen.add(t.name()))) {
            assertEquals(checkpoint.tensors().size(), w.tensors().size());
            for (Tensor t : w.tensors().values()) {
                assertEquals(reference.get(t.name()), Digests.crc32(t.data()), t.name());
            }
            assertEquals(checkpoint.tensors().size(), seen.size());
            LoadReport r = w.report();
            assertEquals(checkpoint.totalBytes(), r.bytes());
            r.files().forEach(f -> assertEquals(strategy, f.strategy()));
            // Every tensor's latency is recorded (at least 1 us each) and none exceeds the load's wall time.
            assertTrue(r.latency().p50() >= 1, r.latency().toString());
            assertTrue(r.latency().max() <= r.seconds() * 1e6 * 1.01 + 1, r.latency() + " in " + r.seconds() + " s");
            if (strategy == LoadStrategy.DIRECT) {
                long covering = checkpoint.files().stream()
                        .mapToLong(h -> align(h.fileSize(), 4096, true) - align(h.dataStart(), 4096, false)).sum();
                assertTrue(r.bytesRead() >= checkpoint.totalBytes() && r.bytesRead() <= covering,
                        "direct read " + r.bytesRead() + " bytes, covering blocks hold " + covering);
            }
        }
    }

    @Test
    void shuffledOrderIsAPermutationFixedBySeed() {
        Planner planner = new Planner();
        LoadOptions shuffled = LoadOptions.DEFAULTS.withOrder(ReadOrder.SHUFFLED);
        List<TensorRef> a = planner.plan(checkpoint, shuffled).order();
        List<TensorRef> b = planner.plan(checkpoint, shuffled).order();
        List<TensorRef> fileOrder = planner.plan(checkpoint, LoadOptions.DEFAULTS).order();
        assertEquals(a.stream().map(TensorRef::name).toList(), b.stream().map(TensorRef::name).toList());
        assertEquals(fileOrder.size(), a.size());
        assertTrue(!a.equals(fileOrder) && a.containsAll(fileOrder));
    }

    @Test
    void autoMapsASmallCheckpointAndSaysWhy() {
        LoadPlan plan = new Planner().plan(checkpoint, LoadOptions.DEFAULTS);
        plan.files().forEach(f -> {
            assertEquals(LoadStrategy.MMAP, f.strategy());
            // Just written, so it may be resident as well as small: either rule maps it.
            assertTrue(java.util.Set.of(DecisionRule.SMALL, DecisionRule.RESIDENT).contains(f.rule()), f.rule().name());
        });
        try (LoadedWeights w = new Loader().execute(plan, LoadListener.NONE)) {
            assertEquals(reference.get("s1.mid"), Digests.crc32(w.tensor("s1.mid").data()));
        }
    }

    @ParameterizedTest
    @MethodSource("strategies")
    void aFileTruncatedAfterPlanningFailsCleanlyNamingIt(LoadStrategy strategy, @TempDir Path scratch) throws IOException {
        Path copy = scratch.resolve("model.safetensors");
        Files.copy(checkpoint.files().get(0).file(), copy);
        LoadPlan plan = new Planner().plan(Checkpoint.open(copy), LoadOptions.DEFAULTS.withStrategy(strategy)
                .withThresholds(SMALL_WINDOWS));
        try (RandomAccessFile f = new RandomAccessFile(copy.toFile(), "rw")) {
            f.setLength(f.length() / 2);
        }
        StloadException e = assertThrows(StloadException.class, () -> new Loader().execute(plan, LoadListener.NONE).close());
        assertEquals(ErrorKind.Io, e.kind());
        assertTrue(e.getMessage().contains("model.safetensors"), e.getMessage());
        assertNotNull(Checkpoint.open(checkpoint.path())); // the originals are untouched
    }

    static Stream<LoadStrategy> strategies() {
        return Stream.of(LoadStrategy.MMAP, LoadStrategy.PREFETCH, LoadStrategy.DIRECT);
    }

    private static long align(long v, long a, boolean up) {
        return up ? (v + a - 1) / a * a : v / a * a;
    }

    /** A null handed to a front door is the caller's misuse, never an internal error or the caller's own failure. */
    @Test
    void nullArgumentsAreAUsageError() {
        LoadPlan plan = new Planner().plan(checkpoint, LoadOptions.DEFAULTS);
        for (Runnable bad : List.<Runnable>of(
                () -> Checkpoint.open((Path) null),
                () -> Loader.load((Checkpoint) null, LoadOptions.DEFAULTS),
                () -> Loader.load(checkpoint, null),
                () -> new Loader().execute(null, LoadListener.NONE),
                () -> new Loader().execute(plan, null),
                () -> Loader.stream(checkpoint, LoadOptions.DEFAULTS, null),
                () -> new Planner().plan(checkpoint, LoadOptions.DEFAULTS, null))) {
            assertEquals(ErrorKind.Usage, assertThrows(StloadException.class, bad::run).kind());
        }
    }
}
