package io.stload.benchdata;

import io.stload.format.DType;
import io.stload.format.SafetensorsWriter.Entry;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.function.BiConsumer;

/**
 * The tensor layouts the generator writes, named as Hugging Face checkpoints name them. Each scales with two
 * numbers, the hidden width and the vocabulary size ({@link ModelDimensions} picks them for a byte budget);
 * layer and expert counts stay fixed so a small checkpoint has the same tensor table shape as a large one.
 * {@link #MATRIX} is the exception: no model, a benchmark's uniform rows of a given size.
 */
public enum ShapeKind {
    /**
     * Llama-3-8B proportions: 32 layers, grouped-query k/v projections a quarter as wide as q, an MLP 3.5
     * times as wide as the model, a vocabulary about 32 times the width. At width 4096 this is 16 GB of BF16.
     */
    LLAMA(32) {
        @Override
        List<Entry> tensors(long hidden, long vocab, DType dtype) {
            long intermediate = hidden * 7 / 2;
            return transformer(32, hidden, vocab, dtype, (layer, out) -> {
                out.add(new Entry(layer + "mlp.gate_proj.weight", dtype, new long[]{intermediate, hidden}));
                out.add(new Entry(layer + "mlp.up_proj.weight", dtype, new long[]{intermediate, hidden}));
                out.add(new Entry(layer + "mlp.down_proj.weight", dtype, new long[]{hidden, intermediate}));
            });
        }
    },
    /**
     * OLMoE-like mixture of experts: 16 layers of 64 experts whose MLPs are half as wide as the model, plus a
     * router per layer, so over 3,000 small tensors: the case where per-tensor overheads dominate a load.
     */
    MOE(24) {
        private static final int EXPERTS = 64;

        @Override
        List<Entry> tensors(long hidden, long vocab, DType dtype) {
            long intermediate = hidden / 2;
            return transformer(16, hidden, vocab, dtype, (layer, out) -> {
                out.add(new Entry(layer + "mlp.gate.weight", dtype, new long[]{EXPERTS, hidden}));
                for (int e = 0; e < EXPERTS; e++) {
                    String expert = layer + "mlp.experts." + e + ".";
                    out.add(new Entry(expert + "gate_proj.weight", dtype, new long[]{intermediate, hidden}));
                    out.add(new Entry(expert + "up_proj.weight", dtype, new long[]{intermediate, hidden}));
                    out.add(new Entry(expert + "down_proj.weight", dtype, new long[]{hidden, intermediate}));
                }
            });
        }
    },
    /**
     * Uniform 2-D matrices for strided-read benchmarks: every row of every matrix is the same width, so a split
     * on dimension 1 leaves each rank runs one fixed stride apart across the whole file. Not fitted to the
     * budget: the width is the spec's row size, and the "vocabulary" is the number of rows, spread over up to
     * {@value #MATRICES} matrices whose row counts differ by at most one (several tensors, so a load can
     * overlap reading one with handing out another, as it does for a model).
     */
    MATRIX(0) {
        @Override
        List<Entry> tensors(long width, long rows, DType dtype) {
            int n = (int) Math.min(MATRICES, rows);
            List<Entry> out = new ArrayList<>();
            for (int i = 0; i < n; i++) {
                long r = rows / n + (i < rows % n ? 1 : 0);
                out.add(new Entry("matrices." + i + ".weight", dtype, new long[]{r, width}));
            }
            return out;
        }
    };

    /** Widths are kept multiples of this, so every derived width (k/v, MLP, experts) stays whole and even. */
    static final int WIDTH_STEP = 16;

    /** The most matrices a {@link #MATRIX} checkpoint holds. */
    static final int MATRICES = 16;

    private final int vocabPerHidden;

    /** @param vocabPerHidden nominal vocabulary per unit of width; unused by MATRIX, which is never fitted */
    ShapeKind(int vocabPerHidden) {
        this.vocabPerHidden = vocabPerHidden;
    }

    /** The kind named {@code llama}, {@code moe} or {@code matrix} (any case). */
    public static ShapeKind parse(String name) {
        try {
            return valueOf(name.trim().toUpperCase(Locale.ROOT));
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("unknown checkpoint shape '" + name + "' (use llama, moe or matrix)", e);
        }
    }

    /** The lower-case name used on the command line and in file metadata. */
    public String label() {
        return name().toLowerCase(Locale.ROOT);
    }

    /** The vocabulary size this kind has at a given width, before the byte budget adjusts it. */
    long nominalVocab(long hidden) {
        return vocabPerHidden * hidden;
    }

    /** Every tensor, in the order a Hugging Face export lays them out. */
    abstract List<Entry> tensors(long hidden, long vocab, DType dtype);

    /** A decoder: embeddings, then per layer the norms, attention and the kind's MLP, then the final norm and head. */
    private static List<Entry> transformer(int layers, long hidden, long vocab, DType dtype,
                                           BiConsumer<String, List<Entry>> mlp) {
        List<Entry> out = new ArrayList<>();
        out.add(new Entry("model.embed_tokens.weight", dtype, new long[]{vocab, hidden}));
        for (int l = 0; l < layers; l++) {
            String layer = "model.layers." + l + ".";
            long kv = hidden / 4;
            out.add(new Entry(layer + "input_layernorm.weight", dtype, new long[]{hidden}));
            out.add(new Entry(layer + "self_attn.q_proj.weight", dtype, new long[]{hidden, hidden}));
            out.add(new Entry(layer + "self_attn.k_proj.weight", dtype, new long[]{kv, hidden}));
            out.add(new Entry(layer + "self_attn.v_proj.weight", dtype, new long[]{kv, hidden}));
            out.add(new Entry(layer + "self_attn.o_proj.weight", dtype, new long[]{hidden, hidden}));
            out.add(new Entry(layer + "post_attention_layernorm.weight", dtype, new long[]{hidden}));
            mlp.accept(layer, out);
        }
        out.add(new Entry("model.norm.weight", dtype, new long[]{hidden}));
        out.add(new Entry("lm_head.weight", dtype, new long[]{vocab, hidden}));
        return out;
    }
}
