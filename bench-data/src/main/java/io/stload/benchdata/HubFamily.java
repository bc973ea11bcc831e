package io.stload.benchdata;

import java.util.Locale;

/**
 * The decoder families on the hub whose checkpoints {@link HubModel} writes: config.json plus sharded safetensors
 * with transformers' tensor names and shapes. Each has the {@code model_type} its config.json carries and the
 * architecture transformers loads it with.
 */
public enum HubFamily {
    /** Llama: q/k/v/o, gate/up/down, grouped-query attention. */
    LLAMA("llama", "LlamaForCausalLM"),
    /** Mistral: Llama's names, a head_dim given apart from the hidden size (as Mistral-Nemo's). */
    MISTRAL("mistral", "MistralForCausalLM"),
    /** Qwen2: Llama's names with q/k/v biases. */
    QWEN2("qwen2", "Qwen2ForCausalLM"),
    /** Qwen2.5: Qwen2's model type and names; the small ones tie the LM head to the embeddings. */
    QWEN2_5("qwen2", "Qwen2ForCausalLM"),
    /** Qwen3: no biases, a q_norm and k_norm per layer, head_dim given. */
    QWEN3("qwen3", "Qwen3ForCausalLM"),
    /** Gemma 2: head_dim given, four norms per layer, tied embeddings. */
    GEMMA2("gemma2", "Gemma2ForCausalLM"),
    /** Gemma 3 (4B and up): the language model under text_config and {@code language_model.}, a SigLIP vision tower. */
    GEMMA3("gemma3", "Gemma3ForConditionalGeneration"),
    /** Phi-3: fused qkv_proj and gate_up_proj. */
    PHI3("phi3", "Phi3ForCausalLM"),
    /** Mixtral: block_sparse_moe experts w1/w2/w3 and a router. */
    MIXTRAL("mixtral", "MixtralForCausalLM"),
    /** Qwen2-MoE: experts gate/up/down, a router, a shared expert and its gate; q/k/v biases. */
    QWEN2_MOE("qwen2_moe", "Qwen2MoeForCausalLM"),
    /** Qwen3-MoE: experts gate/up/down and a router; q_norm and k_norm. */
    QWEN3_MOE("qwen3_moe", "Qwen3MoeForCausalLM"),
    /** DeepSeek-V2-Lite: MLA without a q LoRA (q_proj), routed and shared experts, a first dense layer. */
    DEEPSEEK_V2("deepseek_v2", "DeepseekV2ForCausalLM"),
    /** DeepSeek-V3: MLA with q_a/q_b, routed and shared experts, score-correction biases, a first dense layer. */
    DEEPSEEK_V3("deepseek_v3", "DeepseekV3ForCausalLM");

    private final String modelType;
    private final String architecture;

    HubFamily(String modelType, String architecture) {
        this.modelType = modelType;
        this.architecture = architecture;
    }

    /** {@return the config.json {@code model_type}} */
    public String modelType() {
        return modelType;
    }

    /** {@return the config.json {@code architectures} entry} */
    public String architecture() {
        return architecture;
    }

    /** {@return the name on the command line: {@code qwen2-moe}, {@code deepseek-v3}} */
    public String label() {
        return name().toLowerCase(Locale.ROOT).replace('_', '-');
    }

    /** {@return true for DeepSeek's multi-head latent attention, whose head sizes are its own, not hidden / heads} */
    public boolean hasLatentAttention() {
        return this == DEEPSEEK_V2 || this == DEEPSEEK_V3;
    }

    /** {@return true for the mixture-of-experts families} */
    public boolean hasExperts() {
        return this == MIXTRAL || this == QWEN2_MOE || this == QWEN3_MOE || this == DEEPSEEK_V2 || this == DEEPSEEK_V3;
    }

    /** The family named {@code llama}, {@code qwen2-moe}, {@code deepseek-v3}... (any case, {@code _} or {@code -}). */
    public static HubFamily parse(String name) {
        try {
            return valueOf(name.trim().toUpperCase(Locale.ROOT).replace('-', '_').replace('.', '_'));
        } catch (IllegalArgumentException e) {
            StringBuilder known = new StringBuilder();
            for (HubFamily f : values()) {
                known.append(known.isEmpty() ? "" : ", ").append(f.label());
            }
            throw new IllegalArgumentException("unknown model family '" + name + "' (use " + known + ")", e);
        }
    }
}
