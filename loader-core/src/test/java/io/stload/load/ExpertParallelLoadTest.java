package io.stload.load;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.stload.ErrorKind;
import io.stload.StloadException;
import io.stload.checkpoint.Checkpoint;
import io.stload.format.DType;
import io.stload.format.SafetensorsWriter.TensorData;
import io.stload.format.SafetensorsWriter;
import io.stload.format.Tensor;
import io.stload.plan.LoadOptions;
import io.stload.plan.LoadPlan;
import io.stload.plan.LoadStrategy;
import io.stload.plan.PartitionRule;
import io.stload.plan.PartitionSpec;
import io.stload.plan.Partitioning;
import io.stload.plan.Planner;
import io.stload.plan.ReadOrder;
import io.stload.plan.Thresholds;
import io.stload.report.LoadListener;
import io.stload.sink.HostSink;
import io.stload.store.Lease;
import io.stload.store.ReloadOptions;
import io.stload.store.ReloadResult;
import io.stload.store.WeightStore;
import java.io.IOException;
import java.lang.foreign.ValueLayout;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Whole MoE experts assigned to ranks: every expert on exactly one rank, in contiguous blocks per layer, the
 * others not read and not held; everything else as the split and replicate rules say.
 */
class ExpertParallelLoadTest {
    private static final int HIDDEN = 24;
    private static final int EXPERT_WIDTH = 12;
    /** Expert numbering with gaps: assignment goes by position among the indices present. */
    private static final List<Integer> SPARSE_EXPERTS = List.of(0, 2, 3, 7, 11, 40);
    private static final Pattern EXPERT = Pattern.compile("(.*\\.experts\\.)(\\d+)\\..*");

    /** Experts of layers 0 and 1 whole per rank; layer 2's Mixtral-style experts split per weight. */
    private static final String MIXED_RULES = """
            {"rules": [
              {"regex": "model\\\\.layers\\\\.[01]\\\\.mlp\\\\.experts\\\\..*", "experts": true},
              {"pattern": "*.experts.*.w1.weight", "split": 0},
              {"pattern": "*.experts.*.w2.weight", "split": 1},
              {"pattern": "*.q_proj.weight", "split": 0},
              {"pattern": "*", "replicate": true}
            ]}""";

    @TempDir
    static Path dir;
    static Checkpoint checkpoint;
    static final Map<String, TensorData> original = new LinkedHashMap<>();
    static Map<String, String> reference;

    /**
     * Three files: a Qwen-style layer with experts 0..9, a layer with sparse expert numbers and a Mixtral-style
     * layer of 5 experts, and a file holding only that layer's last expert, which some ranks read nothing of.
     */
    @BeforeAll
    static void writeCheckpoint() throws IOException {
        SplittableRandom random = new SplittableRandom(11);
        List<TensorData> a = new ArrayList<>();
        a.add(tensor(random, "model.embed_tokens.weight", 40, HIDDEN));
        a.addAll(attention(random, 0));
        a.add(tensor(random, "model.layers.0.mlp.gate.weight", 10, HIDDEN));
        for (int e = 0; e < 10; e++) {
            a.addAll(qwenExpert(random, "model.layers.0.mlp.experts." + e + "."));
        }
        a.add(tensor(random, "model.layers.0.mlp.shared_experts.gate_proj.weight", EXPERT_WIDTH, HIDDEN));
        List<TensorData> b = new ArrayList<>(attention(random, 1));
        for (int e : SPARSE_EXPERTS) {
            b.addAll(qwenExpert(random, "model.layers.1.mlp.experts." + e + "."));
        }
        b.addAll(attention(random, 2));
        b.add(tensor(random, "model.layers.2.block_sparse_moe.gate.weight", 5, HIDDEN));
        for (int e = 0; e < 4; e++) {
            b.addAll(mixtralExpert(random, "model.layers.2.block_sparse_moe.experts." + e + "."));
        }
        b.add(tensor(random, "model.norm.weight", HIDDEN));
        b.add(tensor(random, "lm_head.weight", 40, HIDDEN));
        List<TensorData> c = mixtralExpert(random, "model.layers.2.block_sparse_moe.experts.4.");
        SafetensorsWriter.write(dir.resolve("a.safetensors"), Map.of(), a);
        SafetensorsWriter.write(dir.resolve("b.safetensors"), Map.of(), b);
        SafetensorsWriter.write(dir.resolve("c.safetensors"), Map.of(), c);
        Stream.of(a, b, c).flatMap(List::stream).forEach(t -> original.put(t.name(), t));
        checkpoint = Checkpoint.open(dir);
        reference = Digests.ofFiles(checkpoint);
    }

    static Stream<Arguments> specsWorldSizesAndStrategies() {
        Stream.Builder<Arguments> out = Stream.builder();
        for (String spec : List.of(PartitionSpec.DEFAULT_EXPERTS_NAME, "mixed")) {
            for (int w : new int[] {1, 2, 3, 4, 8}) {
                for (LoadStrategy s : List.of(LoadStrategy.MMAP, LoadStrategy.PREFETCH, LoadStrategy.DIRECT)) {
                    out.add(Arguments.of(spec, w, s));
                }
            }
        }
        return out.build();
    }

    @ParameterizedTest(name = "{0} W={1} {2}")
    @MethodSource("specsWorldSizesAndStrategies")
    void everyExpertIsOnExactlyOneRankInContiguousBlocks(String specName, int worldSize, LoadStrategy strategy) {
        PartitionSpec spec = specName.equals("mixed") ? PartitionSpec.parse("mixed", MIXED_RULES)
                : PartitionSpec.load(specName);
        List<Map<String, byte[]>> ranks = new ArrayList<>();
        List<Map<String, long[]>> shapes = new ArrayList<>();
        long sumOfRanks = 0;
        List<Long> bytesPerRank = null;
        for (int r = 0; r < worldSize; r++) {
            LoadOptions options = new LoadOptions(strategy, ReadOrder.SHUFFLED, 3, r, TensorParallelLoadTest.SMALL_WINDOWS,
                    new Partitioning(r, worldSize, spec));
            LoadPlan plan = new Planner().plan(checkpoint, options);
            bytesPerRank = bytesPerRank == null ? plan.bytesPerRank() : bytesPerRank;
            assertEquals(bytesPerRank, plan.bytesPerRank(), "every rank's plan agrees on every rank's bytes");
            assertEquals(plan.bytes(), bytesPerRank.get(r));
            try (LoadedWeights w = new Loader().execute(plan, LoadListener.NONE)) {
                assertEquals(plan.slices().keySet(), w.tensors().keySet());
                assertEquals(w.tensors().size(), w.report().tensors());
                assertEquals(plan.bytes(), w.report().bytes());
                TensorParallelLoadTest.assertReadOnlyItsBytes(plan, strategy, w.report().bytesRead());
                if (worldSize > 1) {
                    // Packed: the rank's own bytes plus at most one alignment gap per tensor it holds.
                    assertTrue(w.memoryBytes() < plan.bytes() + (long) HostSink.SLICE_ALIGNMENT * w.tensors().size(),
                            w.memoryBytes() + " bytes held for " + plan.bytes());
                }
                Map<String, byte[]> bytes = new LinkedHashMap<>();
                Map<String, long[]> shape = new LinkedHashMap<>();
                for (Tensor t : w.tensors().values()) {
                    bytes.put(t.name(), t.data().toArray(ValueLayout.JAVA_BYTE));
                    shape.put(t.name(), t.shape().toArray());
                    if (t.byteSize() == original.get(t.name()).data().length) {
                        assertEquals(reference.get(t.name()), Digests.crc32(t.data()), t.name() + " on rank " + r);
                    }
                }
                ranks.add(bytes);
                shapes.add(shape);
            }
            sumOfRanks += plan.bytes();
        }

        long replicated = 0;
        Map<String, TreeMap<Integer, Set<Long>>> expertsByGroupAndRank = new HashMap<>();
        for (TensorData t : original.values()) {
            PartitionRule rule = worldSize == 1 ? null : spec.ruleFor(t.name());
            if (rule != null && rule.assignsExperts()) {
                List<Integer> holders = holders(ranks, t.name());
                assertEquals(1, holders.size(), t.name() + " held by ranks " + holders);
                assertArrayEquals(t.data(), ranks.get(holders.get(0)).get(t.name()), t.name());
                Matcher m = EXPERT.matcher(t.name());
                assertTrue(m.matches(), t.name());
                expertsByGroupAndRank.computeIfAbsent(m.group(1), g -> new TreeMap<>())
                        .computeIfAbsent(holders.get(0), k -> new TreeSet<>()).add(Long.parseLong(m.group(2)));
            } else if (rule != null && !rule.replicates()) {
                assertEquals(worldSize, holders(ranks, t.name()).size(), t.name());
                assertArrayEquals(t.data(), TensorParallelLoadTest.concatenate(t, rule.dim(), ranks, shapes),
                        t.name() + " put back together");
            } else {
                replicated += t.data().length;
                assertEquals(worldSize, holders(ranks, t.name()).size(), t.name());
            }
        }
        expertsByGroupAndRank.forEach((group, byRank) -> assertContiguousBlocks(group, byRank, worldSize));
        assertEquals(checkpoint.totalBytes() + (worldSize - 1) * replicated, sumOfRanks);
    }

    /**
     * Independently of the loader: the group's distinct expert numbers, sorted, dealt out in blocks, the
     * first {@code E % W} ranks one more.
     */
    private static void assertContiguousBlocks(String group, TreeMap<Integer, Set<Long>> byRank, int worldSize) {
        List<Long> all = new ArrayList<>();
        byRank.values().forEach(all::addAll);
        all.sort(null);
        int e = all.size();
        int next = 0;
        int fewest = Integer.MAX_VALUE;
        int most = 0;
        for (int r = 0; r < worldSize; r++) {
            int count = e / worldSize + (r < e % worldSize ? 1 : 0);
            assertEquals(new TreeSet<>(all.subList(next, next + count)), byRank.getOrDefault(r, new TreeSet<>()),
                    group + " on rank " + r + " of " + worldSize);
            next += count;
            fewest = Math.min(fewest, count);
            most = Math.max(most, count);
        }
        assertTrue(most - fewest <= 1, group);
    }

    @Test
    void theGroupsFoundAreTheLayersAndAFileWithNoneOfARanksExpertsIsNotRead() {
        Partitioning rank0 = new Partitioning(0, 2, PartitionSpec.defaultsWithExperts());
        LoadPlan plan = new Planner().plan(checkpoint, LoadOptions.DEFAULTS.withPartitioning(rank0));
        assertTrue(plan.isPartial());
        // 10 experts: 0..4 here; sparse numbers 0, 2, 3, 7, 11, 40: the first three; 5 Mixtral experts: 0..2.
        assertTrue(plan.slices().containsKey("model.layers.0.mlp.experts.4.down_proj.weight"));
        assertNull(plan.slices().get("model.layers.0.mlp.experts.5.down_proj.weight"));
        assertTrue(plan.slices().containsKey("model.layers.1.mlp.experts.3.up_proj.weight"));
        assertNull(plan.slices().get("model.layers.1.mlp.experts.7.up_proj.weight"));
        assertTrue(plan.slices().containsKey("model.layers.2.block_sparse_moe.experts.2.w2.weight"));
        assertNull(plan.slices().get("model.layers.2.block_sparse_moe.experts.3.w2.weight"));
        assertTrue(plan.order().stream().allMatch(t -> plan.slices().containsKey(t.name())));
        assertEquals(0, plan.files().get(2).facts().bytesToRead());
        assertTrue(plan.files().get(2).reads().isEmpty());
    }

    /** Experts larger than the read-through gap: each rank reads its own experts and not a byte of the others'. */
    @Test
    void largeExpertsOfOtherRanksAreNotRead(@TempDir Path scratch) throws IOException {
        SplittableRandom random = new SplittableRandom(3);
        List<TensorData> tensors = new ArrayList<>();
        for (int e = 0; e < 4; e++) {
            tensors.addAll(List.of(tensor(random, "layers.0.experts." + e + ".w1.weight", 160, 1024),
                    tensor(random, "layers.0.experts." + e + ".w2.weight", 1024, 160)));
        }
        tensors.add(tensor(random, "norm.weight", 1024));
        SafetensorsWriter.write(scratch.resolve("m.safetensors"), Map.of(), tensors);
        Checkpoint c = Checkpoint.open(scratch.resolve("m.safetensors"));
        long expertBytes = 2 * 160 * 1024 * 2;
        assertTrue(expertBytes / 2 > Thresholds.DEFAULTS.maxGapBytes());
        for (int r = 0; r < 2; r++) {
            LoadOptions options = new LoadOptions(LoadStrategy.DIRECT, ReadOrder.FILE, 2, 0,
                    TensorParallelLoadTest.SMALL_WINDOWS, new Partitioning(r, 2, PartitionSpec.defaultsWithExperts()));
            LoadPlan plan = new Planner().plan(c, options);
            assertEquals(2 * expertBytes + 2 * 1024, plan.bytes());
            assertEquals(plan.bytes(), plan.readBytes(), "rank " + r + " reads exactly what it holds");
            try (LoadedWeights w = new Loader().execute(plan, LoadListener.NONE)) {
                TensorParallelLoadTest.assertReadOnlyItsBytes(plan, LoadStrategy.DIRECT, w.report().bytesRead());
                assertTrue(w.report().bytesRead() < plan.bytes() + 4 * 4096, "read " + w.report().bytesRead());
                assertEquals(5, w.tensors().size());
                assertTrue(w.tensors().containsKey("layers.0.experts." + 2 * r + ".w1.weight"));
                assertTrue(w.tensors().containsKey("layers.0.experts." + (2 * r + 1) + ".w2.weight"));
            }
        }
    }

    @Test
    void anExpertsRuleOnANameWithoutAnExpertNumberIsRefusedAtPlanTime() {
        for (String pattern : new String[] {"*experts*", "*.mlp.*"}) {
            PartitionSpec spec = PartitionSpec.parse("t", "{\"rules\": [{\"pattern\": \"" + pattern + "\", \"experts\": true}]}");
            StloadException e = assertThrows(StloadException.class, () -> new Planner().plan(checkpoint,
                    LoadOptions.DEFAULTS.withPartitioning(new Partitioning(1, 2, spec))));
            assertEquals(ErrorKind.Unsupported, e.kind());
            String name = pattern.equals("*experts*") ? "model.layers.0.mlp.shared_experts.gate_proj.weight"
                    : "model.layers.0.mlp.gate.weight";
            assertTrue(e.getMessage().contains(name) && e.getMessage().contains("`experts.<N>.`"), e.getMessage());
            assertEquals(1, e.getMessage().lines().count(), e.getMessage());
        }
    }

    @Test
    void aWeightStoreServingOneRanksExpertsReloads() {
        Partitioning rank1 = new Partitioning(1, 3, PartitionSpec.defaultsWithExperts());
        LoadOptions options = LoadOptions.DEFAULTS.withPartitioning(rank1);
        Set<String> held = new Planner().plan(checkpoint, options).slices().keySet();
        try (WeightStore<Tensor> store = WeightStore.open(dir, options, Long.MAX_VALUE)) {
            ReloadResult r = store.reload(dir, ReloadOptions.IMMEDIATE);
            assertTrue(r.reloaded(), r::toString);
            try (Lease<Tensor> lease = store.lease()) {
                assertEquals(2, lease.version());
                assertEquals(held, lease.tensors().keySet());
                assertEquals(reference.get("model.layers.0.mlp.experts.4.gate_proj.weight"),
                        Digests.crc32(lease.tensor("model.layers.0.mlp.experts.4.gate_proj.weight").data()));
            }
        }
    }

    private static List<Integer> holders(List<Map<String, byte[]>> ranks, String name) {
        List<Integer> out = new ArrayList<>();
        for (int r = 0; r < ranks.size(); r++) {
            if (ranks.get(r).containsKey(name)) {
                out.add(r);
            }
        }
        return out;
    }

    private static List<TensorData> attention(SplittableRandom random, int layer) {
        String p = "model.layers." + layer + ".";
        return List.of(tensor(random, p + "input_layernorm.weight", HIDDEN),
                tensor(random, p + "self_attn.q_proj.weight", HIDDEN, HIDDEN),
                tensor(random, p + "self_attn.o_proj.weight", HIDDEN, HIDDEN));
    }

    private static List<TensorData> qwenExpert(SplittableRandom random, String prefix) {
        return List.of(tensor(random, prefix + "gate_proj.weight", EXPERT_WIDTH, HIDDEN),
                tensor(random, prefix + "up_proj.weight", EXPERT_WIDTH, HIDDEN),
                tensor(random, prefix + "down_proj.weight", HIDDEN, EXPERT_WIDTH));
    }

    private static List<TensorData> mixtralExpert(SplittableRandom random, String prefix) {
        return List.of(tensor(random, prefix + "w1.weight", EXPERT_WIDTH, HIDDEN),
                tensor(random, prefix + "w2.weight", HIDDEN, EXPERT_WIDTH),
                tensor(random, prefix + "w3.weight", EXPERT_WIDTH, HIDDEN));
    }

    private static TensorData tensor(SplittableRandom random, String name, long... shape) {
        return TestCheckpoints.tensor(random, name, DType.BF16, shape);
    }
}
