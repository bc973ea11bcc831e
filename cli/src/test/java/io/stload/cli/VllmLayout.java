package io.stload.cli;

import io.stload.benchdata.HubFamily;
import io.stload.benchdata.HubModel;
import java.io.ByteArrayOutputStream;
import java.util.Arrays;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * What vLLM's weight loaders put in tensor-parallel rank {@code r}'s parameter for each checkpoint tensor, computed
 * here from the model's numbers and the layer classes vLLM builds for each name, byte arrays in and out, without any
 * of the loader's partition code:
 * <ul>
 *   <li>{@code QKVParallelLinear}: q by {@code heads / W} heads; k and v by {@code KV / W} heads, or where
 *       {@code W >= KV} one head each, rank r holding head {@code r / (W / KV)}; a fused checkpoint tensor is
 *       narrowed to q, k and v first and the rank's three pieces concatenated;</li>
 *   <li>{@code MergedColumnParallelLinear} (fused gate_up): each half narrowed on its own, concatenated;</li>
 *   <li>{@code ColumnParallelLinear}: output rows {@code [r * out / W, (r + 1) * out / W)};
 *       {@code RowParallelLinear}: input columns likewise;</li>
 *   <li>{@code VocabParallelEmbedding} / {@code ParallelLMHead}: the vocabulary padded to a multiple of 64, each rank
 *       {@code padded / W} rows from {@code r * padded / W}, the real ones copied and the rest zeros;</li>
 *   <li>{@code FusedMoE}: each expert's w1/w3 (gate/up) by output rows and w2 (down) by input columns; with expert
 *       parallelism each rank holds whole experts {@code [r * base + min(r, E % W), ...)} of {@code E / W} each, the
 *       first {@code E % W} ranks one more ({@code determine_expert_map});</li>
 *   <li>{@code ReplicatedLinear} and parameters (norms, routers, MLA's q_a and kv_a, score-correction biases), and
 *       a vision tower run data-parallel: whole.</li>
 * </ul>
 */
final class VllmLayout {
    private static final Pattern EXPERT = Pattern.compile("\\.experts\\.(\\d+)\\.");
    private static final long PAD = 64;

    private VllmLayout() {
    }

    /**
     * Rank {@code r} of {@code w}'s bytes of a tensor, or null when the rank holds none of it.
     *
     * @param m            the model
     * @param name         the checkpoint tensor's name
     * @param shape        its shape
     * @param element      bytes per element
     * @param full         its bytes
     * @param wholeExperts vLLM's expert parallelism ({@code --enable-expert-parallel})
     */
    static byte[] rank(HubModel m, String name, long[] shape, int element, byte[] full, int r, int w,
                       boolean wholeExperts) {
        if (name.startsWith("vision_tower.") || name.startsWith("multi_modal_projector.")) {
            return full;
        }
        Matcher e = EXPERT.matcher(name);
        if (wholeExperts && e.find()) {
            int expert = Integer.parseInt(e.group(1));
            int base = m.experts() / w;
            int more = m.experts() % w;
            int start = r * base + Math.min(r, more);
            int count = base + (r < more ? 1 : 0);
            return expert >= start && expert < start + count ? full : null;
        }
        long d = m.perHead();
        String leaf = name.substring(name.lastIndexOf('.', name.lastIndexOf('.') - 1) + 1); // "q_proj.weight"
        boolean mla = m.family() == HubFamily.DEEPSEEK_V2 || m.family() == HubFamily.DEEPSEEK_V3;
        if (leaf.startsWith("qkv_proj.")) {
            long q = m.heads() * d;
            long kv = m.kvHeads() * d;
            return concat(qShard(full, shape, element, 0, m.heads(), d, r, w),
                    kvShard(full, shape, element, q, m.kvHeads(), d, r, w),
                    kvShard(full, shape, element, q + kv, m.kvHeads(), d, r, w));
        }
        if (leaf.startsWith("q_proj.") && !mla) {
            return qShard(full, shape, element, 0, m.heads(), d, r, w);
        }
        if (leaf.startsWith("k_proj.") || leaf.startsWith("v_proj.")) {
            return kvShard(full, shape, element, 0, m.kvHeads(), d, r, w);
        }
        if (leaf.equals("gate_up_proj.weight")) {
            long half = shape[0] / 2;
            return concat(narrow(full, shape, element, 0, r * half / w, half / w),
                    narrow(full, shape, element, 0, half + r * half / w, half / w));
        }
        if (leaf.startsWith("q_proj.") || leaf.startsWith("q_b_proj.") || leaf.startsWith("kv_b_proj.")
                || leaf.startsWith("gate_proj.") || leaf.startsWith("up_proj.") || leaf.startsWith("w1.")
                || leaf.startsWith("w3.")) {
            return narrow(full, shape, element, 0, r * shape[0] / w, shape[0] / w);
        }
        if (leaf.equals("o_proj.weight") || leaf.equals("down_proj.weight") || leaf.equals("w2.weight")) {
            return narrow(full, shape, element, 1, r * shape[1] / w, shape[1] / w);
        }
        if (leaf.equals("embed_tokens.weight") || name.equals("lm_head.weight")) {
            long vocab = shape[0];
            long padded = (vocab + PAD - 1) / PAD * PAD;
            long per = padded / w;
            long lo = Math.min(vocab, r * per);
            long hi = Math.min(vocab, r * per + per);
            long row = element * shape[1];
            return concat(narrow(full, shape, element, 0, lo, hi - lo), new byte[(int) ((per - (hi - lo)) * row)]);
        }
        return full;
    }

    /** The rank's query heads of a q block at row {@code base}: {@code heads / W} of them. */
    private static byte[] qShard(byte[] full, long[] shape, int element, long base, long heads, long d, int r, int w) {
        long per = heads / w;
        return narrow(full, shape, element, 0, base + r * per * d, per * d);
    }

    /** The rank's KV heads of a k or v block at row {@code base}: split where {@code KV >= W}, else one replicated. */
    private static byte[] kvShard(byte[] full, long[] shape, int element, long base, long kv, long d, int r, int w) {
        long numKv = w >= kv ? 1 : kv / w;
        long replicas = w >= kv ? w / kv : 1;
        long shard = r / replicas;
        return narrow(full, shape, element, 0, base + shard * numKv * d, numKv * d);
    }

    /** {@code torch.narrow}: indices {@code [start, start + length)} of dimension {@code dim}, as a row-major tensor. */
    static byte[] narrow(byte[] full, long[] shape, int element, int dim, long start, long length) {
        long outer = 1;
        for (int i = 0; i < dim; i++) {
            outer *= shape[i];
        }
        long inner = element;
        for (int i = dim + 1; i < shape.length; i++) {
            inner *= shape[i];
        }
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        for (long o = 0; o < outer; o++) {
            long from = (o * shape[dim] + start) * inner;
            out.writeBytes(Arrays.copyOfRange(full, (int) from, (int) (from + length * inner)));
        }
        return out.toByteArray();
    }

    private static byte[] concat(byte[]... parts) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        for (byte[] p : parts) {
            out.writeBytes(p);
        }
        return out.toByteArray();
    }
}
