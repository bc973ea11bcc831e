package io.stload.load;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.stload.checkpoint.Checkpoint;
import io.stload.format.DType;
import io.stload.format.SafetensorsWriter.TensorData;
import io.stload.format.SafetensorsWriter;
import io.stload.format.Tensor;
import io.stload.nativeio.NativeAccess;
import io.stload.nativeio.NativeFile;
import io.stload.nativeio.ProcessIo;
import io.stload.plan.ByteRange;
import io.stload.plan.FilePlan;
import io.stload.plan.LoadOptions;
import io.stload.plan.LoadPlan;
import io.stload.plan.LoadStrategy;
import io.stload.plan.PartitionSpec;
import io.stload.plan.Partitioning;
import io.stload.plan.Planner;
import io.stload.plan.ReadOrder;
import io.stload.plan.Thresholds;
import io.stload.report.LoadListener;
import io.stload.report.LoadReport;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.api.parallel.Isolated;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Every rank of every world size, with every strategy, gaps read through or skipped: the ranks' slices put back
 * together are the checkpoint.
 */
@Isolated("it compares a load's reads with the whole process's count of bytes read from storage")
class TensorParallelLoadTest {
    static final Thresholds SMALL_WINDOWS = smallWindows(Thresholds.DEFAULTS.maxGapBytes());
    private static final long PAGE = 4096;

    /** One rule of each kind, glob and regex, and a tensor no rule matches. */
    static final String RULES = """
            {"rules": [
              {"pattern": "*.rows", "split": 0},
              {"pattern": "*.cols", "split": 1},
              {"regex": "t\\\\.inner\\\\d", "split": 2},
              {"pattern": "*.even", "split": 0, "divisible": true},
              {"pattern": "*.wide", "split": 1},
              {"pattern": "*.norm", "replicate": true}
            ]}""";

    @TempDir
    static Path dir;
    static Checkpoint checkpoint;
    static final Map<String, TensorData> original = new LinkedHashMap<>();

    @BeforeAll
    static void writeCheckpoint() throws IOException {
        SplittableRandom random = new SplittableRandom(7);
        List<TensorData> a = List.of(
                TestCheckpoints.tensor(random, "t.rows", DType.BF16, 37, 129),        // uneven for W = 2, 3, 4, 8
                TestCheckpoints.tensor(random, "t.cols", DType.F32, 300, 61),         // inner split: strided runs, coalesced
                TestCheckpoints.tensor(random, "t.inner1", DType.U8, 3, 5, 17),       // split on dim 2 of 3
                TestCheckpoints.tensor(random, "t.even", DType.I16, 24, 33),          // divisible by 1, 2, 3, 4, 8
                TestCheckpoints.tensor(random, "t.norm", DType.F32, 129),
                TestCheckpoints.tensor(random, "t.unmatched", DType.F64, 7, 3));
        List<TensorData> b = List.of(
                TestCheckpoints.tensor(random, "u.rows", DType.F4, 16, 2),            // sub-byte, every cut on a byte
                TestCheckpoints.tensor(random, "u.empty.rows", DType.F32, 0, 8),
                TestCheckpoints.tensor(random, "u.few.rows", DType.I64, 3, 100),      // fewer rows than ranks: empty slices
                TestCheckpoints.tensor(random, "u.scalar", DType.F64),
                TestCheckpoints.tensor(random, "u.wide", DType.BF16, 3, 200_000));    // rows 400 kB apart: separate reads
        SafetensorsWriter.write(dir.resolve("a.safetensors"), Map.of(), a);
        SafetensorsWriter.write(dir.resolve("b.safetensors"), Map.of(), b);
        Stream.concat(a.stream(), b.stream()).forEach(t -> original.put(t.name(), t));
        checkpoint = Checkpoint.open(dir);
    }

    /** Every gap read separately (0), or the default coalescing. */
    static Stream<Arguments> worldSizesStrategiesAndGaps() {
        Stream.Builder<Arguments> out = Stream.builder();
        for (int w : new int[] {1, 2, 3, 4, 8}) {
            for (LoadStrategy s : List.of(LoadStrategy.MMAP, LoadStrategy.PREFETCH, LoadStrategy.DIRECT)) {
                for (long maxGap : new long[] {0, Thresholds.DEFAULTS.maxGapBytes()}) {
                    out.add(Arguments.of(w, s, maxGap));
                }
            }
        }
        return out.build();
    }

    /** Windows far smaller than the tensors, so every scheduling path is exercised. */
    private static Thresholds smallWindows(long maxGap) {
        return new Thresholds(0.8, 64L << 20, 1.25, LoadStrategy.DIRECT, 64 << 10, 192 << 10, 64 << 10, maxGap);
    }

    @ParameterizedTest(name = "W={0} {1} max gap {2}")
    @MethodSource("worldSizesStrategiesAndGaps")
    void ranksTogetherHoldTheCheckpointAndReadOnlyTheirBytes(int worldSize, LoadStrategy strategy, long maxGap) {
        PartitionSpec spec = PartitionSpec.parse("test", RULES);
        List<Map<String, byte[]>> ranks = new ArrayList<>();
        List<Map<String, long[]>> shapes = new ArrayList<>();
        long sumOfRanks = 0;
        for (int r = 0; r < worldSize; r++) {
            LoadOptions options = new LoadOptions(strategy, ReadOrder.SHUFFLED, 3, r, smallWindows(maxGap),
                    new Partitioning(r, worldSize, spec));
            LoadPlan plan = new Planner().plan(checkpoint, options);
            assertEquals(ranksBytes(worldSize, spec), plan.bytesPerRank());
            try (LoadedWeights w = new Loader().execute(plan, LoadListener.NONE)) {
                Map<String, byte[]> bytes = new LinkedHashMap<>();
                Map<String, long[]> shape = new LinkedHashMap<>();
                for (Tensor t : w.tensors().values()) {
                    bytes.put(t.name(), t.data().toArray(ValueLayout.JAVA_BYTE));
                    shape.put(t.name(), t.shape().toArray());
                }
                ranks.add(bytes);
                shapes.add(shape);
                assertEquals(plan.bytes(), w.report().bytes());
                assertEquals(plan.bytesPerRank().get(r), plan.bytes());
                assertReadOnlyItsBytes(plan, strategy, w.report().bytesRead());
            }
            sumOfRanks += plan.bytes();
        }
        long replicated = 0;
        for (TensorData t : original.values()) {
            Integer dim = splitDim(t.name());
            if (dim == null || worldSize == 1) {
                replicated += t.data().length;
                for (int r = 0; r < worldSize; r++) {
                    assertArrayEquals(t.data(), ranks.get(r).get(t.name()), t.name() + " on rank " + r);
                }
            } else {
                assertArrayEquals(t.data(), concatenate(t, dim, ranks, shapes), t.name() + " put back together");
                assertUnevenSplitFavoursFirstRanks(t, dim, shapes);
            }
        }
        long total = checkpoint.totalBytes();
        assertEquals(total + (worldSize - 1) * replicated, sumOfRanks);
    }

    /** Every rank's plan states every rank's bytes, and they agree. */
    private static List<Long> ranksBytes(int worldSize, PartitionSpec spec) {
        List<Long> out = new ArrayList<>();
        for (int r = 0; r < worldSize; r++) {
            out.add(new Planner().plan(checkpoint, LoadOptions.DEFAULTS.withPartitioning(new Partitioning(r, worldSize, spec)))
                    .bytes());
        }
        return out;
    }

    /**
     * The kernel's count agrees with the loader's: O_DIRECT reads skip the page cache and read no ahead, so what
     * reaches storage for a rank is its whole blocks: about a quarter of the checkpoint, never the other ranks'.
     */
    @Test
    void aDirectRanksKernelReadBytesAreItsOwnBlocks() throws IOException {
        assumeTrue(ProcessIo.readBytes() >= 0, "no /proc/self/io here");
        Path b = dir.resolve("b.safetensors");
        try (NativeFile probe = NativeAccess.get().open(b, true)) {
            assumeTrue(probe.isDirect(), "O_DIRECT refused here: reads would come from the page cache");
        }
        LoadOptions options = new LoadOptions(LoadStrategy.DIRECT, ReadOrder.FILE, 3, 0, SMALL_WINDOWS,
                new Partitioning(0, 4, PartitionSpec.parse("test", RULES)));
        LoadPlan plan = new Planner().plan(checkpoint, options);
        try (LoadedWeights w = new Loader().execute(plan, LoadListener.NONE)) {
            LoadReport r = w.report();
            // Anything else this JVM reads meanwhile (a class file, say) is the only slack.
            assertTrue(r.kernelBytesRead() >= r.bytesRead() && r.kernelBytesRead() <= r.bytesRead() + (256 << 10),
                    "kernel read " + r.kernelBytesRead() + ", loader " + r.bytesRead());
            long total = Files.size(dir.resolve("a.safetensors")) + Files.size(b);
            assertTrue(r.kernelBytesRead() < total / 2, r.kernelBytesRead() + " of " + total);
        }
    }

    static void assertReadOnlyItsBytes(LoadPlan plan, LoadStrategy strategy, long bytesRead) {
        assertTrue(plan.readBytes() >= plan.bytes());
        switch (strategy) {
            // Through the mapping, the slices' bytes only; a file in memory, its ranges by buffered reads (a page
            // cache another process dropped meanwhile may send it either way).
            case MMAP -> assertTrue(bytesRead == plan.bytes() || bytesRead == plan.readBytes(),
                    "mmap read " + bytesRead + " for slices of " + plan.bytes() + " in ranges of " + plan.readBytes());
            case PREFETCH -> assertEquals(plan.readBytes(), bytesRead);
            default -> {
                long covering = 0;
                for (FilePlan f : plan.files()) {
                    for (ByteRange r : f.reads()) {
                        covering += (r.to() + PAGE - 1) / PAGE * PAGE - r.from() / PAGE * PAGE;
                    }
                }
                assertTrue(bytesRead >= plan.readBytes() && bytesRead <= covering,
                        "direct read " + bytesRead + " for a plan of " + plan.readBytes() + " (blocks " + covering + ")");
            }
        }
    }

    private static Integer splitDim(String name) {
        if (name.endsWith(".rows") || name.endsWith(".even")) {
            return 0;
        }
        if (name.endsWith(".cols") || name.endsWith(".wide")) {
            return 1;
        }
        return name.matches("t\\.inner\\d") ? 2 : null;
    }

    /** The original from its slices: for each index of the outer dimensions, each rank's block in turn. */
    static byte[] concatenate(TensorData t, int dim, List<Map<String, byte[]>> ranks, List<Map<String, long[]>> shapes) {
        long outer = 1;
        for (int d = 0; d < dim; d++) {
            outer *= t.shape()[d];
        }
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        for (long o = 0; o < outer; o++) {
            for (int r = 0; r < ranks.size(); r++) {
                byte[] slice = ranks.get(r).get(t.name());
                int run = outer == 0 ? 0 : (int) (slice.length / outer);
                out.write(slice, (int) (o * run), run);
            }
        }
        return out.toByteArray();
    }

    private static void assertUnevenSplitFavoursFirstRanks(TensorData t, int dim, List<Map<String, long[]>> shapes) {
        long n = t.shape()[dim];
        int w = shapes.size();
        for (int r = 0; r < w; r++) {
            long[] expected = t.shape().clone();
            expected[dim] = n / w + (r < n % w ? 1 : 0);
            assertArrayEquals(expected, shapes.get(r).get(t.name()), t.name() + " on rank " + r + " of " + w);
        }
    }
}
