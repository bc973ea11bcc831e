package io.stload.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.stload.benchdata.HubCheckpointGenerator;
import io.stload.benchdata.HubFamily;
import io.stload.benchdata.HubModel;
import io.stload.checkpoint.Checkpoint;
import io.stload.checkpoint.TensorRef;
import io.stload.format.Tensor;
import io.stload.load.Digests;
import io.stload.load.LoadedWeights;
import io.stload.load.Loader;
import io.stload.plan.LoadOptions;
import io.stload.plan.LoadPlan;
import io.stload.plan.LoadStrategy;
import io.stload.plan.PartitionSpec;
import io.stload.plan.Partitioning;
import io.stload.plan.Planner;
import io.stload.report.LoadListener;
import io.stload.store.WeightSource;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.EnumMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * {@code --partition auto} on a checkpoint of each decoder family, written as the hub holds it (config.json,
 * transformers' names and shapes, some sharded): every rank of W = 2, 4 and 8 holds, byte for byte, what vLLM's
 * weight loaders put in its parameters ({@link VllmLayout}, computed independently), through the API, through
 * {@code load --digest} with each strategy and sink, and through {@code reshard}.
 */
class AutoPartitionFamiliesTest {
    @TempDir
    static Path dir;
    static final Map<HubFamily, HubModel> models = new EnumMap<>(HubFamily.class);
    static final Map<HubFamily, Path> paths = new EnumMap<>(HubFamily.class);
    static final Map<HubFamily, Map<String, byte[]>> full = new EnumMap<>(HubFamily.class);
    static final Map<HubFamily, Map<String, long[]>> shapes = new EnumMap<>(HubFamily.class);
    static final Map<HubFamily, Map<String, Integer>> elements = new EnumMap<>(HubFamily.class);

    StringWriter out = new StringWriter();
    StringWriter err = new StringWriter();

    @BeforeAll
    static void generate() throws IOException {
        for (HubFamily f : HubFamily.values()) {
            // Every other family in shards of 256 KiB, so tensors of one layer lie in several files.
            HubModel m = HubModel.of(f).withShardBytes(f.ordinal() % 2 == 0 ? 256 << 10 : 0).withSeed(f.ordinal());
            Path p = dir.resolve(f.label());
            HubCheckpointGenerator.generate(m, p);
            models.put(f, m);
            paths.put(f, p);
            Map<String, byte[]> bytes = new LinkedHashMap<>();
            Map<String, long[]> shape = new LinkedHashMap<>();
            Map<String, Integer> element = new LinkedHashMap<>();
            try (Checkpoint c = Checkpoint.open(p); Arena arena = Arena.ofConfined()) {
                for (TensorRef t : c.tensors().values()) {
                    bytes.put(t.name(), c.copy(t.name(), arena).data().toArray(ValueLayout.JAVA_BYTE));
                    shape.put(t.name(), t.info().shape().toArray());
                    element.put(t.name(), t.info().dtype().bits() / 8);
                }
            }
            full.put(f, bytes);
            shapes.put(f, shape);
            elements.put(f, element);
        }
    }

    private static byte[] expected(HubFamily f, String name, int r, int w, boolean wholeExperts) {
        return VllmLayout.rank(models.get(f), name, shapes.get(f).get(name), elements.get(f).get(name),
                full.get(f).get(name), r, w, wholeExperts);
    }

    private int run(String... args) {
        out.getBuffer().setLength(0);
        err.getBuffer().setLength(0);
        return Main.run(args, new PrintWriter(out, true), new PrintWriter(err, true));
    }

    @ParameterizedTest
    @EnumSource(HubFamily.class)
    void everyRankHoldsWhatVllmPutsInItsParameters(HubFamily f) {
        List<Boolean> modes = f.hasExperts() ? List.of(false, true) : List.of(false);
        List<LoadStrategy> strategies = List.of(LoadStrategy.MMAP, LoadStrategy.PREFETCH, LoadStrategy.DIRECT);
        try (Checkpoint c = Checkpoint.open(paths.get(f))) {
            for (boolean wholeExperts : modes) {
                PartitionSpec spec = PartitionSpec.fromConfig(c, wholeExperts);
                for (int w : new int[] {2, 4, 8}) {
                    for (int r = 0; r < w; r++) {
                        LoadOptions o = LoadOptions.DEFAULTS.withStrategy(strategies.get(r % 3))
                                .withPartitioning(new Partitioning(r, w, spec));
                        LoadPlan plan = new Planner().plan(c, o);
                        try (LoadedWeights weights = new Loader().execute(plan, LoadListener.NONE)) {
                            for (String name : full.get(f).keySet()) {
                                byte[] want = expected(f, name, r, w, wholeExperts);
                                String where = f.label() + " " + name + " rank " + r + " of " + w
                                        + (wholeExperts ? " (experts whole)" : "");
                                if (want == null) {
                                    assertTrue(!weights.tensors().containsKey(name), where + " belongs to another rank");
                                    continue;
                                }
                                Tensor t = weights.tensors().get(name);
                                assertTrue(t != null, where + " is loaded");
                                assertArrayEquals(want, t.data().toArray(ValueLayout.JAVA_BYTE), where);
                            }
                        }
                    }
                }
            }
        }
    }

    @ParameterizedTest
    @EnumSource(HubFamily.class)
    void loadDigestIsTheCrcOfWhatVllmHolds(HubFamily f) {
        String[][] ways = {{"--load-strategy", "mmap"}, {"--load-strategy", "prefetch"}, {"--load-strategy", "direct"},
                {"--sink", "stream"}};
        // The first rank, one holding a replicated KV head, and the last, which holds the vocabulary's pad rows (every
        // rank of every W is compared through the API above).
        for (int r : new int[] {0, 5, 7}) {
            String[] way = ways[(r + f.ordinal()) % ways.length];
            assertEquals(0, run("load", paths.get(f).toString(), "--partition", "auto", "--rank", "" + r,
                    "--world-size", "8", "--digest", "--json", way[0], way[1]), err.toString());
            @SuppressWarnings("unchecked")
            Map<String, Object> digests = (Map<String, Object>) JsonReplies.parse(out.toString()).get("digests");
            assertEquals(full.get(f).keySet(), digests.keySet(), f.label() + " rank " + r);
            for (String name : full.get(f).keySet()) {
                assertEquals(Digests.crc32(MemorySegment.ofArray(expected(f, name, r, 8, false))), digests.get(name),
                        f.label() + " " + name + " rank " + r + " " + way[1]);
            }
        }
    }

    @ParameterizedTest
    @EnumSource(HubFamily.class)
    void reshardWritesEachRanksBytes(HubFamily f) throws IOException {
        for (String partition : f.hasExperts() ? List.of("auto", "auto-experts") : List.of("auto")) {
            Path to = dir.resolve("resharded-" + f.label() + "-" + partition);
            assertEquals(0, run("reshard", paths.get(f).toString(), to.toString(), "--world-size", "4", "--partition",
                    partition), err.toString());
            for (int r = 0; r < 4; r++) {
                try (Checkpoint rank = Checkpoint.open(to.resolve(String.format("rank-%05d", r)));
                     Arena arena = Arena.ofConfined()) {
                    for (String name : full.get(f).keySet()) {
                        byte[] want = expected(f, name, r, 4, partition.equals("auto-experts"));
                        if (want == null) {
                            assertTrue(rank.find(name).isEmpty(), name);
                        } else {
                            assertArrayEquals(want, rank.copy(name, arena).data().toArray(ValueLayout.JAVA_BYTE),
                                    f.label() + " " + name + " in rank " + r + "'s folder (" + partition + ")");
                        }
                    }
                }
            }
        }
    }

    @Test
    void planSaysWhatEachRankGetsAndWritesTheRulesOut() throws IOException {
        String llama = paths.get(HubFamily.LLAMA).toString();
        assertEquals(0, run("plan", llama, "--partition", "auto", "--rank", "7", "--world-size", "8"), err.toString());
        String text = out.toString();
        assertTrue(text.contains("model.layers.0.self_attn.k_proj.weight: dimension 0: 4 heads of 16 over 8 ranks, "
                + "each held by 2"), text);
        assertTrue(text.contains("model.layers.0.self_attn.q_proj.weight: dimension 0: 8 heads of 16 over 8 ranks, "
                + "1 each"), text);
        assertTrue(text.contains("model.embed_tokens.weight: dimension 0: 1000 rows padded to 1024, 128 per rank; rank 7 "
                + "holds 104 and 24 zero rows"), text);
        assertTrue(text.contains("of pad rows written as zeros"), text);

        assertEquals(0, run("plan", paths.get(HubFamily.PHI3).toString(), "--partition", "auto", "--rank", "5",
                "--world-size", "8", "--json"), err.toString());
        Map<String, Object> plan = JsonReplies.parse(out.toString());
        @SuppressWarnings("unchecked")
        Map<String, Object> qkv = (Map<String, Object>) ((Map<String, Object>) plan.get("slices"))
                .get("model.layers.0.self_attn.qkv_proj.weight");
        // q: 8 heads of 16, one each; k and v: 4 heads, rank 5 holding head 2 (5 / 2) of each.
        assertEquals(List.of(16L + 16 + 16, 128L), qkv.get("shape"));
        assertEquals(List.of(Map.of("from", 80L, "to", 96L, "pad", 0L), Map.of("from", 128 + 32L, "to", 128 + 48L,
                "pad", 0L), Map.of("from", 192 + 32L, "to", 192 + 48L, "pad", 0L)), qkv.get("parts"));
        @SuppressWarnings("unchecked")
        Map<String, Object> head = (Map<String, Object>) ((Map<String, Object>) plan.get("slices")).get("lm_head.weight");
        // 4000 rows padded to 4032, 504 per rank: rank 5 holds [2520, 3024).
        assertEquals(List.of(Map.of("from", 2520L, "to", 3024L, "pad", 0L)), head.get("parts"));

        // The rules auto wrote out are a rules file: loading with it gives the same bytes.
        @SuppressWarnings("unchecked")
        Map<String, Object> rules = (Map<String, Object>) plan.get("partition_rules");
        Path rulesFile = dir.resolve("phi3-rules.json");
        String json = PartitionSpec.fromConfig(Checkpoint.open(paths.get(HubFamily.PHI3)), false).toJson();
        Files.writeString(rulesFile, json);
        assertEquals(JsonReplies.parse(json), rules);
        assertEquals(0, run("load", paths.get(HubFamily.PHI3).toString(), "--partition", rulesFile.toString(),
                "--rank", "7", "--world-size", "8", "--digest", "--json"), err.toString());
        @SuppressWarnings("unchecked")
        Map<String, Object> digests = (Map<String, Object>) JsonReplies.parse(out.toString()).get("digests");
        for (String name : full.get(HubFamily.PHI3).keySet()) {
            assertEquals(Digests.crc32(MemorySegment.ofArray(expected(HubFamily.PHI3, name, 7, 8, false))),
                    digests.get(name), name);
        }
    }

    @Test
    void expertsWholeAreDealtInContiguousBlocks() {
        try (Checkpoint c = Checkpoint.open(paths.get(HubFamily.DEEPSEEK_V3))) {
            LoadPlan plan = new Planner().plan(c, LoadOptions.DEFAULTS.withPartitioning(
                    new Partitioning(3, 8, PartitionSpec.fromConfig(c, true))));
            // 16 routed experts over 8 ranks: rank 3 holds experts 6 and 7 whole; shared experts split.
            String layer = "model.layers.1.mlp.";
            for (int e = 0; e < 16; e++) {
                boolean held = plan.slices().containsKey(layer + "experts." + e + ".down_proj.weight");
                assertEquals(e == 6 || e == 7, held, "expert " + e);
            }
            assertEquals(32L * 1 / 8, plan.slices().get(layer + "shared_experts.gate_proj.weight").local().dim(0));
            assertNull(plan.slices().get(layer + "experts.5.gate_proj.weight"));
        }
    }

    /** A checkpoint of the family whose config.json has {@code from} replaced by {@code to}. */
    private static Path broken(String name, HubModel m, String from, String to) throws IOException {
        Path p = dir.resolve("broken-" + name);
        HubCheckpointGenerator.generate(m, p);
        String config = Files.readString(p.resolve("config.json"));
        assertTrue(config.contains(from), config);
        Files.writeString(p.resolve("config.json"), config.replace(from, to));
        return p;
    }

    @Test
    void whatTheRulesCannotHonourIsAOneLineUsageErrorNamingTensorNumbersAndReason() throws IOException {
        HubModel llama = HubModel.of(HubFamily.LLAMA);
        Path twelveHeads = broken("twelve-heads", llama.withAttention(192, 12, 4, 0), "\"model_type\"", "\"model_type\"");
        Path threeKv = broken("three-kv", llama.withAttention(192, 12, 3, 0),
                "\"model_type\"", "\"model_type\"");
        Path fused = broken("fused", HubModel.of(HubFamily.PHI3), "\"num_key_value_heads\" : 4",
                "\"num_key_value_heads\" : 2");
        Path wide = broken("wide", llama, "\"num_attention_heads\" : 8", "\"num_attention_heads\" : 8, \"head_dim\" : 20");
        Path unknown = broken("unknown", llama, "\"model_type\" : \"llama\"", "\"model_type\" : \"falcon\"");
        Path numbered = broken("numbered", llama, "\"model_type\" : \"llama\"", "\"model_type\" : 5");
        Path quantized = broken("quantized", llama, "\"model_type\"", "\"quantization_config\" : {\"quant_method\" : "
                + "\"fp8\"}, \"model_type\"");
        Path noConfig = dir.resolve("no-config");
        HubCheckpointGenerator.generate(llama, noConfig);
        Files.delete(noConfig.resolve("config.json"));
        Object[][] cases = {
                {twelveHeads, 8, "model.layers.0.self_attn.q_proj.weight: 12 heads of 16 do not divide among 8 ranks: "
                        + "each rank must hold whole heads"},
                {threeKv, 2, "model.layers.0.self_attn.k_proj.weight: 3 heads of 16 do not divide among 2 ranks"},
                {threeKv, 4, "model.layers.0.self_attn.k_proj.weight: 3 heads of 16 over 4 ranks: fewer heads than ranks,"
                        + " and 4 is not a multiple of 3"},
                {fused, 2, "model.layers.0.self_attn.qkv_proj.weight: fused parts q 128 + k 32 + v 32 = 192 rows, but "
                        + "dimension 0 is 256: the parts do not add up"},
                {wide, 2, "model.layers.0.self_attn.q_proj.weight: dimension 0 is 128, but 8 heads of 20 make 160"},
                {unknown, 2, "model_type \"falcon\" is not one --partition auto knows"},
                {numbered, 2, "config.json: gives no model_type (a string), so --partition auto knows no family (llama,"},
                {quantized, 2, "a quantized checkpoint (quantization_config)"},
                {noConfig, 2, noConfig.resolve("config.json") + " does not exist"},
        };
        for (Object[] c : cases) {
            for (String command : List.of("load", "plan")) {
                int rc = run(command, c[0].toString(), "--partition", "auto", "--rank", "1", "--world-size",
                        c[1].toString());
                String e = err.toString();
                assertEquals(2, rc, c[2] + ": " + e);
                assertEquals(1, e.lines().count(), e);
                assertTrue(e.startsWith("error: Usage: ") && e.contains((String) c[2]), e);
            }
        }
    }

    @Test
    void genWritesAFamilyAndRefusesFlagsThatDoNotApply() throws IOException {
        Path to = dir.resolve("gen-qwen3-moe");
        assertEquals(0, run("gen", to.toString(), "--model", "qwen3-moe", "--layers", "3", "--experts", "4",
                "--shard-size", "64KiB"), err.toString());
        assertTrue(out.toString().contains("wrote qwen3-moe (qwen3_moe)"), out.toString());
        try (Checkpoint c = Checkpoint.open(to)) {
            assertTrue(c.index() != null, "sharded, with an index");
            assertTrue(c.find("model.layers.2.mlp.experts.3.down_proj.weight").isPresent());
            assertTrue(c.find("model.layers.2.mlp.experts.4.down_proj.weight").isEmpty());
        }
        assertTrue(Files.readString(to.resolve("config.json")).contains("\"num_experts\" : 4"));
        // A size flag the layout has no use for would change nothing, or config.json alone.
        for (String[] bad : new String[][] {{"--model", "falcon"}, {"--model", "llama", "--size", "1MiB"},
                {"--model", "llama", "--hidden", "100"}, {"--layers", "7"}, {"--model", "llama", "--experts", "8"},
                {"--model", "mixtral", "--intermediate", "77"}, {"--model", "qwen3-moe", "--intermediate", "99"},
                {"--model", "deepseek-v2", "--head-dim", "7"}}) {
            List<String> args = new java.util.ArrayList<>(List.of("gen", dir.resolve("gen-bad").toString()));
            args.addAll(List.of(bad));
            assertEquals(2, run(args.toArray(String[]::new)), String.join(" ", bad) + ": " + err);
            assertEquals(1, err.toString().lines().count(), err.toString());
        }
        assertEquals("error: Usage: --head-dim does not apply to deepseek-v2, whose attention (MLA) has sizes of its"
                + " own", err.toString().strip());
        // Mixtral's intermediate_size is its experts' width, as transformers writes it.
        Path mixtral = dir.resolve("gen-mixtral");
        assertEquals(0, run("gen", mixtral.toString(), "--model", "mixtral", "--expert-width", "96"), err.toString());
        assertTrue(Files.readString(mixtral.resolve("config.json")).contains("\"intermediate_size\" : 96"));
        // MLA's head sizes are its own: any hidden size will do, and the config's KV heads are the query heads.
        Path mla = dir.resolve("gen-deepseek");
        assertEquals(0, run("gen", mla.toString(), "--model", "deepseek-v2", "--hidden", "100", "--heads", "16"),
                err.toString());
        assertTrue(Files.readString(mla.resolve("config.json")).contains("\"num_key_value_heads\" : 16"));
    }

    @Test
    void serveResolvesAutoFromTheConfigBesideTheServedCheckpoint() {
        PlanCommand command = new PlanCommand();
        new picocli.CommandLine(command).parseArgs(paths.get(HubFamily.PHI3).toString(), "--partition", "auto",
                "--rank", "5", "--world-size", "8");
        Partitioning served = command.flags.options(WeightSource.path(paths.get(HubFamily.PHI3))).partitioning();
        try (Checkpoint c = Checkpoint.open(paths.get(HubFamily.PHI3))) {
            assertEquals(PartitionSpec.fromConfig(c, false).toJson(), served.spec().toJson());
        }
        assertEquals(5, served.rank());
    }
}
