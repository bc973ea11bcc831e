package io.stload.jlama;

import com.github.tjake.jlama.safetensors.SafeTensorSupport;
import io.stload.format.DType;
import io.stload.format.SafetensorsWriter;
import io.stload.format.SafetensorsWriter.TensorData;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.SplittableRandom;

/**
 * A tiny Llama written as transformers writes one: {@code config.json}, a byte-pair {@code tokenizer.json} in the
 * Hugging Face format, and BF16 weights in {@code model.safetensors} under transformers' names. Small (2 layers,
 * width 64, 4 heads over 2 key/value heads, a vocabulary of 64) but whole: Jlama's {@code LlamaModel} runs it, and
 * every dimension divides by 2 and by Jlama's quantization block of 32.
 */
final class TinyLlama {
    static final int HIDDEN = 64;
    static final int INTERMEDIATE = 128;
    static final int HEADS = 4;
    static final int KV_HEADS = 2;
    static final int LAYERS = 2;
    static final int VOCAB = 64;
    static final String PROMPT = "hello world";

    private TinyLlama() {
    }

    /**
     * Writes the model into {@code dir}.
     *
     * @param dir  an empty folder
     * @param seed the weights' seed
     * @return {@code dir}
     */
    static Path write(Path dir, long seed) throws IOException {
        Files.createDirectories(dir);
        Files.writeString(dir.resolve("config.json"), config(HIDDEN, INTERMEDIATE, HEADS, KV_HEADS, LAYERS, VOCAB, 128));
        Files.writeString(dir.resolve("tokenizer.json"), tokenizer(VOCAB));
        Files.writeString(dir.resolve("README.md"), "---\nlicense: apache-2.0\n---\n# tiny llama\n");
        SplittableRandom random = new SplittableRandom(seed);
        int kv = HIDDEN / HEADS * KV_HEADS;
        List<TensorData> tensors = new ArrayList<>();
        tensors.add(matrix("model.embed_tokens.weight", VOCAB, HIDDEN, 0.5, random));
        for (int l = 0; l < LAYERS; l++) {
            String p = "model.layers." + l + ".";
            tensors.add(norm(p + "input_layernorm.weight", random));
            tensors.add(matrix(p + "self_attn.q_proj.weight", HIDDEN, HIDDEN, 0.2, random));
            tensors.add(matrix(p + "self_attn.k_proj.weight", kv, HIDDEN, 0.2, random));
            tensors.add(matrix(p + "self_attn.v_proj.weight", kv, HIDDEN, 0.2, random));
            tensors.add(matrix(p + "self_attn.o_proj.weight", HIDDEN, HIDDEN, 0.2, random));
            tensors.add(norm(p + "post_attention_layernorm.weight", random));
            tensors.add(matrix(p + "mlp.gate_proj.weight", INTERMEDIATE, HIDDEN, 0.2, random));
            tensors.add(matrix(p + "mlp.up_proj.weight", INTERMEDIATE, HIDDEN, 0.2, random));
            tensors.add(matrix(p + "mlp.down_proj.weight", HIDDEN, INTERMEDIATE, 0.2, random));
        }
        tensors.add(norm("model.norm.weight", random));
        tensors.add(matrix("lm_head.weight", VOCAB, HIDDEN, 0.5, random));
        SafetensorsWriter.write(dir.resolve("model.safetensors"), Map.of("format", "pt"), tensors);
        return dir;
    }

    /**
     * Quantizes a model to Jlama's I8 with Jlama's own quantizer, as {@code jlama quantize} does.
     *
     * @param model the model's folder
     * @param into  the quantized model's folder (created)
     * @return {@code into}
     */
    static Path quantizeI8(Path model, Path into) throws IOException {
        return quantize(model, com.github.tjake.jlama.safetensors.DType.I8, into);
    }

    /** The model quantized by Jlama's own quantizer, as Jlama writes it. */
    static Path quantize(Path model, com.github.tjake.jlama.safetensors.DType dtype, Path into) throws IOException {
        return SafeTensorSupport.quantizeModel(model, dtype, null, null, Optional.of(into));
    }

    /** A Llama's config.json in transformers' layout, BF16, with the sizes given. */
    static String config(int hidden, int intermediate, int heads, int kvHeads, int layers, int vocab,
                         int maxPositions) {
        return """
                {
                  "architectures": ["LlamaForCausalLM"],
                  "model_type": "llama",
                  "torch_dtype": "bfloat16",
                  "hidden_size": %d,
                  "intermediate_size": %d,
                  "num_attention_heads": %d,
                  "num_key_value_heads": %d,
                  "num_hidden_layers": %d,
                  "max_position_embeddings": %d,
                  "rms_norm_eps": 1e-05,
                  "vocab_size": %d,
                  "bos_token_id": 1,
                  "eos_token_id": 2,
                  "hidden_act": "silu",
                  "rope_theta": 10000.0,
                  "tie_word_embeddings": false
                }
                """.formatted(hidden, intermediate, heads, kvHeads, layers, maxPositions, vocab);
    }

    /**
     * A byte-pair tokenizer: the three special tokens, the letters and the space, a few merges ("he", "ll", "hell",
     * "hello", "or", "wor", "world"), and reserved tokens up to {@code size}.
     */
    static String tokenizer(int size) {
        List<String> vocab = new ArrayList<>(List.of("<unk>", "<s>", "</s>", " "));
        for (char c = 'a'; c <= 'z'; c++) {
            vocab.add(String.valueOf(c));
        }
        List<String[]> merges = List.of(new String[] {"h", "e"}, new String[] {"l", "l"}, new String[] {"he", "ll"},
                new String[] {"hell", "o"}, new String[] {"o", "r"}, new String[] {"w", "or"},
                new String[] {"wor", "l"}, new String[] {"worl", "d"});
        for (String[] m : merges) {
            vocab.add(m[0] + m[1]);
        }
        while (vocab.size() < size) {
            vocab.add("<reserved_" + vocab.size() + ">");
        }
        StringBuilder v = new StringBuilder();
        for (int i = 0; i < vocab.size(); i++) {
            v.append(i == 0 ? "" : ", ").append('"').append(vocab.get(i)).append("\": ").append(i);
        }
        StringBuilder m = new StringBuilder();
        for (int i = 0; i < merges.size(); i++) {
            m.append(i == 0 ? "" : ", ").append("\"").append(merges.get(i)[0]).append(' ').append(merges.get(i)[1])
                    .append('"');
        }
        return """
                {
                  "version": "1.0",
                  "added_tokens": [
                    {"id": 0, "content": "<unk>", "special": true},
                    {"id": 1, "content": "<s>", "special": true},
                    {"id": 2, "content": "</s>", "special": true}
                  ],
                  "normalizer": null,
                  "pre_tokenizer": null,
                  "model": {
                    "type": "BPE",
                    "unk_token": "<unk>",
                    "fuse_unk": true,
                    "byte_fallback": false,
                    "vocab": {%s},
                    "merges": [%s]
                  }
                }
                """.formatted(v, m);
    }

    private static TensorData matrix(String name, int rows, int cols, double scale, SplittableRandom random) {
        float[] values = new float[rows * cols];
        for (int i = 0; i < values.length; i++) {
            values[i] = (float) ((random.nextDouble() * 2 - 1) * scale);
        }
        return new TensorData(name, DType.BF16, new long[] {rows, cols}, bf16(values));
    }

    private static TensorData norm(String name, SplittableRandom random) {
        float[] values = new float[HIDDEN];
        for (int i = 0; i < values.length; i++) {
            values[i] = (float) (1 + (random.nextDouble() - 0.5) * 0.2);
        }
        return new TensorData(name, DType.BF16, new long[] {HIDDEN}, bf16(values));
    }

    private static byte[] bf16(float[] values) {
        ByteBuffer b = ByteBuffer.allocate(values.length * 2).order(ByteOrder.LITTLE_ENDIAN);
        for (float f : values) {
            b.putShort((short) (Float.floatToRawIntBits(f) >>> 16));
        }
        return b.array();
    }
}
