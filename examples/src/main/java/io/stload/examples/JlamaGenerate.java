package io.stload.examples;

import com.github.tjake.jlama.model.AbstractModel;
import com.github.tjake.jlama.model.ModelSupport;
import com.github.tjake.jlama.model.functions.Generator;
import com.github.tjake.jlama.safetensors.SafeTensorSupport;
import com.github.tjake.jlama.safetensors.WeightLoader;
import com.github.tjake.jlama.safetensors.prompt.PromptContext;
import com.github.tjake.jlama.tensor.AbstractTensor;
import io.stload.checkpoint.Checkpoint;
import io.stload.format.Convert;
import io.stload.format.DType;
import io.stload.format.SafetensorsWriter;
import io.stload.format.SafetensorsWriter.TensorData;
import io.stload.jlama.StloadWeightLoader;
import io.stload.plan.LoadOptions;
import io.stload.plan.LoadStrategy;
import java.io.File;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.SplittableRandom;
import java.util.UUID;
import java.util.function.Function;

/**
 * Jlama on stload: writes a tiny Llama as transformers writes one (config.json, tokenizer.json, BF16 weights under
 * transformers' names), checks that every tensor stload's {@link StloadWeightLoader} gives Jlama is the one Jlama's own
 * loader gives (class, shape, bytes), then builds Jlama's model on each loader and checks that greedy generation says
 * the same thing on all of them. Needs {@code --add-modules jdk.incubator.vector} (Jlama's tensors use the Vector
 * API).
 */
final class JlamaGenerate {
    private static final int HIDDEN = 64;
    private static final int INTERMEDIATE = 128;
    private static final int HEADS = 4;
    private static final int KV_HEADS = 2;
    private static final int LAYERS = 2;
    private static final int VOCAB = 64;
    private static final String PROMPT = "hello world";
    private static final int TOKENS = 8;

    private JlamaGenerate() {
    }

    static String run(SampleCheckpoint checkpoint) throws Exception {
        Path dir = writeTinyLlama(checkpoint.dir().resolveSibling(checkpoint.dir().getFileName() + "-jlama"));

        // Tensor for tensor, stload's lazy views are what Jlama's own loader reads.
        int tensors = 0;
        try (WeightLoader jlamas = SafeTensorSupport.loadWeights(dir.toFile());
             StloadWeightLoader ours = StloadWeightLoader.open(dir)) {
            if (!jlamas.tensorInfoMap().equals(ours.tensorInfoMap())) {
                throw new AssertionError("the tensor tables differ");
            }
            for (String name : jlamas.tensorInfoMap().keySet()) {
                AbstractTensor a = jlamas.load(name);
                AbstractTensor b = ours.load(name);
                long at = a.getMemorySegment().mismatch(b.getMemorySegment());
                if (a.getClass() != b.getClass() || !a.shape().equals(b.shape()) || at != -1) {
                    throw new AssertionError(name + ": " + b.getClass().getSimpleName() + b.shape() + " differs from "
                            + "Jlama's " + a.getClass().getSimpleName() + a.shape() + (at == -1 ? "" : " at byte " + at));
                }
                tensors++;
            }
        }

        // The same model on each loader: the same greedy tokens.
        Generator.Response expected = generate(dir, SafeTensorSupport::loadWeights);
        if (expected.generatedTokens < 2) {
            throw new AssertionError("the tiny model stopped after " + expected.generatedTokens + " tokens");
        }
        generate(dir, "stload lazy", expected, d -> StloadWeightLoader.open(d.toPath()));
        try (Checkpoint ckpt = Checkpoint.open(dir)) {
            generate(dir, "stload direct", expected,
                    d -> StloadWeightLoader.load(ckpt, LoadOptions.DEFAULTS.withStrategy(LoadStrategy.DIRECT)));
        }
        return tensors + " tensors as Jlama's loader reads them; " + expected.generatedTokens
                + " greedy tokens the same on Jlama's loader, stload lazy and stload direct: \""
                + expected.responseText + "\"";
    }

    private static void generate(Path dir, String which, Generator.Response expected,
                                 Function<File, WeightLoader> loader) throws Exception {
        Generator.Response got = generate(dir, loader);
        if (!got.responseText.equals(expected.responseText) || got.generatedTokens != expected.generatedTokens) {
            throw new AssertionError(which + " generated \"" + got.responseText + "\", Jlama's loader \""
                    + expected.responseText + "\"");
        }
    }

    /** Builds Jlama's model on {@code loader} and generates greedily (temperature 0). */
    private static Generator.Response generate(Path dir, Function<File, WeightLoader> loader) throws Exception {
        // Jlama pages its KV cache into a working folder: one beside the model, not a new one in /tmp each run.
        File work = Files.createDirectories(dir.resolveSibling(dir.getFileName() + "-work")).toFile();
        AbstractModel model = ModelSupport.loadModel(AbstractModel.InferenceType.FULL_GENERATION, dir.toFile(), work,
                com.github.tjake.jlama.safetensors.DType.F32, com.github.tjake.jlama.safetensors.DType.F32,
                Optional.empty(), Optional.empty(), Optional.empty(), loader);
        try (WeightLoader weights = model.getWeights()) {
            return model.generate(UUID.randomUUID(), PromptContext.of(PROMPT), 0f, TOKENS, (piece, time) -> { });
        } finally {
            model.close();
        }
    }

    /** A tiny Llama (2 layers, width 64, 4 heads over 2 key/value heads, a vocabulary of 64) in transformers' layout. */
    private static Path writeTinyLlama(Path dir) throws IOException {
        Files.createDirectories(dir);
        Files.writeString(dir.resolve("config.json"), """
                {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "torch_dtype": "bfloat16",
                 "hidden_size": %d, "intermediate_size": %d, "num_attention_heads": %d, "num_key_value_heads": %d,
                 "num_hidden_layers": %d, "vocab_size": %d, "max_position_embeddings": 128, "rms_norm_eps": 1e-05,
                 "bos_token_id": 1, "eos_token_id": 2, "hidden_act": "silu", "rope_theta": 10000.0,
                 "tie_word_embeddings": false}
                """.formatted(HIDDEN, INTERMEDIATE, HEADS, KV_HEADS, LAYERS, VOCAB));
        Files.writeString(dir.resolve("tokenizer.json"), tokenizer());
        SplittableRandom random = new SplittableRandom(7);
        int kv = HIDDEN / HEADS * KV_HEADS;
        List<TensorData> tensors = new ArrayList<>();
        tensors.add(bf16("model.embed_tokens.weight", random, 0.5, VOCAB, HIDDEN));
        for (int l = 0; l < LAYERS; l++) {
            String p = "model.layers." + l + ".";
            tensors.add(norm(p + "input_layernorm.weight", random));
            tensors.add(bf16(p + "self_attn.q_proj.weight", random, 0.2, HIDDEN, HIDDEN));
            tensors.add(bf16(p + "self_attn.k_proj.weight", random, 0.2, kv, HIDDEN));
            tensors.add(bf16(p + "self_attn.v_proj.weight", random, 0.2, kv, HIDDEN));
            tensors.add(bf16(p + "self_attn.o_proj.weight", random, 0.2, HIDDEN, HIDDEN));
            tensors.add(norm(p + "post_attention_layernorm.weight", random));
            tensors.add(bf16(p + "mlp.gate_proj.weight", random, 0.2, INTERMEDIATE, HIDDEN));
            tensors.add(bf16(p + "mlp.up_proj.weight", random, 0.2, INTERMEDIATE, HIDDEN));
            tensors.add(bf16(p + "mlp.down_proj.weight", random, 0.2, HIDDEN, INTERMEDIATE));
        }
        tensors.add(norm("model.norm.weight", random));
        tensors.add(bf16("lm_head.weight", random, 0.5, VOCAB, HIDDEN));
        SafetensorsWriter.write(dir.resolve("model.safetensors"), Map.of("format", "pt"), tensors);
        return dir;
    }

    /** A byte-pair tokenizer: three special tokens, the space and the letters, a few merges, reserved tokens. */
    private static String tokenizer() {
        List<String> vocab = new ArrayList<>(List.of("<unk>", "<s>", "</s>", " "));
        for (char c = 'a'; c <= 'z'; c++) {
            vocab.add(String.valueOf(c));
        }
        List<String> merges = List.of("h e", "l l", "he ll", "hell o", "o r", "w or", "wor l", "worl d");
        merges.forEach(m -> vocab.add(m.replace(" ", "")));
        while (vocab.size() < VOCAB) {
            vocab.add("<reserved_" + vocab.size() + ">");
        }
        StringBuilder v = new StringBuilder();
        for (int i = 0; i < vocab.size(); i++) {
            v.append(i == 0 ? "" : ", ").append('"').append(vocab.get(i)).append("\": ").append(i);
        }
        return """
                {"version": "1.0",
                 "added_tokens": [{"id": 0, "content": "<unk>", "special": true},
                                  {"id": 1, "content": "<s>", "special": true},
                                  {"id": 2, "content": "</s>", "special": true}],
                 "normalizer": null, "pre_tokenizer": null,
                 "model": {"type": "BPE", "unk_token": "<unk>", "fuse_unk": true, "byte_fallback": false,
                           "vocab": {%s}, "merges": ["%s"]}}
                """.formatted(v, String.join("\", \"", merges));
    }

    private static TensorData norm(String name, SplittableRandom random) {
        TensorData t = bf16(name, random, 0.1, HIDDEN);
        MemorySegment s = MemorySegment.ofArray(t.data());
        for (int i = 0; i < HIDDEN; i++) { // around 1, as a trained norm's weights are
            float f = Convert.bf16ToF32(s.getAtIndex(ValueLayout.JAVA_SHORT_UNALIGNED, i));
            s.setAtIndex(ValueLayout.JAVA_SHORT_UNALIGNED, i, Convert.f32ToBf16(1 + f));
        }
        return t;
    }

    private static TensorData bf16(String name, SplittableRandom random, double scale, long... shape) {
        long count = 1;
        for (long d : shape) {
            count *= d;
        }
        byte[] bytes = new byte[(int) count * 2];
        MemorySegment s = MemorySegment.ofArray(bytes);
        for (int i = 0; i < count; i++) {
            s.setAtIndex(ValueLayout.JAVA_SHORT_UNALIGNED, i,
                    Convert.f32ToBf16((float) ((random.nextDouble() * 2 - 1) * scale)));
        }
        return new TensorData(name, DType.BF16, shape, bytes);
    }
}
