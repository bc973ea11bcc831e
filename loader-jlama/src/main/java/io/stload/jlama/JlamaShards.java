package io.stload.jlama;

import com.github.tjake.jlama.model.DistributedContext;
import com.github.tjake.jlama.model.ModelSupport.ModelType;
import io.stload.StloadException;
import io.stload.plan.LoadOptions;
import io.stload.plan.PartitionRule;
import io.stload.plan.PartitionSpec;
import io.stload.plan.Partitioning;
import io.stload.plan.TensorFilter;
import java.util.ArrayList;
import java.util.List;
import java.util.StringJoiner;

/**
 * A Jlama worker's share of a checkpoint, as stload plans it. Jlama's {@link DistributedContext} gives each of
 * {@code W} model shards the rows {@code [L / W * r, L / W * (r + 1))} of a dimension of length {@code L} (what does
 * not divide is left out), and each of its layer shards the layers {@code [layerStart, layerEnd)}; its models ask
 * for row shards of the projections into the attention and the MLP and for column shards of the projections out of
 * them. These rules and that arithmetic, as a {@link Partitioning} and a {@link TensorFilter}, make the rank plan of
 * the worker: the tensors it asks for, cut as it asks for them, and no other bytes (where a dimension divides by
 * {@code W}, Jlama's cut and stload's are the same). A null argument is a {@link io.stload.ErrorKind#Usage} error.
 */
public final class JlamaShards {
    /** Large enough that {@code PROBE / W} tells every world size Jlama can be given apart. */
    private static final int PROBE = 1 << 30;

    private JlamaShards() {
    }

    /**
     * The number of model shards, which Jlama's context keeps to itself, read back from its shard arithmetic.
     *
     * @param dctx the worker's context
     * @return {@code W}, at least 1
     */
    public static int worldSize(DistributedContext dctx) {
        requireContext(dctx);
        int share = dctx.getShardLength(PROBE);
        if (share <= 0) {
            throw StloadException.usage("a distributed context of more than " + PROBE + " model shards");
        }
        return PROBE / share;
    }

    /**
     * This worker's model shard, read back from its shard arithmetic.
     *
     * @param dctx the worker's context
     * @return {@code r} in {@code [0, W)}
     */
    public static int rank(DistributedContext dctx) {
        requireContext(dctx);
        return dctx.getShardOffsetForLength(PROBE) / dctx.getShardLength(PROBE);
    }

    /**
     * The rules of Jlama's models: which weights a worker of the model type asks for as row shards (dimension 0)
     * and which as column shards (dimension 1), each with its quantization scales ({@code .qb}) cut the same way;
     * everything else is replicated. For the Llama family (Llama, Mistral, Qwen2, Granite, Gemma, Gemma2):
     * q/k/v, gate and up by rows, o and down by columns. For Mixtral: q/k/v and the experts' w1 and w3 by rows;
     * o, w2 and the router whole. GPT-2 and BERT shard nothing.
     *
     * @param type the model type, as Jlama reads it from {@code config.json}
     * @return the rules, named after the model type
     */
    public static PartitionSpec rules(ModelType type) {
        StloadException.requireNonNull(type, "Jlama's rules are those of a model type, not null");
        List<PartitionRule> rules = new ArrayList<>();
        switch (type) {
            case GPT2, BERT -> {
                return new PartitionSpec("jlama " + type.name().toLowerCase(java.util.Locale.ROOT), List.of());
            }
            case MIXTRAL -> {
                split(rules, 0, "*.self_attn.q_proj.weight", "*.self_attn.k_proj.weight", "*.self_attn.v_proj.weight",
                        "*.experts.*.w1.weight", "*.experts.*.w3.weight");
            }
            default -> {
                split(rules, 0, "*.q_proj.weight", "*.k_proj.weight", "*.v_proj.weight", "*.gate_proj.weight",
                        "*.up_proj.weight");
                split(rules, 1, "*.o_proj.weight", "*.down_proj.weight");
            }
        }
        rules.add(PartitionRule.glob("*", PartitionRule.REPLICATE, false));
        return new PartitionSpec("jlama " + type.name().toLowerCase(java.util.Locale.ROOT), rules);
    }

    /** A rule per weight, and one for its quantization scales, which Jlama cuts along with it. */
    private static void split(List<PartitionRule> rules, int dim, String... weights) {
        for (String w : weights) {
            rules.add(PartitionRule.glob(w, dim, false));
            rules.add(PartitionRule.glob(w + ".qb", dim, false));
        }
    }

    /**
     * The worker's rank of the model shards, with the rules of its model type.
     *
     * @param dctx the worker's context
     * @param type the model type
     * @return the partitioning of a stload rank plan
     */
    public static Partitioning partitioning(DistributedContext dctx, ModelType type) {
        return new Partitioning(rank(dctx), worldSize(dctx), rules(type));
    }

    /**
     * The tensors of the worker's layer shard: every tensor outside the numbered layers ({@code model.layers.N.}),
     * and the layers {@code [layerStart, layerEnd)}.
     *
     * @param dctx the worker's context
     * @return the filter
     */
    public static TensorFilter layers(DistributedContext dctx) {
        requireContext(dctx);
        StringJoiner mine = new StringJoiner("|", "re:model\\.layers\\.(?:", ")\\..*");
        for (int i = dctx.layerStart; i < dctx.layerEnd; i++) {
            mine.add(Integer.toString(i));
        }
        List<String> patterns = new ArrayList<>();
        patterns.add("re:(?!model\\.layers\\.\\d+\\.).*");
        if (dctx.layerEnd > dctx.layerStart) {
            patterns.add(mine.toString());
        }
        return TensorFilter.of(patterns);
    }

    /**
     * Options that load exactly what a Jlama worker holds: its rank of the model shards under {@link #rules} and
     * the tensors of its layer shard ({@link #layers}), read under the strategy and threads of {@code options}.
     *
     * @param options how to read (strategy, threads, thresholds); its partitioning and tensor filter are replaced
     * @param dctx    the worker's context
     * @param type    the model type
     * @return the worker's options
     */
    public static LoadOptions forWorker(LoadOptions options, DistributedContext dctx, ModelType type) {
        StloadException.requireNonNull(options, "a worker's options start from load options, not null");
        return options.withPartitioning(partitioning(dctx, type)).withTensors(layers(dctx));
    }

    private static void requireContext(DistributedContext dctx) {
        StloadException.requireNonNull(dctx, "a Jlama worker's share is read from its distributed context, not null");
    }
}
