package io.stload.plan;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.stload.ErrorKind;
import io.stload.StloadException;
import io.stload.checkpoint.Checkpoint;
import io.stload.checkpoint.TensorRef;
import io.stload.format.DType;
import io.stload.format.SafetensorsWriter;
import io.stload.format.SafetensorsWriter.TensorData;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The rules-file syntax for heads, fused parts and padded splits, its round trip through {@link PartitionSpec#toJson},
 * {@code auto}'s rules read from config.json, and the index ranges a slice says it holds.
 */
class ShapedRulesTest {
    static final String RULES = """
            {"rules": [
              {"pattern": "*.qkv_proj.weight", "split": 0, "head_dim": 96, "parts": [
                {"name": "q", "heads": 32, "divisible": true}, {"name": "k", "heads": 8}, {"name": "v", "heads": 8}]},
              {"pattern": "*.gate_up_proj.weight", "split": 0, "parts": [8192, {"name": "up", "size": 8192}], "divisible": true},
              {"pattern": "*.k_proj.weight", "split": 0, "head_dim": 128},
              {"pattern": "*.q_proj.weight", "split": 0, "heads": 32, "head_dim": 128, "divisible": true},
              {"regex": "lm_head\\\\.weight", "split": 0, "pad_to": 64},
              {"pattern": "*.experts.*", "experts": 16},
              {"pattern": "*", "replicate": true}
            ]}""";

    @Test
    void theSyntaxReadsHeadsPartsAndPaddingAndWritesThemBack() {
        PartitionSpec spec = PartitionSpec.parse("r.json", RULES);
        PartitionRule qkv = spec.ruleFor("model.layers.0.self_attn.qkv_proj.weight");
        assertEquals(List.of(new PartitionRule.Part("q", 3072, 96, true), new PartitionRule.Part("k", 768, 96, false),
                new PartitionRule.Part("v", 768, 96, false)), qkv.parts());
        assertEquals("*.qkv_proj.weight -> split 0 in parts q: 32 heads of 96 (divisible), k: 8 heads of 96, "
                + "v: 8 heads of 96", qkv.toString());
        PartitionRule gateUp = spec.ruleFor("x.gate_up_proj.weight");
        assertEquals(List.of(new PartitionRule.Part("", 8192, 0, true), new PartitionRule.Part("up", 8192, 0, true)),
                gateUp.parts());
        assertEquals(128, spec.ruleFor("x.k_proj.weight").headDim());
        assertEquals(32, spec.ruleFor("x.q_proj.weight").heads());
        assertEquals(64, spec.ruleFor("lm_head.weight").padTo());
        assertEquals(16, spec.ruleFor("a.experts.3.w1").expertCount());
        // Written out and read back, the rules are the same rules.
        PartitionSpec again = PartitionSpec.parse("again", spec.toJson());
        assertEquals(spec.rules().size(), again.rules().size());
        for (int i = 0; i < spec.rules().size(); i++) {
            PartitionRule a = spec.rules().get(i);
            PartitionRule b = again.rules().get(i);
            assertEquals(a.toString(), b.toString());
            assertEquals(a.pattern().pattern(), b.pattern().pattern());
            assertEquals(List.of(a.dim(), a.divisible(), a.heads(), a.headDim(), a.parts(), a.padTo(), a.expertCount()),
                    List.of(b.dim(), b.divisible(), b.heads(), b.headDim(), b.parts(), b.padTo(), b.expertCount()));
        }
    }

    @Test
    void badShapesAreOneLineUsageErrorsSayingWhy() {
        String[][] cases = {
                {"{\"pattern\": \"*\", \"replicate\": true, \"heads\": 4}", "apply to \"split\" only"},
                {"{\"pattern\": \"*\", \"split\": 0, \"pad_to\": 64, \"head_dim\": 4}", "\"pad_to\" pads a plain split"},
                {"{\"pattern\": \"*\", \"split\": 0, \"heads\": 4, \"parts\": [8]}", "each part gives its own \"heads\""},
                {"{\"pattern\": \"*\", \"split\": 0, \"parts\": []}", "at least one part"},
                {"{\"pattern\": \"*\", \"split\": 0, \"parts\": [{\"heads\": 4}]}", "part 0: \"heads\" needs \"head_dim\""},
                {"{\"pattern\": \"*\", \"split\": 0, \"parts\": [{\"heads\": 4, \"size\": 10}]}", "not whole heads"},
                {"{\"pattern\": \"*\", \"split\": 0, \"parts\": [{\"name\": \"q\"}]}", "needs a size"},
                {"{\"pattern\": \"*\", \"split\": 0, \"parts\": [\"q\"]}", "must be a size or an object"},
                {"{\"pattern\": \"*\", \"split\": 0, \"parts\": [{\"rows\": 3}]}", "unknown key \"rows\""},
                {"{\"pattern\": \"*\", \"split\": 0, \"head_dim\": 0}", "\"head_dim\" must be a whole number 1.."},
                {"{\"pattern\": \"*\", \"split\": 0, \"pad_to\": -64}", "\"pad_to\" must be a whole number 1.."},
        };
        for (String[] c : cases) {
            String json = "{\"rules\": [" + c[0] + "]}";
            StloadException e = assertThrows(StloadException.class, () -> PartitionSpec.parse("t.json", json), json);
            assertEquals(ErrorKind.Usage, e.kind(), json);
            assertTrue(e.getMessage().contains("partition rules t.json: rule 0") && e.getMessage().contains(c[1]),
                    e.getMessage());
            assertEquals(1, e.getMessage().lines().count());
        }
    }

    @Test
    void aSliceSaysWhichIndicesOfEachPartItHoldsAndItsPadRows(@TempDir Path dir) throws IOException {
        SafetensorsWriter.write(dir.resolve("m.safetensors"), Map.of(), List.of(
                new TensorData("l.qkv_proj.weight", DType.BF16, new long[] {(32 + 16) * 96, 4},
                        new byte[(32 + 16) * 96 * 4 * 2]),
                new TensorData("l.k_proj.weight", DType.BF16, new long[] {4 * 128, 2}, new byte[4 * 128 * 2 * 2]),
                new TensorData("lm_head.weight", DType.F32, new long[] {4000, 2}, new byte[4000 * 2 * 4])));
        Checkpoint c = Checkpoint.open(dir.resolve("m.safetensors"));
        PartitionSpec spec = PartitionSpec.parse("r", RULES);
        TensorRef qkv = c.tensor("l.qkv_proj.weight");
        TensorSlice s = TensorSlice.of(qkv, spec.ruleFor(qkv.name()), 5, 16);
        // 32 q heads over 16: 2 each; 8 KV heads over 16: each held by 2, rank 5 holding head 2.
        assertEquals(List.of(List.of(10 * 96L, 12 * 96L, 0L), List.of(3072 + 2 * 96L, 3072 + 3 * 96L, 0L),
                List.of(3840 + 2 * 96L, 3840 + 3 * 96L, 0L)), ranges(s));
        assertEquals(4 * 96, s.local().dim(0));
        assertEquals(List.of(new ByteRange(qkv.fileOffset() + 960 * 8, qkv.fileOffset() + 1152 * 8),
                new ByteRange(qkv.fileOffset() + 3264 * 8, qkv.fileOffset() + 3360 * 8),
                new ByteRange(qkv.fileOffset() + 4032 * 8, qkv.fileOffset() + 4128 * 8)), s.reads(0));
        assertEquals(List.of(new ByteRange(qkv.fileOffset() + 960 * 8, qkv.fileOffset() + 4128 * 8)),
                s.reads(1 << 20), "gaps under the bound are read through");

        TensorRef k = c.tensor("l.k_proj.weight");
        assertEquals(List.of(List.of(128L, 256L, 0L)), ranges(TensorSlice.of(k, spec.ruleFor(k.name()), 3, 8)));

        TensorRef head = c.tensor("lm_head.weight");
        TensorSlice last = TensorSlice.of(head, spec.ruleFor(head.name()), 7, 8);
        assertEquals(List.of(List.of(3528L, 4000L, 32L)), ranges(last));
        assertEquals(504, last.local().dim(0));
        assertEquals(504 * 8, last.byteSize());
        assertEquals(472 * 8, last.fileBytes());
        assertEquals(List.of(new TensorSlice.Pad(472 * 8, 32 * 8, 1, 504 * 8)), last.pads());
    }

    private static List<List<Long>> ranges(TensorSlice s) {
        return s.parts().stream().map(p -> List.of(p.from(), p.to(), p.pad())).toList();
    }

    @Test
    void autoReadsTheLanguageModelsNumbersFromANestedTextConfig(@TempDir Path dir) throws IOException {
        Path config = dir.resolve("config.json");
        Files.writeString(config, """
                {"architectures": ["Gemma3ForConditionalGeneration"], "model_type": "gemma3",
                 "text_config": {"model_type": "gemma3_text", "hidden_size": 2560, "num_attention_heads": 8,
                                 "num_key_value_heads": 4, "head_dim": 256, "vocab_size": 262208},
                 "vision_config": {"hidden_size": 1152, "num_attention_heads": 16}}""");
        PartitionSpec spec = PartitionSpec.fromConfig(config, false);
        assertTrue(spec.name().startsWith("auto (gemma3: 8 heads, 4 KV heads, head_dim 256, vocab 262208"), spec.name());
        assertTrue(spec.ruleFor("vision_tower.vision_model.encoder.layers.0.self_attn.q_proj.weight").replicates());
        assertTrue(spec.ruleFor("multi_modal_projector.mm_input_projection_weight").replicates());
        PartitionRule k = spec.ruleFor("language_model.model.layers.0.self_attn.k_proj.weight");
        assertEquals(List.of(0, 4L, 256L, false), List.of(k.dim(), k.heads(), k.headDim(), k.divisible()));
        PartitionRule o = spec.ruleFor("language_model.model.layers.0.self_attn.o_proj.weight");
        assertEquals(List.of(1, 8L, 256L, true), List.of(o.dim(), o.heads(), o.headDim(), o.divisible()));
        assertEquals(64, spec.ruleFor("language_model.model.embed_tokens.weight").padTo());
        assertTrue(spec.ruleFor("language_model.model.layers.0.self_attn.q_norm.weight").replicates());
    }

    /** A config.json beside weights it does not describe: the layout would be one no engine makes (vLLM refuses). */
    @Test
    void autoRefusesAConfigWhoseVocabularyIsNotTheEmbeddingsRows(@TempDir Path dir) throws IOException {
        SafetensorsWriter.write(dir.resolve("model.safetensors"), Map.of(), List.of(
                new TensorData("model.embed_tokens.weight", DType.F32, new long[] {1000, 2}, new byte[1000 * 2 * 4])));
        for (int vocab : new int[] {1000, 3}) {
            Files.writeString(dir.resolve("config.json"), """
                    {"model_type": "llama", "hidden_size": 128, "num_attention_heads": 4, "vocab_size": %d}"""
                    .formatted(vocab));
            try (Checkpoint c = Checkpoint.open(dir)) {
                if (vocab == 1000) {
                    assertEquals(64, PartitionSpec.fromConfig(c, false).ruleFor("model.embed_tokens.weight").padTo());
                    continue;
                }
                StloadException e = assertThrows(StloadException.class, () -> PartitionSpec.load("auto", c));
                assertEquals(ErrorKind.Usage, e.kind());
                assertTrue(e.getMessage().endsWith("vocab_size is 3, but `model.embed_tokens.weight` has 1000 rows: the"
                        + " config does not describe these weights"), e.getMessage());
            }
        }
    }

    /** A number written as a string reads as that string, not as the number it spells. */
    @Test
    void aNumberWrittenAsAStringIsSaidToBeOne() {
        StloadException e = assertThrows(StloadException.class, () -> PartitionSpec.fromConfigJson("c", """
                {"model_type": "llama", "hidden_size": 64, "num_attention_heads": "8", "vocab_size": 100}""", false));
        assertTrue(e.getMessage().endsWith("\"num_attention_heads\" must be a whole number of at least 0, not the string"
                + " \"8\""), e.getMessage());
    }

    @Test
    void autoKnowsEachFamilysLayout() {
        PartitionSpec phi3 = PartitionSpec.fromConfigJson("phi3", """
                {"model_type": "phi3", "hidden_size": 3072, "num_attention_heads": 32, "num_key_value_heads": 8,
                 "intermediate_size": 8192, "vocab_size": 32064}""", false);
        assertEquals(List.of(new PartitionRule.Part("q", 3072, 96, true), new PartitionRule.Part("k", 768, 96, false),
                new PartitionRule.Part("v", 768, 96, false)), phi3.ruleFor("model.layers.0.self_attn.qkv_proj.weight").parts());
        assertEquals(List.of(new PartitionRule.Part("gate", 8192, 0, true), new PartitionRule.Part("up", 8192, 0, true)),
                phi3.ruleFor("model.layers.0.mlp.gate_up_proj.weight").parts());

        String deepseek = """
                {"model_type": "deepseek_v3", "hidden_size": 7168, "num_attention_heads": 128, "vocab_size": 129280,
                 "n_routed_experts": 256, "q_lora_rank": 1536, "kv_lora_rank": 512, "qk_nope_head_dim": 128,
                 "qk_rope_head_dim": 64, "v_head_dim": 128}""";
        PartitionSpec split = PartitionSpec.fromConfigJson("v3", deepseek, false);
        PartitionRule qb = split.ruleFor("model.layers.0.self_attn.q_b_proj.weight");
        assertEquals(List.of(0, 128L, 192L), List.of(qb.dim(), qb.heads(), qb.headDim()));
        PartitionRule kvb = split.ruleFor("model.layers.0.self_attn.kv_b_proj.weight");
        assertEquals(List.of(0, 128L, 256L), List.of(kvb.dim(), kvb.heads(), kvb.headDim()));
        assertEquals(List.of(1, 128L), List.of(split.ruleFor("model.layers.0.self_attn.o_proj.weight").dim(),
                split.ruleFor("model.layers.0.self_attn.o_proj.weight").headDim()));
        for (String replicated : List.of("model.layers.0.self_attn.q_a_proj.weight",
                "model.layers.0.self_attn.kv_a_proj_with_mqa.weight", "model.layers.3.mlp.gate.weight",
                "model.layers.3.mlp.gate.e_score_correction_bias", "model.layers.0.self_attn.kv_a_layernorm.weight")) {
            assertTrue(split.ruleFor(replicated).replicates(), replicated);
        }
        assertEquals(0, split.ruleFor("model.layers.3.mlp.experts.7.gate_proj.weight").dim());
        assertEquals(1, split.ruleFor("model.layers.3.mlp.experts.7.down_proj.weight").dim());
        PartitionSpec whole = PartitionSpec.fromConfigJson("v3", deepseek, true);
        assertEquals(256, whole.ruleFor("model.layers.3.mlp.experts.7.down_proj.weight").expertCount());
        assertEquals(0, whole.ruleFor("model.layers.3.mlp.shared_experts.gate_proj.weight").dim(), "shared: split");

        PartitionSpec mixtral = PartitionSpec.fromConfigJson("mixtral", """
                {"model_type": "mixtral", "hidden_size": 4096, "num_attention_heads": 32, "num_key_value_heads": 8,
                 "vocab_size": 32000, "num_local_experts": 8}""", false);
        assertEquals(1, mixtral.ruleFor("model.layers.0.block_sparse_moe.experts.3.w2.weight").dim());
        assertTrue(mixtral.ruleFor("model.layers.0.block_sparse_moe.gate.weight").replicates());

        // transformers 5 writes a Qwen MoE's expert count as num_local_experts, 4 as num_experts.
        for (String key : List.of("num_experts", "num_local_experts")) {
            PartitionSpec qwenMoe = PartitionSpec.fromConfigJson("qwen3_moe", """
                    {"model_type": "qwen3_moe", "hidden_size": 128, "num_attention_heads": 4, "num_key_value_heads": 2,
                     "vocab_size": 1000, "%s": 6}""".formatted(key), true);
            assertEquals(6, qwenMoe.ruleFor("model.layers.0.mlp.experts.5.down_proj.weight").expertCount(), key);
        }

        PartitionSpec qwen = PartitionSpec.fromConfigJson("qwen2", """
                {"model_type": "qwen2", "hidden_size": 896, "num_attention_heads": 14, "num_key_value_heads": 2,
                 "vocab_size": 151936}""", false);
        PartitionRule kBias = qwen.ruleFor("model.layers.0.self_attn.k_proj.bias");
        assertEquals(List.of(0, 2L, 64L), List.of(kBias.dim(), kBias.heads(), kBias.headDim()));
        assertTrue(qwen.ruleFor("model.layers.0.self_attn.o_proj.bias").replicates(), "row-parallel bias");
    }

    @Test
    void aConfigAutoCannotReadIsAOneLineUsageError(@TempDir Path dir) throws IOException {
        String[][] cases = {
                {"{\"model_type\": \"llama\", \"hidden_size\": 100, \"num_attention_heads\": 8, \"vocab_size\": 10}",
                        "hidden_size 100 is not 8 whole heads (num_attention_heads), and no head_dim is given"},
                {"{\"model_type\": \"llama\", \"hidden_size\": 128, \"vocab_size\": 10}",
                        "\"num_attention_heads\" must be a whole number of at least 1, and is missing"},
                {"{\"model_type\": \"llama\", \"num_attention_heads\": 8, \"hidden_size\": \"big\"}",
                        "\"hidden_size\" must be a whole number"},
                {"[1, 2]", "not a JSON object"},
                {"{\"model_type\": ", "not valid JSON"},
        };
        for (String[] c : cases) {
            StloadException e = assertThrows(StloadException.class, () -> PartitionSpec.fromConfigJson("cfg", c[0], false),
                    c[0]);
            assertEquals(ErrorKind.Usage, e.kind());
            assertTrue(e.getMessage().contains("cfg") && e.getMessage().contains(c[1]), e.getMessage());
            assertEquals(1, e.getMessage().lines().count(), e.getMessage());
        }
        // Whole experts are dealt by their count; a split of each expert goes without it.
        String noCount = "{\"model_type\": \"mixtral\", \"hidden_size\": 128, \"num_attention_heads\": 8,"
                + " \"vocab_size\": 10}";
        assertTrue(assertThrows(StloadException.class, () -> PartitionSpec.fromConfigJson("cfg", noCount, true))
                .getMessage().contains("\"num_local_experts\" must be a whole number of at least 1, and is missing"));
        assertEquals(1, PartitionSpec.fromConfigJson("cfg", noCount, false)
                .ruleFor("model.layers.0.block_sparse_moe.experts.3.w2.weight").dim());
        StloadException missing = assertThrows(StloadException.class,
                () -> PartitionSpec.fromConfig(dir.resolve("config.json"), false));
        assertTrue(missing.getMessage().contains(dir.resolve("config.json") + " does not exist"), missing.getMessage());
        Path latin1 = Files.write(dir.resolve("latin1.json"), new byte[] {'{', '"', (byte) 0xe9, '"', ':', '1', '}'});
        StloadException notText = assertThrows(StloadException.class, () -> PartitionSpec.fromConfig(latin1, false));
        assertEquals(latin1 + ": not UTF-8 text, so not a model's configuration", notText.detail());
        StloadException named = assertThrows(StloadException.class, () -> PartitionSpec.load("auto"));
        assertEquals(ErrorKind.Usage, named.kind());
    }
}
