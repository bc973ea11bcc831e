package io.stload.load;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.stload.ErrorKind;
import io.stload.StloadException;
import io.stload.checkpoint.Checkpoint;
import io.stload.format.DType;
import io.stload.format.SafetensorsWriter.TensorData;
import io.stload.format.SafetensorsWriter;
import io.stload.format.Tensor;
import io.stload.plan.LoadOptions;
import io.stload.plan.LoadStrategy;
import io.stload.plan.PartitionRule;
import io.stload.plan.PartitionSpec;
import io.stload.plan.Partitioning;
import io.stload.plan.Planner;
import io.stload.plan.ReadOrder;
import io.stload.plan.Thresholds;
import io.stload.report.LoadListener;
import java.io.IOException;
import java.lang.foreign.ValueLayout;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.regex.Pattern;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Random shapes (zero-sized ones included), dtypes (sub-byte ones included), split dimensions and world sizes:
 * either the split is refused because a cut would fall inside a byte, or the ranks' slices put back together
 * are the tensor.
 */
class TensorParallelPropertyTest {
    private static final Thresholds SMALL_WINDOWS = new Thresholds(0.8, 64L << 20, 1.25, LoadStrategy.DIRECT,
            4 << 10, 8 << 10, 4 << 10, Thresholds.DEFAULTS.maxGapBytes());

    @ParameterizedTest(name = "seed {0}")
    @ValueSource(longs = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20})
    void slicesReassembleOrTheSplitIsRefused(long seed, @TempDir Path dir) throws IOException {
        SplittableRandom random = new SplittableRandom(seed);
        DType dtype = DType.values()[random.nextInt(DType.values().length - 1)]; // UNKNOWN, last, has no width
        long[] shape = new long[1 + random.nextInt(3)];
        long bits;
        do {
            bits = dtype.bits();
            for (int d = 0; d < shape.length; d++) {
                shape[d] = random.nextInt(6) == 0 ? 0 : 1 + random.nextInt(9);
                bits *= shape[d];
            }
        } while (bits % 8 != 0);
        TensorData t = TestCheckpoints.tensor(random, "x", dtype, shape);
        SafetensorsWriter.write(dir.resolve("m.safetensors"), Map.of(), List.of(t));
        Checkpoint checkpoint = Checkpoint.open(dir.resolve("m.safetensors"));
        int worldSize = 1 + random.nextInt(8);
        int dim = random.nextInt(shape.length);
        LoadStrategy strategy = List.of(LoadStrategy.MMAP, LoadStrategy.PREFETCH, LoadStrategy.DIRECT).get(random.nextInt(3));
        PartitionSpec spec = new PartitionSpec("x", List.of(new PartitionRule("x", Pattern.compile("x"), dim, false)));

        if (cutsInsideAByte(shape, dtype, dim, worldSize)) {
            StloadException e = assertThrows(StloadException.class, () -> new Planner().plan(checkpoint,
                    LoadOptions.DEFAULTS.withPartitioning(new Partitioning(0, worldSize, spec))));
            assertEquals(ErrorKind.Unsupported, e.kind());
            return;
        }
        List<Map<String, byte[]>> ranks = new ArrayList<>();
        List<Map<String, long[]>> shapes = new ArrayList<>();
        for (int r = 0; r < worldSize; r++) {
            LoadOptions o = new LoadOptions(strategy, ReadOrder.FILE, 2, 0, SMALL_WINDOWS, new Partitioning(r, worldSize, spec));
            try (LoadedWeights w = new Loader().execute(new Planner().plan(checkpoint, o), LoadListener.NONE)) {
                Tensor x = w.tensor("x");
                ranks.add(Map.of("x", x.data().toArray(ValueLayout.JAVA_BYTE)));
                shapes.add(Map.of("x", x.shape().toArray()));
            }
        }
        byte[] together = worldSize == 1 ? ranks.get(0).get("x") : TensorParallelLoadTest.concatenate(t, dim, ranks, shapes);
        assertArrayEquals(t.data(), together, dtype + java.util.Arrays.toString(shape) + " dim " + dim + " W=" + worldSize);
    }

    @org.junit.jupiter.api.Test
    void impossibleSplitsAreRefusedNamingTheTensor(@TempDir Path dir) throws IOException {
        SplittableRandom random = new SplittableRandom(0);
        SafetensorsWriter.write(dir.resolve("m.safetensors"), Map.of(), List.of(
                TestCheckpoints.tensor(random, "odd", DType.F32, 5, 4),
                TestCheckpoints.tensor(random, "flat", DType.F32, 6),
                TestCheckpoints.tensor(random, "nibbles", DType.F4, 6)));
        Checkpoint c = Checkpoint.open(dir.resolve("m.safetensors"));
        String[][] cases = {
                {"{\"rules\": [{\"pattern\": \"odd\", \"split\": 0, \"divisible\": true}]}", "odd", "does not divide",
                        "Usage"},
                {"{\"rules\": [{\"pattern\": \"flat\", \"split\": 1}]}", "flat", "cannot split dimension 1",
                        "Usage"},
                {"{\"rules\": [{\"pattern\": \"nibbles\", \"split\": 0}]}", "nibbles", "inside a byte", "Unsupported"},
        };
        for (String[] k : cases) {
            Partitioning p = new Partitioning(1, 4, PartitionSpec.parse("t", k[0]));
            StloadException e = assertThrows(StloadException.class,
                    () -> new Planner().plan(c, LoadOptions.DEFAULTS.withPartitioning(p)));
            // A rule that does not fit the checkpoint is the user's request to fix; a cut inside a byte, the format's.
            assertEquals(ErrorKind.valueOf(k[3]), e.kind());
            org.junit.jupiter.api.Assertions.assertTrue(e.getMessage().contains(k[1]) && e.getMessage().contains(k[2]),
                    e.getMessage());
        }
    }

    /** Independently of the loader: does some rank's block start on a bit that is not a byte's first? */
    private static boolean cutsInsideAByte(long[] shape, DType dtype, int dim, int w) {
        long elements = 1;
        long outer = 1;
        long inner = 1;
        for (int d = 0; d < shape.length; d++) {
            elements *= shape[d];
            outer *= d < dim ? shape[d] : 1;
            inner *= d > dim ? shape[d] : 1;
        }
        if (elements == 0 || w == 1) {
            return false;
        }
        long n = shape[dim];
        for (long o = 0; o < outer; o++) {
            for (int r = 0; r < w; r++) {
                long firstIndex = r * (n / w) + Math.min(r, n % w);
                if (((o * n + firstIndex) * inner * dtype.bits()) % 8 != 0) {
                    return true;
                }
            }
        }
        return false;
    }
}
