package io.stload.benchdata;

import io.stload.format.DType;
import io.stload.format.SafetensorsWriter.Entry;
import java.io.StringWriter;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import tools.jackson.core.JsonGenerator;
import tools.jackson.core.json.JsonFactory;

/**
 * A checkpoint as the hub holds one of a {@link HubFamily}: the numbers of its config.json and every tensor with
 * transformers' name and shape, in the order {@code save_pretrained} writes them. {@link #of} gives a small model of
 * the family whose splits are valid at 2, 4 and 8 ranks (heads divisible by 8, KV heads fewer than 8 where the
 * family has grouped-query attention, a vocabulary that is not a multiple of 64); the {@code with} methods scale it.
 * {@link HubCheckpointGenerator} writes it. Immutable.
 *
 * @param family       the family
 * @param layers       decoder layers
 * @param hidden       hidden size
 * @param heads        query heads ({@code num_attention_heads})
 * @param kvHeads      KV heads ({@code num_key_value_heads}); the query heads for MLA
 * @param headDim      indices per head, or 0 for {@code hidden / heads} (then config.json gives no head_dim)
 * @param intermediate the dense MLP's width ({@code intermediate_size})
 * @param vocab        vocabulary ({@code vocab_size})
 * @param experts      routed experts per MoE layer, 0 for a dense model
 * @param expertWidth  an expert's MLP width ({@code moe_intermediate_size}; Mixtral's is {@code intermediate})
 * @param shared       shared experts (DeepSeek's {@code n_shared_experts}; 1 for Qwen2-MoE's shared expert)
 * @param dtype        the element type of every tensor
 * @param seed         seed of the random tensor bytes
 * @param shardBytes   largest shard's tensor bytes, or 0 for one {@code model.safetensors}
 */
public record HubModel(HubFamily family, int layers, long hidden, long heads, long kvHeads, long headDim,
                       long intermediate, long vocab, int experts, long expertWidth, int shared, DType dtype, long seed,
                       long shardBytes) {
    /** DeepSeek's MLA: the q LoRA rank of V3 (V2-Lite has none), the KV LoRA rank and the head parts. */
    static final long Q_LORA = 48;
    static final long KV_LORA = 64;
    static final long QK_NOPE = 16;
    static final long QK_ROPE = 8;
    static final long V_HEAD = 16;
    /** Gemma 3's vision tower, small: a SigLIP of this width, heads, MLP, layers, and 8 x 8 patches. */
    static final long VISION_HIDDEN = 64;
    static final long VISION_HEADS = 4;
    static final long VISION_MLP = 128;
    static final int VISION_LAYERS = 2;
    static final long VISION_PATCHES = 64;
    static final long PATCH = 14;

    private static final JsonFactory JSON = JsonFactory.builder().build();

    /** Checks the numbers. */
    public HubModel {
        Objects.requireNonNull(family, "family");
        Objects.requireNonNull(dtype, "dtype");
        if (layers < 1 || hidden < 1 || heads < 1 || kvHeads < 1 || headDim < 0 || intermediate < 1 || vocab < 1
                || experts < 0 || expertWidth < 0 || shared < 0 || shardBytes < 0) {
            throw new IllegalArgumentException("every size of a model must be positive");
        }
        if (headDim == 0 && hidden % heads != 0 && !family.hasLatentAttention()) {
            throw new IllegalArgumentException("hidden size " + hidden + " is not " + heads + " whole heads; give a head_dim");
        }
        if (family.hasExperts() && (experts < 1 || expertWidth < 1)) {
            throw new IllegalArgumentException(family.label() + " needs experts and an expert width");
        }
    }

    /**
     * A small model of the family: 2 layers, a few kilobytes per tensor, valid at 2, 4 and 8 ranks.
     *
     * @param family the family
     * @return the model, BF16, seed 42, one file
     */
    public static HubModel of(HubFamily family) {
        DType bf16 = DType.BF16;
        return switch (family) {
            case LLAMA -> new HubModel(family, 2, 128, 8, 4, 0, 256, 1000, 0, 0, 0, bf16, 42, 0);
            case MISTRAL -> new HubModel(family, 2, 128, 8, 2, 32, 256, 1000, 0, 0, 0, bf16, 42, 0);
            case QWEN2 -> new HubModel(family, 2, 128, 8, 2, 0, 256, 1000, 0, 0, 0, bf16, 42, 0);
            case QWEN2_5 -> new HubModel(family, 2, 128, 16, 4, 0, 256, 1000, 0, 0, 0, bf16, 42, 0);
            case QWEN3 -> new HubModel(family, 2, 128, 8, 4, 32, 256, 1000, 0, 0, 0, bf16, 42, 0);
            case GEMMA2 -> new HubModel(family, 2, 96, 8, 4, 32, 192, 1000, 0, 0, 0, bf16, 42, 0);
            case GEMMA3 -> new HubModel(family, 2, 128, 8, 4, 32, 256, 1000, 0, 0, 0, bf16, 42, 0);
            case PHI3 -> new HubModel(family, 2, 128, 8, 4, 0, 256, 4000, 0, 0, 0, bf16, 42, 0);
            case MIXTRAL -> new HubModel(family, 2, 128, 8, 2, 0, 128, 1000, 8, 128, 0, bf16, 42, 0);
            case QWEN2_MOE -> new HubModel(family, 2, 128, 8, 8, 0, 256, 1000, 8, 64, 1, bf16, 42, 0);
            case QWEN3_MOE -> new HubModel(family, 2, 128, 8, 4, 32, 256, 1000, 16, 64, 0, bf16, 42, 0);
            case DEEPSEEK_V2 -> new HubModel(family, 2, 128, 8, 8, 0, 256, 1000, 8, 32, 2, bf16, 42, 0);
            case DEEPSEEK_V3 -> new HubModel(family, 2, 128, 16, 16, 0, 256, 4000, 16, 32, 1, bf16, 42, 0);
        };
    }

    /**
     * Returns a copy with another number of layers.
     *
     * @param n decoder layers
     * @return the changed copy
     */
    public HubModel withLayers(int n) {
        return new HubModel(family, n, hidden, heads, kvHeads, headDim, intermediate, vocab, experts, expertWidth,
                shared, dtype, seed, shardBytes);
    }

    /**
     * Returns a copy with other attention numbers.
     *
     * @param hiddenSize the hidden size
     * @param queryHeads query heads
     * @param keyValueHeads KV heads
     * @param perHead indices per head, or 0 for {@code hiddenSize / queryHeads}
     * @return the changed copy
     */
    public HubModel withAttention(long hiddenSize, long queryHeads, long keyValueHeads, long perHead) {
        return new HubModel(family, layers, hiddenSize, queryHeads, keyValueHeads, perHead, intermediate, vocab,
                experts, expertWidth, shared, dtype, seed, shardBytes);
    }

    /**
     * Returns a copy with another MLP width, vocabulary and experts.
     *
     * @param mlp        the dense MLP's width
     * @param vocabulary the vocabulary
     * @param routed     routed experts per MoE layer (0 for a dense family)
     * @param perExpert  an expert's MLP width
     * @return the changed copy
     */
    public HubModel withSizes(long mlp, long vocabulary, int routed, long perExpert) {
        return new HubModel(family, layers, hidden, heads, kvHeads, headDim, mlp, vocabulary, routed, perExpert, shared,
                dtype, seed, shardBytes);
    }

    /**
     * Returns a copy cut into shards.
     *
     * @param bytes the largest shard's tensor bytes, 0 for one file
     * @return the changed copy
     */
    public HubModel withShardBytes(long bytes) {
        return new HubModel(family, layers, hidden, heads, kvHeads, headDim, intermediate, vocab, experts, expertWidth,
                shared, dtype, seed, bytes);
    }

    /**
     * Returns a copy with other tensor bytes.
     *
     * @param s the seed
     * @return the changed copy
     */
    public HubModel withSeed(long s) {
        return new HubModel(family, layers, hidden, heads, kvHeads, headDim, intermediate, vocab, experts, expertWidth,
                shared, dtype, s, shardBytes);
    }

    /** {@return indices per attention head: {@code headDim}, or {@code hidden / heads}} */
    public long perHead() {
        return headDim > 0 ? headDim : hidden / heads;
    }

    /** {@return true when the LM head is the embedding (no {@code lm_head.weight})} */
    public boolean tiedEmbeddings() {
        return family == HubFamily.GEMMA2 || family == HubFamily.GEMMA3 || family == HubFamily.QWEN2_5;
    }

    /** {@return the first layers whose MLP is dense in DeepSeek models ({@code first_k_dense_replace})} */
    public int denseLayers() {
        return family == HubFamily.DEEPSEEK_V2 || family == HubFamily.DEEPSEEK_V3 ? 1 : 0;
    }

    /** {@return the prefix of the language model's tensors: {@code language_model.model.} for Gemma 3, else {@code model.}} */
    public String prefix() {
        return family == HubFamily.GEMMA3 ? "language_model.model." : "model.";
    }

    /** {@return every tensor, named and shaped as transformers saves the family, in its order} */
    public List<Entry> tensors() {
        List<Entry> out = new ArrayList<>();
        if (family == HubFamily.GEMMA3) {
            visionTower(out);
        }
        String p = prefix();
        out.add(t(p + "embed_tokens.weight", vocab, hidden));
        long d = perHead();
        for (int l = 0; l < layers; l++) {
            String layer = p + "layers." + l + ".";
            out.add(t(layer + "input_layernorm.weight", hidden));
            attention(layer + "self_attn.", d, out);
            out.add(t(layer + "post_attention_layernorm.weight", hidden));
            if (family == HubFamily.GEMMA2 || family == HubFamily.GEMMA3) {
                out.add(t(layer + "pre_feedforward_layernorm.weight", hidden));
                out.add(t(layer + "post_feedforward_layernorm.weight", hidden));
            }
            mlp(layer, l, out);
        }
        out.add(t(p + "norm.weight", hidden));
        if (!tiedEmbeddings()) {
            out.add(t("lm_head.weight", vocab, hidden));
        }
        return out;
    }

    private void attention(String a, long d, List<Entry> out) {
        switch (family) {
            case PHI3 -> {
                out.add(t(a + "qkv_proj.weight", (heads + 2 * kvHeads) * d, hidden));
                out.add(t(a + "o_proj.weight", hidden, heads * d));
            }
            case DEEPSEEK_V2, DEEPSEEK_V3 -> {
                long qk = QK_NOPE + QK_ROPE;
                if (family == HubFamily.DEEPSEEK_V3) {
                    out.add(t(a + "q_a_proj.weight", Q_LORA, hidden));
                    out.add(t(a + "q_a_layernorm.weight", Q_LORA));
                    out.add(t(a + "q_b_proj.weight", heads * qk, Q_LORA));
                } else {
                    out.add(t(a + "q_proj.weight", heads * qk, hidden));
                }
                out.add(t(a + "kv_a_proj_with_mqa.weight", KV_LORA + QK_ROPE, hidden));
                out.add(t(a + "kv_a_layernorm.weight", KV_LORA));
                out.add(t(a + "kv_b_proj.weight", heads * (QK_NOPE + V_HEAD), KV_LORA));
                out.add(t(a + "o_proj.weight", hidden, heads * V_HEAD));
            }
            default -> {
                out.add(t(a + "q_proj.weight", heads * d, hidden));
                boolean bias = family == HubFamily.QWEN2 || family == HubFamily.QWEN2_5 || family == HubFamily.QWEN2_MOE;
                if (bias) {
                    out.add(t(a + "q_proj.bias", heads * d));
                }
                out.add(t(a + "k_proj.weight", kvHeads * d, hidden));
                if (bias) {
                    out.add(t(a + "k_proj.bias", kvHeads * d));
                }
                out.add(t(a + "v_proj.weight", kvHeads * d, hidden));
                if (bias) {
                    out.add(t(a + "v_proj.bias", kvHeads * d));
                }
                out.add(t(a + "o_proj.weight", hidden, heads * d));
                if (family == HubFamily.QWEN3 || family == HubFamily.QWEN3_MOE || family == HubFamily.GEMMA3) {
                    out.add(t(a + "q_norm.weight", d));
                    out.add(t(a + "k_norm.weight", d));
                }
            }
        }
    }

    private void mlp(String layer, int l, List<Entry> out) {
        switch (family) {
            case PHI3 -> {
                out.add(t(layer + "mlp.gate_up_proj.weight", 2 * intermediate, hidden));
                out.add(t(layer + "mlp.down_proj.weight", hidden, intermediate));
            }
            case MIXTRAL -> {
                String moe = layer + "block_sparse_moe.";
                out.add(t(moe + "gate.weight", experts, hidden));
                for (int e = 0; e < experts; e++) {
                    String x = moe + "experts." + e + ".";
                    out.add(t(x + "w1.weight", expertWidth, hidden));
                    out.add(t(x + "w2.weight", hidden, expertWidth));
                    out.add(t(x + "w3.weight", expertWidth, hidden));
                }
            }
            case QWEN2_MOE, QWEN3_MOE -> {
                String m = layer + "mlp.";
                out.add(t(m + "gate.weight", experts, hidden));
                gatedExperts(m, out);
                if (family == HubFamily.QWEN2_MOE) {
                    gated(m + "shared_expert.", intermediate, out);
                    out.add(t(m + "shared_expert_gate.weight", 1, hidden));
                }
            }
            case DEEPSEEK_V2, DEEPSEEK_V3 -> {
                String m = layer + "mlp.";
                if (l < denseLayers()) {
                    gated(m, intermediate, out);
                    return;
                }
                out.add(t(m + "gate.weight", experts, hidden));
                if (family == HubFamily.DEEPSEEK_V3) {
                    out.add(new Entry(m + "gate.e_score_correction_bias", DType.F32, new long[] {experts}));
                }
                gatedExperts(m, out);
                gated(m + "shared_experts.", expertWidth * shared, out);
            }
            default -> gated(layer + "mlp.", intermediate, out);
        }
    }

    private void gatedExperts(String mlp, List<Entry> out) {
        for (int e = 0; e < experts; e++) {
            gated(mlp + "experts." + e + ".", expertWidth, out);
        }
    }

    private void gated(String m, long width, List<Entry> out) {
        out.add(t(m + "gate_proj.weight", width, hidden));
        out.add(t(m + "up_proj.weight", width, hidden));
        out.add(t(m + "down_proj.weight", hidden, width));
    }

    /** SigLIP as Gemma 3 carries it: patch and position embeddings, encoder layers, a post norm, the projector. */
    private void visionTower(List<Entry> out) {
        String v = "vision_tower.vision_model.";
        long h = VISION_HIDDEN;
        out.add(t(v + "embeddings.patch_embedding.weight", h, 3, PATCH, PATCH));
        out.add(t(v + "embeddings.patch_embedding.bias", h));
        out.add(t(v + "embeddings.position_embedding.weight", VISION_PATCHES, h));
        for (int l = 0; l < VISION_LAYERS; l++) {
            String layer = v + "encoder.layers." + l + ".";
            for (String norm : List.of("layer_norm1", "layer_norm2")) {
                out.add(t(layer + norm + ".weight", h));
                out.add(t(layer + norm + ".bias", h));
            }
            for (String proj : List.of("q_proj", "k_proj", "v_proj", "out_proj")) {
                out.add(t(layer + "self_attn." + proj + ".weight", h, h));
                out.add(t(layer + "self_attn." + proj + ".bias", h));
            }
            out.add(t(layer + "mlp.fc1.weight", VISION_MLP, h));
            out.add(t(layer + "mlp.fc1.bias", VISION_MLP));
            out.add(t(layer + "mlp.fc2.weight", h, VISION_MLP));
            out.add(t(layer + "mlp.fc2.bias", h));
        }
        out.add(t(v + "post_layernorm.weight", h));
        out.add(t(v + "post_layernorm.bias", h));
        out.add(t("multi_modal_projector.mm_input_projection_weight", h, hidden));
        out.add(t("multi_modal_projector.mm_soft_emb_norm.weight", h));
    }

    private Entry t(String name, long... shape) {
        return new Entry(name, dtype, shape);
    }

    /** {@return the config.json transformers writes for the model, with the keys engines read} */
    public String configJson() {
        StringWriter out = new StringWriter();
        try (JsonGenerator g = JSON.createGenerator(ShardIndexWriter.INDENTED, out)) {
            g.writeStartObject();
            g.writeArrayPropertyStart("architectures");
            g.writeString(family.architecture());
            g.writeEndArray();
            g.writeStringProperty("model_type", family.modelType());
            if (family == HubFamily.GEMMA3) {
                g.writeNumberProperty("mm_tokens_per_image", VISION_PATCHES);
                g.writeObjectPropertyStart("text_config");
                g.writeStringProperty("model_type", "gemma3_text");
                languageModel(g);
                g.writeEndObject();
                g.writeObjectPropertyStart("vision_config");
                g.writeStringProperty("model_type", "siglip_vision_model");
                g.writeNumberProperty("hidden_size", VISION_HIDDEN);
                g.writeNumberProperty("intermediate_size", VISION_MLP);
                g.writeNumberProperty("num_attention_heads", VISION_HEADS);
                g.writeNumberProperty("num_hidden_layers", VISION_LAYERS);
                g.writeNumberProperty("patch_size", PATCH);
                g.writeNumberProperty("image_size", PATCH * 8);
                // Gemma 3's vision tower has no pooling head, as the hub's configs say; left out, SigLIP builds one.
                g.writeBooleanProperty("vision_use_head", false);
                g.writeEndObject();
            } else {
                languageModel(g);
            }
            g.writeStringProperty("torch_dtype", dtype == DType.BF16 ? "bfloat16" : dtype == DType.F16 ? "float16" : "float32");
            g.writeStringProperty("transformers_version", "4.51.3");
            g.writeEndObject();
        }
        return out.toString() + "\n";
    }

    private void languageModel(JsonGenerator g) {
        g.writeNumberProperty("hidden_size", hidden);
        // Mixtral has no dense MLP: its intermediate_size is each expert's width.
        g.writeNumberProperty("intermediate_size", family == HubFamily.MIXTRAL ? expertWidth : intermediate);
        g.writeNumberProperty("num_hidden_layers", layers);
        g.writeNumberProperty("num_attention_heads", heads);
        // MLA has no KV heads of its own: the config gives the query heads there, as transformers writes it.
        g.writeNumberProperty("num_key_value_heads", family.hasLatentAttention() ? heads : kvHeads);
        if (headDim > 0) {
            g.writeNumberProperty("head_dim", headDim);
        }
        g.writeNumberProperty("vocab_size", vocab);
        // Token ids inside the vocabulary: left out, a family's defaults may lie past a small one (Phi-3's pad and
        // eos are 32000), and transformers then refuses the model.
        g.writeNumberProperty("pad_token_id", 0);
        g.writeNumberProperty("bos_token_id", Math.min(1, vocab - 1));
        g.writeNumberProperty("eos_token_id", Math.min(2, vocab - 1));
        g.writeNumberProperty("max_position_embeddings", 4096);
        g.writeNumberProperty("rms_norm_eps", 1e-6);
        g.writeNumberProperty("rope_theta", 10000.0);
        g.writeBooleanProperty("tie_word_embeddings", tiedEmbeddings());
        switch (family) {
            case MIXTRAL -> {
                g.writeNumberProperty("num_local_experts", experts);
                g.writeNumberProperty("num_experts_per_tok", 2);
            }
            case QWEN2_MOE, QWEN3_MOE -> {
                g.writeNumberProperty("num_experts", experts);
                g.writeNumberProperty("num_experts_per_tok", 2);
                g.writeNumberProperty("moe_intermediate_size", expertWidth);
                if (family == HubFamily.QWEN2_MOE) {
                    g.writeNumberProperty("shared_expert_intermediate_size", intermediate);
                }
                g.writeNumberProperty("decoder_sparse_step", 1);
            }
            case DEEPSEEK_V2, DEEPSEEK_V3 -> {
                g.writeNumberProperty("n_routed_experts", experts);
                g.writeNumberProperty("n_shared_experts", shared);
                g.writeNumberProperty("num_experts_per_tok", 2);
                g.writeNumberProperty("moe_intermediate_size", expertWidth);
                g.writeNumberProperty("first_k_dense_replace", denseLayers());
                g.writeNumberProperty("moe_layer_freq", 1);
                if (family == HubFamily.DEEPSEEK_V3) {
                    g.writeNumberProperty("q_lora_rank", Q_LORA);
                } else {
                    g.writeNullProperty("q_lora_rank");
                }
                g.writeNumberProperty("kv_lora_rank", KV_LORA);
                g.writeNumberProperty("qk_nope_head_dim", QK_NOPE);
                g.writeNumberProperty("qk_rope_head_dim", QK_ROPE);
                g.writeNumberProperty("v_head_dim", V_HEAD);
            }
            default -> {
            }
        }
    }
}
