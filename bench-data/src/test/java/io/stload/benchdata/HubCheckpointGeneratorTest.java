package io.stload.benchdata;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.stload.checkpoint.Checkpoint;
import io.stload.format.SafetensorsWriter.Entry;
import java.io.IOException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/** Checkpoints in the hub's layout: config.json, transformers' names and shapes, shards, and gen's directory rules. */
class HubCheckpointGeneratorTest {
    @TempDir
    Path tmp;

    @ParameterizedTest
    @EnumSource(HubFamily.class)
    void everyFamilyWritesItsConfigAndTensorsAsTheHubHoldsThem(HubFamily f) throws IOException {
        HubModel m = HubModel.of(f).withShardBytes(128 << 10);
        Path dir = tmp.resolve(f.label());
        List<Path> files = HubCheckpointGenerator.generate(m, dir);
        assertTrue(files.size() > 1, "sharded: " + files);
        String config = Files.readString(dir.resolve("config.json"));
        assertTrue(config.contains("\"model_type\" : \"" + f.modelType() + "\""), config);
        assertTrue(config.contains("\"" + f.architecture() + "\""), config);
        // transformers refuses a model whose special tokens lie past its vocabulary (Phi-3's defaults are 32000).
        for (String token : List.of("pad_token_id", "bos_token_id", "eos_token_id")) {
            assertTrue(config.matches("(?s).*\"" + token + "\" : [0-2],.*"), token + " in " + config);
        }
        try (Checkpoint c = Checkpoint.open(dir)) {
            assertEquals(m.tensors().size(), c.tensors().size());
            for (Entry e : m.tensors()) {
                assertArrayEquals(e.shape(), c.info(e.name()).shape().toArray(), e.name());
            }
        }
        // The same model gives the same bytes, and replaces the earlier run's files in the same directory.
        HubCheckpointGenerator.generate(m, dir);
        try (Stream<Path> listed = Files.list(dir)) {
            assertEquals(files.size() + 3, listed.count(), "shards, index, config.json and gen's marker");
        }
    }

    /** Gemma 3's vision tower has no pooling head; without the hub's false, SigLIP builds one the file lacks. */
    @Test
    void gemma3sVisionTowerHasNoPoolingHead() {
        assertTrue(HubModel.of(HubFamily.GEMMA3).configJson().contains("\"vision_use_head\" : false"));
    }

    @Test
    void transformersNamesAndShapesOfTheLayoutsThatDiffer() {
        String d = "model.layers.0.self_attn.";
        assertShape(HubModel.of(HubFamily.PHI3), d + "qkv_proj.weight", (8 + 2 * 4) * 16, 128);
        assertShape(HubModel.of(HubFamily.PHI3), "model.layers.1.mlp.gate_up_proj.weight", 2 * 256, 128);
        assertShape(HubModel.of(HubFamily.MISTRAL), d + "k_proj.weight", 2 * 32, 128); // head_dim given
        assertShape(HubModel.of(HubFamily.QWEN2), d + "k_proj.bias", 2 * 16);
        assertShape(HubModel.of(HubFamily.QWEN3), d + "q_norm.weight", 32);
        assertShape(HubModel.of(HubFamily.GEMMA3), "language_model.model.layers.0.self_attn.q_proj.weight", 8 * 32, 128);
        assertShape(HubModel.of(HubFamily.GEMMA3), "vision_tower.vision_model.embeddings.position_embedding.weight",
                64, 64);
        assertShape(HubModel.of(HubFamily.MIXTRAL), "model.layers.1.block_sparse_moe.experts.7.w2.weight", 128, 128);
        assertShape(HubModel.of(HubFamily.QWEN2_MOE), "model.layers.0.mlp.shared_expert_gate.weight", 1, 128);
        assertShape(HubModel.of(HubFamily.DEEPSEEK_V3), d + "q_b_proj.weight", 16 * 24, 48);
        assertShape(HubModel.of(HubFamily.DEEPSEEK_V3), d + "kv_a_proj_with_mqa.weight", 64 + 8, 128);
        assertShape(HubModel.of(HubFamily.DEEPSEEK_V3), "model.layers.1.mlp.experts.15.down_proj.weight", 128, 32);
        assertShape(HubModel.of(HubFamily.DEEPSEEK_V3), "model.layers.0.mlp.gate_proj.weight", 256, 128); // dense
        assertShape(HubModel.of(HubFamily.DEEPSEEK_V2), d + "q_proj.weight", 8 * 24, 128); // no q LoRA
        assertTrue(HubModel.of(HubFamily.GEMMA2).tensors().stream().noneMatch(e -> e.name().equals("lm_head.weight")),
                "tied embeddings");
    }

    private static void assertShape(HubModel m, String name, long... shape) {
        Entry e = m.tensors().stream().filter(t -> t.name().equals(name)).findFirst().orElseThrow(() ->
                new AssertionError(name + " not among " + m.family() + "'s tensors"));
        assertArrayEquals(shape, e.shape(), name);
    }

    @Test
    void aDirectoryHoldingAnotherCheckpointOrConfigIsRefusedAndUntouched() throws IOException {
        Path dir = Files.createDirectories(tmp.resolve("hub"));
        Files.writeString(dir.resolve("config.json"), "{}");
        FileAlreadyExistsException e = assertThrows(FileAlreadyExistsException.class,
                () -> HubCheckpointGenerator.generate(HubModel.of(HubFamily.LLAMA), dir));
        assertTrue(e.getReason().contains("config.json"), e.getReason());
        assertEquals("{}", Files.readString(dir.resolve("config.json")));
    }
}
