package io.stload.plan;

import io.stload.StloadException;
import io.stload.checkpoint.Checkpoint;
import io.stload.checkpoint.TensorRef;
import java.util.ArrayList;
import java.util.List;

/**
 * {@code --partition auto}: the rules that give each rank what vLLM's weight loaders put in its parameters, for the
 * decoder families on the hub, from their {@code config.json}. Written as ordinary rules ({@link PartitionRule}), so
 * {@code plan --json} prints them in the rules-file syntax:
 * <ul>
 *   <li>column-parallel weights and biases ({@code q_proj}, {@code gate_proj}, {@code up_proj}, {@code q_b_proj},
 *       {@code kv_b_proj}, {@code w1}, {@code w3}) split on dimension 0, row-parallel weights ({@code o_proj},
 *       {@code down_proj}, {@code w2}) on dimension 1, every split divisible; projections made of heads by heads;</li>
 *   <li>{@code k_proj}/{@code v_proj} by KV heads, each head held whole by {@code W / KV} ranks when there are fewer
 *       KV heads than ranks;</li>
 *   <li>Phi-3's fused {@code qkv_proj} part by part ([q; k; v], with the head rules above) and {@code gate_up_proj}
 *       half by half;</li>
 *   <li>{@code embed_tokens} and {@code lm_head}: the vocabulary padded to a multiple of 64, then split evenly;</li>
 *   <li>routed experts like a dense MLP, or (experts whole) dealt in contiguous blocks; shared experts split;</li>
 *   <li>everything else (norms, routers, MLA's {@code q_a_proj} and {@code kv_a_proj_with_mqa}, a vision tower)
 *       replicated.</li>
 * </ul>
 */
final class AutoRules {
    /** The multiple engines pad the vocabulary to (vLLM's {@code DEFAULT_VOCAB_PADDING_SIZE}). */
    static final long VOCAB_PADDING = 64;

    /** How a known model type lays out its attention and MLP. */
    private enum Family {
        /** Separate q/k/v/o, a gated MLP (gate/up/down): Llama, Mistral, Qwen2/2.5/3, Gemma 1/2/3. */
        DENSE(List.of(), false),
        /** Fused qkv_proj and gate_up_proj. */
        PHI3(List.of(), false),
        /** Dense attention, block_sparse_moe experts w1/w2/w3. */
        MIXTRAL(List.of("num_local_experts"), false),
        /** Dense attention, experts gate/up/down, a shared expert; transformers 5 renamed num_experts. */
        QWEN_MOE(List.of("num_experts", "num_local_experts"), false),
        /** MLA attention, experts gate/up/down, shared experts. */
        DEEPSEEK(List.of("n_routed_experts"), true);

        /** The keys config.json may give the routed-expert count under, the older first; none for a dense model. */
        final List<String> expertsKeys;
        final boolean mla;

        Family(List<String> expertsKeys, boolean mla) {
            this.expertsKeys = expertsKeys;
            this.mla = mla;
        }
    }

    /** The model types auto knows, each with its family. */
    private static final List<String[]> TYPES = List.of(
            new String[] {"llama", "DENSE"}, new String[] {"mistral", "DENSE"}, new String[] {"qwen2", "DENSE"},
            new String[] {"qwen3", "DENSE"}, new String[] {"gemma", "DENSE"}, new String[] {"gemma2", "DENSE"},
            new String[] {"gemma3", "DENSE"}, new String[] {"gemma3_text", "DENSE"}, new String[] {"phi3", "PHI3"},
            new String[] {"mixtral", "MIXTRAL"}, new String[] {"qwen2_moe", "QWEN_MOE"},
            new String[] {"qwen3_moe", "QWEN_MOE"}, new String[] {"deepseek_v2", "DEEPSEEK"},
            new String[] {"deepseek_v3", "DEEPSEEK"});

    private AutoRules() {
    }

    /**
     * The routed-expert count, which whole experts per rank need; a split of each expert does not, and goes without
     * it (0).
     */
    private static long experts(ModelConfig c, Family family, boolean wholeExperts) {
        if (family.expertsKeys.isEmpty()) {
            return 0;
        }
        String key = family.expertsKeys.stream().filter(c::has).findFirst().orElse(family.expertsKeys.getFirst());
        return wholeExperts ? c.positive(key) : c.optional(key, 0);
    }

    static PartitionSpec of(ModelConfig c, boolean wholeExperts) {
        String type = c.modelType();
        Family family = TYPES.stream().filter(t -> t[0].equals(type)).findFirst().map(t -> Family.valueOf(t[1]))
                .orElseThrow(() -> StloadException.usage(c.source() + ": " + (type.isEmpty()
                        ? "gives no model_type (a string), so --partition auto knows no family ("
                        : "model_type \"" + type + "\" is not one --partition auto knows (")
                        + String.join(", ", TYPES.stream().map(t -> t[0]).toList()) + "); give partition rules for it"
                        + " (plan --partition auto --json prints a known family's to start from)"));
        if (c.has("quantization_config")) {
            throw StloadException.usage(c.source() + ": a quantized checkpoint (quantization_config) has scale tensors "
                    + "whose layout --partition auto does not know; give partition rules for it");
        }
        List<PartitionRule> r = new ArrayList<>();
        String summary;
        if (c.hasTop("vision_config")) {
            // The vision tower and its projector stay whole on every rank (vLLM's --mm-encoder-tp-mode data).
            r.add(PartitionRule.glob("*vision_tower.*", PartitionRule.REPLICATE, false));
            r.add(PartitionRule.glob("*multi_modal_projector.*", PartitionRule.REPLICATE, false));
        }
        long experts = experts(c, family, wholeExperts);
        if (wholeExperts && experts > 0) {
            r.add(PartitionRule.glob("*.experts.*", PartitionRule.EXPERTS, false)
                    .withExpertCount((int) Math.min(Integer.MAX_VALUE, experts)));
        }
        long heads = c.positive("num_attention_heads");
        if (family.mla) {
            long nope = c.positive("qk_nope_head_dim");
            long rope = c.positive("qk_rope_head_dim");
            long v = c.positive("v_head_dim");
            for (String q : List.of("q_proj", "q_b_proj")) {
                r.add(heads("*." + q + ".weight", 0, heads, nope + rope, true));
            }
            r.add(heads("*.kv_b_proj.weight", 0, heads, nope + v, true));
            r.add(heads("*.o_proj.weight", 1, heads, v, true));
            for (String replicated : List.of("q_a_proj", "kv_a_proj_with_mqa")) {
                r.add(PartitionRule.glob("*." + replicated + ".weight", PartitionRule.REPLICATE, false));
            }
            summary = heads + " heads (MLA: q/k " + (nope + rope) + ", v " + v + ")";
        } else {
            long kv = c.optional("num_key_value_heads", heads);
            if (kv < 1) {
                throw StloadException.usage(c.source() + ": \"num_key_value_heads\" must be at least 1, not " + kv);
            }
            long headDim = headDim(c, heads);
            if (family == Family.PHI3) {
                for (String suffix : List.of(".weight", ".bias")) {
                    r.add(PartitionRule.glob("*.qkv_proj" + suffix, 0, false).withParts(List.of(
                            new PartitionRule.Part("q", heads * headDim, headDim, true),
                            new PartitionRule.Part("k", kv * headDim, headDim, false),
                            new PartitionRule.Part("v", kv * headDim, headDim, false))));
                }
            }
            for (String suffix : List.of(".weight", ".bias")) {
                r.add(heads("*.q_proj" + suffix, 0, heads, headDim, true));
                r.add(heads("*.k_proj" + suffix, 0, kv, headDim, false));
                r.add(heads("*.v_proj" + suffix, 0, kv, headDim, false));
            }
            r.add(heads("*.o_proj.weight", 1, heads, headDim, true));
            summary = heads + " heads, " + kv + " KV heads, head_dim " + headDim;
        }
        if (family == Family.PHI3) {
            long intermediate = c.positive("intermediate_size");
            r.add(PartitionRule.glob("*.gate_up_proj.weight", 0, true).withParts(List.of(
                    new PartitionRule.Part("gate", intermediate, 0, true),
                    new PartitionRule.Part("up", intermediate, 0, true))));
        }
        for (String column : List.of("gate_proj", "up_proj", "w1", "w3")) {
            r.add(PartitionRule.glob("*." + column + ".weight", 0, true));
            r.add(PartitionRule.glob("*." + column + ".bias", 0, true));
        }
        for (String row : List.of("down_proj", "w2")) {
            r.add(PartitionRule.glob("*." + row + ".weight", 1, true));
        }
        long vocab = c.positive("vocab_size");
        r.add(PartitionRule.glob("*embed_tokens.weight", 0, false).withPadTo(VOCAB_PADDING));
        r.add(PartitionRule.glob("*lm_head.weight", 0, false).withPadTo(VOCAB_PADDING));
        r.add(PartitionRule.glob("*", PartitionRule.REPLICATE, false));
        String name = (wholeExperts ? PartitionSpec.AUTO_EXPERTS_NAME : PartitionSpec.AUTO_NAME) + " (" + type + ": "
                + summary + ", vocab " + vocab + (experts > 0 ? ", " + experts + " routed experts"
                + (wholeExperts ? " whole" : " split") : "") + "; " + c.source() + ")";
        return new PartitionSpec(name, r);
    }

    /**
     * The embedding and the LM head hold {@code vocab_size} rows, as engines require of them (vLLM's loader refuses
     * others): a {@code config.json} that says otherwise does not describe these weights, and no layout is made
     * from it.
     */
    static void requireVocabRows(ModelConfig c, Checkpoint checkpoint) {
        long vocab = c.positive("vocab_size");
        for (TensorRef t : checkpoint.tensors().values()) {
            boolean vocabRows = t.name().endsWith("embed_tokens.weight") || t.name().endsWith("lm_head.weight");
            if (vocabRows && t.info().rank() > 0 && t.info().dim(0) != vocab) {
                throw StloadException.usage(c.source() + ": vocab_size is " + vocab + ", but `" + t.name() + "` has "
                        + Long.toUnsignedString(t.info().dim(0)) + " rows: the config does not describe these weights");
            }
        }
    }

    private static PartitionRule heads(String glob, int dim, long heads, long headDim, boolean divisible) {
        return PartitionRule.glob(glob, dim, divisible).withHeads(heads, headDim);
    }

    /** {@code head_dim} where the config gives it (Gemma, Qwen3, some Mistrals), else hidden size over heads. */
    private static long headDim(ModelConfig c, long heads) {
        long given = c.optional("head_dim", 0);
        if (given > 0) {
            return given;
        }
        long hidden = c.positive("hidden_size");
        if (hidden % heads != 0) {
            throw StloadException.usage(c.source() + ": hidden_size " + hidden + " is not " + heads
                    + " whole heads (num_attention_heads), and no head_dim is given");
        }
        return hidden / heads;
    }
}
