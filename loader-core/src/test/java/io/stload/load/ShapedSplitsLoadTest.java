package io.stload.load;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.stload.checkpoint.Checkpoint;
import io.stload.format.DType;
import io.stload.format.SafetensorsWriter;
import io.stload.format.SafetensorsWriter.TensorData;
import io.stload.format.Tensor;
import io.stload.plan.LoadOptions;
import io.stload.plan.LoadPlan;
import io.stload.plan.LoadStrategy;
import io.stload.plan.PartitionSpec;
import io.stload.plan.Partitioning;
import io.stload.plan.Planner;
import io.stload.plan.ReadOrder;
import io.stload.plan.Resharder;
import io.stload.plan.TensorSlice;
import io.stload.plan.Thresholds;
import io.stload.report.LoadListener;
import io.stload.report.LoadReport;
import io.stload.sink.CallerBuffers;
import io.stload.sink.StreamingSink;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.ValueLayout;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.ConcurrentHashMap;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Splits by heads (replicated whole where there are fewer heads than ranks), fused parts and padded splits, on
 * dimension 0 and on an inner dimension, executed by every strategy into every host destination: each rank's bytes
 * are what an independent computation below says (the engines' layout, element by element), pad rows are zeros even
 * in memory that held something else, and a rank reads only its own bytes.
 */
class ShapedSplitsLoadTest {
    /** Heads of 4 rows; q 4 heads, k and v 2 each. */
    static final String RULES = """
            {"rules": [
              {"pattern": "a.qkv", "split": 0, "head_dim": 4, "parts": [
                {"name": "q", "heads": 4, "divisible": true}, {"name": "k", "heads": 2}, {"name": "v", "heads": 2}]},
              {"pattern": "a.k", "split": 0, "heads": 2},
              {"pattern": "a.gate_up", "split": 0, "parts": [12, 12], "divisible": true},
              {"pattern": "a.embed", "split": 0, "pad_to": 4},
              {"pattern": "b.inner_parts", "split": 1, "parts": [{"size": 4}, {"size": 8}]},
              {"pattern": "b.inner_pad", "split": 1, "pad_to": 4},
              {"pattern": "b.o", "split": 1, "head_dim": 2, "divisible": true}
            ]}""";

    @TempDir
    static Path dir;
    static Checkpoint checkpoint;
    static final Map<String, TensorData> original = new LinkedHashMap<>();

    @BeforeAll
    static void write() throws IOException {
        SplittableRandom random = new SplittableRandom(11);
        List<TensorData> a = List.of(
                TestCheckpoints.tensor(random, "a.qkv", DType.BF16, 32, 40),
                TestCheckpoints.tensor(random, "a.k", DType.F32, 8, 24),
                TestCheckpoints.tensor(random, "a.gate_up", DType.BF16, 24, 16),
                TestCheckpoints.tensor(random, "a.same", DType.F32, 3, 300), // the size of a.embed's slice at W = 4
                TestCheckpoints.tensor(random, "a.embed", DType.F32, 10, 300), // 10 rows padded to 12
                TestCheckpoints.tensor(random, "a.norm", DType.F32, 40));
        List<TensorData> b = List.of(
                TestCheckpoints.tensor(random, "b.inner_parts", DType.F32, 3, 12, 5),
                TestCheckpoints.tensor(random, "b.inner_pad", DType.I16, 5, 10), // 10 columns padded to 12
                TestCheckpoints.tensor(random, "b.o", DType.BF16, 6, 8));
        SafetensorsWriter.write(dir.resolve("a.safetensors"), Map.of(), a);
        SafetensorsWriter.write(dir.resolve("b.safetensors"), Map.of(), b);
        Stream.concat(a.stream(), b.stream()).forEach(t -> original.put(t.name(), t));
        checkpoint = Checkpoint.open(dir);
    }

    /**
     * What rank {@code r} of {@code w} holds, computed from the layout each rule describes, index by index. A single
     * rank holds every tensor whole: no rule applies.
     */
    static byte[] expected(String name, int r, int w) {
        TensorData t = original.get(name);
        if (w == 1) {
            return t.data();
        }
        return switch (name) {
            case "a.qkv" -> {
                int kvReplicas = w > 2 ? w / 2 : 1;
                int kvPer = w > 2 ? 1 : 2 / w;
                int kvHead = w > 2 ? r / kvReplicas : r * kvPer;
                yield concat(rows(t, r * (4 / w) * 4, (4 / w) * 4),
                        rows(t, 16 + kvHead * 4, kvPer * 4), rows(t, 24 + kvHead * 4, kvPer * 4));
            }
            case "a.k" -> w >= 2 ? rows(t, (w == 2 ? r : r / (w / 2)) * 4, 4) : rows(t, 0, 8);
            case "a.gate_up" -> concat(rows(t, r * 12 / w, 12 / w), rows(t, 12 + r * 12 / w, 12 / w));
            case "a.embed" -> {
                int per = 12 / w;
                int lo = Math.min(10, r * per);
                int hi = Math.min(10, r * per + per);
                yield concat(rows(t, lo, hi - lo), new byte[(per - (hi - lo)) * 300 * 4]);
            }
            case "b.inner_parts" -> {
                // [3, 12, 5] split on dim 1 into parts of 4 and 8: per outer index, part 0's block then part 1's.
                ByteArrayOutputStream out = new ByteArrayOutputStream();
                for (int o = 0; o < 3; o++) {
                    out.writeBytes(inner(t, o, 12, 5 * 4, first(4, r, w), first(4, r + 1, w)));
                    out.writeBytes(inner(t, o, 12, 5 * 4, 4 + first(8, r, w), 4 + first(8, r + 1, w)));
                }
                yield out.toByteArray();
            }
            case "b.inner_pad" -> {
                int per = 12 / w;
                int lo = Math.min(10, r * per);
                int hi = Math.min(10, r * per + per);
                ByteArrayOutputStream out = new ByteArrayOutputStream();
                for (int o = 0; o < 5; o++) {
                    out.writeBytes(inner(t, o, 10, 2, lo, hi));
                    out.writeBytes(new byte[(per - (hi - lo)) * 2]);
                }
                yield out.toByteArray();
            }
            case "b.o" -> {
                ByteArrayOutputStream out = new ByteArrayOutputStream();
                for (int o = 0; o < 6; o++) {
                    out.writeBytes(inner(t, o, 8, 2, r * 8 / w, (r + 1) * 8 / w));
                }
                yield out.toByteArray();
            }
            default -> t.data();
        };
    }

    private static int first(int n, int r, int w) {
        return r * (n / w) + Math.min(r, n % w);
    }

    /** Rows {@code [from, from + count)} of a tensor, dimension 0. */
    private static byte[] rows(TensorData t, int from, int count) {
        int row = t.data().length / (int) t.shape()[0];
        return Arrays.copyOfRange(t.data(), from * row, (from + count) * row);
    }

    /** Indices {@code [lo, hi)} of dimension 1 (of {@code n}, each {@code elem} bytes) of outer index {@code o}. */
    private static byte[] inner(TensorData t, int o, int n, int elem, int lo, int hi) {
        int base = o * n * elem;
        return Arrays.copyOfRange(t.data(), base + lo * elem, base + hi * elem);
    }

    private static byte[] concat(byte[]... parts) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        for (byte[] p : parts) {
            out.writeBytes(p);
        }
        return out.toByteArray();
    }

    enum Into { HOST, CALLER, STREAM }

    static Stream<Arguments> cases() {
        Stream.Builder<Arguments> out = Stream.builder();
        for (int w : new int[] {1, 2, 4}) {
            for (LoadStrategy s : List.of(LoadStrategy.MMAP, LoadStrategy.PREFETCH, LoadStrategy.DIRECT)) {
                for (Into into : Into.values()) {
                    out.add(Arguments.of(w, s, into));
                }
            }
        }
        return out.build();
    }

    /** Windows far smaller than the tensors' spans, and no gap read through: each run is its own read. */
    private static final Thresholds TIGHT = new Thresholds(0.8, 64L << 20, 1.25, LoadStrategy.DIRECT, 4096, 8192,
            4096, 0);

    @ParameterizedTest(name = "W={0} {1} into {2}")
    @MethodSource("cases")
    void everyRankHoldsTheEnginesLayoutAndReadsOnlyItsBytes(int w, LoadStrategy strategy, Into into) {
        PartitionSpec spec = PartitionSpec.parse("shaped", RULES);
        for (int r = 0; r < w; r++) {
            LoadOptions options = new LoadOptions(strategy, ReadOrder.SHUFFLED, 3, r, TIGHT, new Partitioning(r, w, spec));
            LoadPlan plan = new Planner().plan(checkpoint, options);
            long fileBytes = plan.slices().values().stream().mapToLong(TensorSlice::fileBytes).sum();
            assertEquals(fileBytes, plan.readBytes(), "no gap read through, no pad row read");
            Map<String, byte[]> got = new LinkedHashMap<>();
            LoadReport report = load(plan, into, got);
            for (String name : original.keySet()) {
                assertArrayEquals(expected(name, r, w), got.get(name), name + " on rank " + r + " of " + w
                        + " (" + strategy + " into " + into + ")");
            }
            assertEquals(plan.bytes(), got.values().stream().mapToLong(b -> b.length).sum());
            if (strategy != LoadStrategy.DIRECT) {
                // Mapped reads touch exactly the runs; direct ones whole aligned blocks around them.
                assertEquals(fileBytes, report.bytesRead(), strategy + " read only rank " + r + "'s bytes");
            } else {
                assertTrue(report.bytesRead() >= fileBytes, report.bytesRead() + " < " + fileBytes);
            }
        }
    }

    /** Loads the plan into the destination and returns every slice's bytes. */
    private static LoadReport load(LoadPlan plan, Into into, Map<String, byte[]> got) {
        switch (into) {
            case HOST -> {
                try (LoadedWeights weights = new Loader().execute(plan, LoadListener.NONE)) {
                    for (Tensor t : weights.tensors().values()) {
                        got.put(t.name(), t.data().toArray(ValueLayout.JAVA_BYTE));
                    }
                    return weights.report();
                }
            }
            case CALLER -> {
                try (Arena arena = Arena.ofShared()) {
                    // Memory that held something else: pad rows must be written, not assumed.
                    CallerBuffers mine = new CallerBuffers(s -> arena.allocate(Math.max(1, s.byteSize()), 64)
                            .fill((byte) 0x5A));
                    LoadReport r = new Loader().execute(plan, mine, LoadListener.NONE);
                    for (String name : plan.slices().keySet()) {
                        got.put(name, mine.segment(name).toArray(ValueLayout.JAVA_BYTE));
                    }
                    return r;
                }
            }
            default -> {
                Map<String, byte[]> streamed = new ConcurrentHashMap<>();
                // A budget of a few slices: buffers are reused, so a reused one must have its pad rows zeroed again.
                StreamingSink sink = new StreamingSink((s, bytes) -> streamed.put(s.name(),
                        bytes.toArray(ValueLayout.JAVA_BYTE)), 64 << 10);
                LoadReport r = new Loader().execute(plan, sink, LoadListener.NONE);
                plan.slices().keySet().forEach(n -> got.put(n, streamed.get(n)));
                return r;
            }
        }
    }

    @Test
    void aStreamedBufferReusedForAPaddedSliceHasItsPadRowsZeroedAgain() {
        // At W = 4 rank 3's a.embed slice (1 row and 2 pad rows of 300 floats) is a.same's size, which lands first:
        // the padded slice takes a.same's buffer back, random bytes where its pad rows go.
        PartitionSpec spec = PartitionSpec.parse("shaped", RULES);
        LoadOptions options = new LoadOptions(LoadStrategy.MMAP, ReadOrder.FILE, 1, 0, TIGHT,
                new Partitioning(3, 4, spec)).withTensors("a.same", "a.embed");
        LoadPlan plan = new Planner().plan(checkpoint, options);
        assertEquals(plan.slices().get("a.same").byteSize(), plan.slices().get("a.embed").byteSize());
        Map<String, byte[]> seen = new LinkedHashMap<>();
        Map<String, Long> addresses = new LinkedHashMap<>();
        StreamingSink sink = new StreamingSink((s, bytes) -> {
            seen.put(s.name(), bytes.toArray(ValueLayout.JAVA_BYTE));
            addresses.put(s.name(), bytes.address());
        }, 4096); // room for one slice: no read ahead, so a.same's buffer is back before a.embed's is taken
        new Loader().execute(plan, sink, LoadListener.NONE);
        assertEquals(addresses.get("a.same"), addresses.get("a.embed"), "the buffer was reused");
        assertArrayEquals(expected("a.embed", 3, 4), seen.get("a.embed"));
    }

    @Test
    void reshardedRanksHoldTheSameBytes(@TempDir Path out) throws IOException {
        PartitionSpec spec = PartitionSpec.parse("shaped", RULES);
        List<Path> ranks = Resharder.reshard(checkpoint, out.resolve("r"), new Partitioning(0, 4, spec), Long.MAX_VALUE);
        for (int r = 0; r < 4; r++) {
            try (Checkpoint rank = Checkpoint.open(ranks.get(r)); Arena arena = Arena.ofConfined()) {
                for (String name : original.keySet()) {
                    assertArrayEquals(expected(name, r, 4), rank.copy(name, arena).data().toArray(ValueLayout.JAVA_BYTE),
                            name + " in rank " + r + "'s folder");
                }
            }
        }
    }

    /**
     * Parts of a megabyte and more are read in place into the caller's memory (direct reads cut at each part's
     * ends): each lands at its own offset of the rank's slice, the bounce buffer taking only the blocks at its ends.
     */
    @Test
    void largeFusedPartsLandInPlaceAtTheirOffsetsInTheCallersMemory(@TempDir Path big) throws IOException {
        SplittableRandom random = new SplittableRandom(3);
        TensorData qkv = TestCheckpoints.tensor(random, "x.qkv", DType.F32, 8 * 64, 4096); // heads of 64 rows of 16 KiB
        SafetensorsWriter.write(big.resolve("m.safetensors"), Map.of(), List.of(
                TestCheckpoints.tensor(random, "x.before", DType.U8, 1001), qkv));
        PartitionSpec spec = PartitionSpec.parse("qkv", """
                {"rules": [{"pattern": "x.qkv", "split": 0, "head_dim": 64, "parts": [
                  {"heads": 4, "divisible": true}, {"heads": 2}, {"heads": 2}]}]}""");
        Thresholds blocks = new Thresholds(0.8, 64L << 20, 1.25, LoadStrategy.DIRECT, 4096, 8192, 256 << 10, 0);
        try (Checkpoint c = Checkpoint.open(big.resolve("m.safetensors"))) {
            for (int w : new int[] {2, 4}) {
                for (int r = 0; r < w; r++) {
                    LoadPlan plan = new Planner().plan(c, new LoadOptions(LoadStrategy.DIRECT, ReadOrder.FILE, 2, 0,
                            blocks, new Partitioning(r, w, spec)));
                    int qHeads = 4 / w;
                    int kvHead = w == 2 ? r : r / 2;
                    int row = 4096 * 4;
                    byte[] want = concat(Arrays.copyOfRange(qkv.data(), r * qHeads * 64 * row, (r + 1) * qHeads * 64 * row),
                            Arrays.copyOfRange(qkv.data(), (256 + kvHead * 64) * row, (256 + kvHead * 64 + 64) * row),
                            Arrays.copyOfRange(qkv.data(), (384 + kvHead * 64) * row, (384 + kvHead * 64 + 64) * row));
                    try (Arena arena = Arena.ofShared()) {
                        CallerBuffers mine = new CallerBuffers(s -> arena.allocate(Math.max(1, s.byteSize()), 4096)
                                .fill((byte) 0x5A));
                        LoadReport report = new Loader().execute(plan, mine, LoadListener.NONE);
                        assertArrayEquals(want, mine.segment("x.qkv").toArray(ValueLayout.JAVA_BYTE),
                                "rank " + r + " of " + w);
                        assertTrue(report.bytesRead() <= plan.readBytes() + 2L * 3 * 4096, report.bytesRead() + " for "
                                + plan.readBytes());
                    }
                }
            }
        }
    }
}
