package io.stload.load;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.stload.ErrorKind;
import io.stload.StloadException;
import io.stload.checkpoint.Checkpoint;
import io.stload.format.DType;
import io.stload.format.SafetensorsWriter;
import io.stload.plan.LoadOptions;
import io.stload.plan.LoadPlan;
import io.stload.plan.LoadStrategy;
import io.stload.plan.PartitionSpec;
import io.stload.plan.Partitioning;
import io.stload.plan.Planner;
import io.stload.plan.TensorFilter;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.TreeMap;
import java.util.stream.Collectors;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/** Loading a named subset: only its tensors land, and only about their bytes are read, with every strategy. */
class SubsetLoadTest {
    @TempDir
    static Path dir;
    static Checkpoint checkpoint;
    static Map<String, String> reference;

    @BeforeAll
    static void writeCheckpoint() throws IOException {
        checkpoint = Checkpoint.open(TestCheckpoints.sharded(dir, 3, 17));
        reference = Digests.ofFiles(checkpoint);
    }

    private static Map<String, String> digests(LoadedWeights w) {
        return w.tensors().values().stream().collect(Collectors.toMap(t -> t.name(), t -> Digests.crc32(t.data()),
                (a, b) -> a, TreeMap::new));
    }

    private static Map<String, String> expected(TensorFilter f) {
        return reference.entrySet().stream().filter(e -> f.matches(e.getKey()))
                .collect(Collectors.toMap(Map.Entry::getKey, Map.Entry::getValue, (a, b) -> a, TreeMap::new));
    }

    @ParameterizedTest
    @EnumSource(value = LoadStrategy.class, names = {"MMAP", "PREFETCH", "DIRECT"})
    void aSubsetLoadsOnlyItsTensorsAndReadsAboutTheirBytes(LoadStrategy strategy) {
        TensorFilter f = TensorFilter.of("s1.small.*", "re:s2\\.(big|mid)");
        try (LoadedWeights w = Loader.load(checkpoint, LoadOptions.DEFAULTS.withStrategy(strategy).withTensors(f))) {
            Map<String, String> want = expected(f);
            assertEquals(42, want.size());
            assertEquals(want, digests(w));
            long subsetBytes = w.tensors().values().stream().mapToLong(t -> t.byteSize()).sum();
            assertEquals(subsetBytes, w.report().bytes());
            // direct reads whole aligned blocks at each end of a run: a few pages more than the subset.
            long slack = strategy == LoadStrategy.DIRECT ? 6 * 8192 : 0;
            assertTrue(w.report().bytesRead() <= subsetBytes + slack,
                    w.report().bytesRead() + " read for " + subsetBytes);
            assertTrue(w.report().bytesRead() < checkpoint.totalBytes() / 2);
        }
    }

    @Test
    void planHoldsOnlyTheSubset() {
        LoadPlan plan = new Planner().plan(checkpoint, LoadOptions.DEFAULTS.withTensors("s0.scalar", "s?.odd"));
        assertEquals(List.of("s0.odd", "s0.scalar", "s1.odd", "s2.odd"),
                plan.order().stream().map(t -> t.name()).sorted().toList());
        assertEquals(8 + 3 * 4099, plan.bytes());
        assertEquals(plan.bytes(), plan.readBytes());
        assertTrue(plan.isPartial());
    }

    @Test
    void aPatternMatchingNothingIsAUsageError() {
        StloadException e = assertThrows(StloadException.class,
                () -> new Planner().plan(checkpoint, LoadOptions.DEFAULTS.withTensors("s0.*", "model.*")));
        assertEquals(ErrorKind.Usage, e.kind());
        assertTrue(e.getMessage().contains("`model.*` matches no tensor"), e.getMessage());
        assertEquals(ErrorKind.Usage, assertThrows(StloadException.class, () -> TensorFilter.of("re:(")).kind());
    }

    @Test
    void globsMatchWholeNamesAcrossDots() {
        TensorFilter f = TensorFilter.of("model.layers.*.weight", "a?c", "x[1]");
        assertTrue(f.matches("model.layers.0.self_attn.q_proj.weight"));
        assertTrue(!f.matches("model.layers.0.bias") && !f.matches("xmodel.layers.0.weight"));
        assertTrue(f.matches("abc") && !f.matches("abcd"));
        assertTrue(f.matches("x[1]") && !f.matches("x1"), "brackets are literal in a glob");
        assertTrue(TensorFilter.ALL.matches("anything"));
        assertTrue(TensorFilter.of("re:a.c").matches("abc") && !TensorFilter.of("re:b").matches("abc"));
    }

    @Test
    void aSubsetOfATensorParallelRankHoldsTheRanksSlicesOfIt() {
        Partitioning p = new Partitioning(1, 2, PartitionSpec.parse("test",
                "{\"rules\":[{\"pattern\":\"s0.big\",\"split\":1}]}"));
        LoadOptions options = LoadOptions.DEFAULTS.withPartitioning(p).withTensors("s0.big", "s0.odd");
        try (LoadedWeights w = Loader.load(checkpoint, options)) {
            assertEquals(List.of("s0.big", "s0.odd"), List.copyOf(w.tensors().keySet()));
            assertEquals(700 * 256 * 2, w.tensor("s0.big").byteSize());
        }
    }

    @ParameterizedTest
    @EnumSource(value = LoadStrategy.class, names = {"MMAP", "PREFETCH", "DIRECT"})
    void aShardsUnindexedTensorsAreNotLoaded(LoadStrategy strategy) throws IOException {
        Path d = Files.createDirectory(dir.resolve("extras-" + strategy));
        SplittableRandom random = new SplittableRandom(3);
        SafetensorsWriter.write(d.resolve("a.safetensors"), Map.of(), List.of(
                TestCheckpoints.tensor(random, "kept", DType.F32, 3000),
                TestCheckpoints.tensor(random, "stray", DType.F32, 5000),
                TestCheckpoints.tensor(random, "kept2", DType.BF16, 7, 9)));
        Files.writeString(d.resolve("model.safetensors.index.json"),
                "{\"weight_map\":{\"kept\":\"a.safetensors\",\"kept2\":\"a.safetensors\"}}");
        Checkpoint c = Checkpoint.open(d);
        Map<String, String> want = new TreeMap<>(Digests.ofFiles(c));
        assertEquals(List.of("kept", "kept2"), List.copyOf(want.keySet()));
        try (LoadedWeights w = Loader.load(c, LoadOptions.DEFAULTS.withStrategy(strategy))) {
            assertEquals(want, digests(w));
        }
    }
}
