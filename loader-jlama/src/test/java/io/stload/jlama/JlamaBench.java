package io.stload.jlama;

import com.github.tjake.jlama.model.AbstractModel;
import com.github.tjake.jlama.model.ModelSupport;
import com.github.tjake.jlama.model.functions.Generator;
import com.github.tjake.jlama.safetensors.SafeTensorSupport;
import com.github.tjake.jlama.safetensors.WeightLoader;
import com.github.tjake.jlama.safetensors.prompt.PromptContext;
import io.stload.checkpoint.Checkpoint;
import io.stload.checkpoint.ShardedWriter;
import io.stload.format.DType;
import io.stload.format.SafetensorsWriter.Entry;
import io.stload.plan.LoadOptions;
import io.stload.plan.LoadStrategy;
import java.io.File;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.SplittableRandom;
import java.util.UUID;
import java.util.function.Function;

/**
 * The driver of {@code bench/jlama.sh}: time from nothing to Jlama's first generated token, on Jlama's own loader
 * and on stload's.
 *
 * <ul>
 *   <li>{@code write DIR SIZE SHARD}: a Llama of about SIZE bytes of BF16 in transformers' layout: config.json, a
 *       byte-pair tokenizer.json of 32,000 tokens, shards of at most SHARD bytes with their index. TinyLlama-1.1B's
 *       proportions (width 2048, 32 heads over 4 key/value heads, MLP 5632) at 1 GiB and more, narrower below; as
 *       many layers as the size holds. Weights are small random values, norms about 1 (no NaN, no subnormal: the
 *       arithmetic runs at its usual speed), and the first token is decisive (see {@link #values}).</li>
 *   <li>{@code run DIR LOADER}: builds Jlama's model on {@code jlama} (its own loader), {@code stload-lazy}
 *       ({@link StloadWeightLoader#open}) or {@code stload-direct} ({@link StloadWeightLoader#load} with
 *       {@code DIRECT}) and generates one token greedily; prints the wall-clock instants (epoch nanoseconds) at which
 *       the model was built and the token came, and the token, then exits: the caller timed the process's start.</li>
 * </ul>
 */
public final class JlamaBench {
    private static final int VOCAB = 32_000;
    private static final String PROMPT = "hello world";
    /** The first token when the final hidden state's first element is positive (see {@link #values}). */
    static final int TOKEN_IF_POSITIVE = 100;
    /** The first token when it is negative. */
    static final int TOKEN_IF_NEGATIVE = 200;

    private JlamaBench() {
    }

    /**
     * {@code write DIR SIZE SHARD} or {@code run DIR LOADER}.
     *
     * @param args the command
     * @throws Exception when it fails
     */
    public static void main(String[] args) throws Exception {
        if (args.length == 4 && args[0].equals("write")) {
            write(Path.of(args[1]), bytes(args[2]), bytes(args[3]));
        } else if (args.length == 3 && args[0].equals("run")) {
            run(Path.of(args[1]), args[2]);
        } else {
            System.err.println("usage: JlamaBench write DIR SIZE SHARD | run DIR jlama|stload-lazy|stload-direct");
            System.exit(2);
        }
    }

    private static void run(Path dir, String loader) throws Exception {
        Checkpoint[] ckpt = new Checkpoint[1];
        Function<File, WeightLoader> weights = switch (loader) {
            case "jlama" -> SafeTensorSupport::loadWeights;
            case "stload-lazy" -> d -> StloadWeightLoader.open(d.toPath());
            case "stload-direct" -> d -> {
                ckpt[0] = Checkpoint.open(d.toPath());
                return StloadWeightLoader.load(ckpt[0], LoadOptions.DEFAULTS.withStrategy(LoadStrategy.DIRECT));
            };
            default -> throw new IllegalArgumentException("unknown loader " + loader);
        };
        AbstractModel model = ModelSupport.loadModel(AbstractModel.InferenceType.FULL_GENERATION, dir.toFile(), null,
                com.github.tjake.jlama.safetensors.DType.F32, com.github.tjake.jlama.safetensors.DType.F32,
                Optional.empty(), Optional.empty(), Optional.empty(), weights);
        long built = epochNanos();
        // The prompt and the generated tokens count against the limit; BOS is added to the prompt's tokens.
        int limit = model.getTokenizer().encode(PROMPT).length + 2;
        long[] first = {0};
        Generator.Response r = model.generate(UUID.randomUUID(), PromptContext.of(PROMPT), 0f, limit, (piece, t) -> {
            if (first[0] == 0) {
                first[0] = epochNanos();
            }
        });
        long token = first[0] != 0 ? first[0] : epochNanos();
        String text = r.responseTextWithSpecialTokens.strip();
        System.out.println("built " + built + " token " + token + " text " + (text.isEmpty() ? "(none)" : text));
        System.out.flush();
        Runtime.getRuntime().halt(0); // the measurement is taken: no teardown of Jlama's threads and memory
    }

    private static long epochNanos() {
        Instant now = Instant.now();
        return now.getEpochSecond() * 1_000_000_000L + now.getNano();
    }

    /** {@code 2GiB}, {@code 256MiB}, {@code 64KiB} or a number of bytes. */
    static long bytes(String size) {
        String s = size.trim();
        long unit = 1;
        for (String[] u : new String[][] {{"GiB", "30"}, {"MiB", "20"}, {"KiB", "10"}}) {
            if (s.endsWith(u[0])) {
                unit = 1L << Integer.parseInt(u[1]);
                s = s.substring(0, s.length() - u[0].length());
                break;
            }
        }
        return Math.round(Double.parseDouble(s) * unit);
    }

    /**
     * Writes the model.
     *
     * @param dir   the folder (created)
     * @param size  about how many tensor bytes
     * @param shard the most tensor bytes of one shard
     */
    static void write(Path dir, long size, long shard) throws IOException {
        int hidden = 2048;
        while (hidden > 128 && 2L * VOCAB * hidden * 2 > size / 4) {
            hidden /= 2;
        }
        int heads = hidden / 64;
        int kvHeads = Math.max(1, heads / 8);
        int kv = hidden / heads * kvHeads;
        int intermediate = hidden * 11 / 4;
        long layerBytes = 2L * (2L * hidden * hidden + 2L * kv * hidden + 3L * intermediate * hidden + 2L * hidden);
        int layers = (int) Math.max(1, (size - 2L * VOCAB * hidden * 2) / layerBytes);

        List<Entry> tensors = new ArrayList<>();
        tensors.add(new Entry("model.embed_tokens.weight", DType.BF16, new long[] {VOCAB, hidden}));
        for (int l = 0; l < layers; l++) {
            String p = "model.layers." + l + ".";
            tensors.add(new Entry(p + "input_layernorm.weight", DType.BF16, new long[] {hidden}));
            tensors.add(new Entry(p + "self_attn.q_proj.weight", DType.BF16, new long[] {hidden, hidden}));
            tensors.add(new Entry(p + "self_attn.k_proj.weight", DType.BF16, new long[] {kv, hidden}));
            tensors.add(new Entry(p + "self_attn.v_proj.weight", DType.BF16, new long[] {kv, hidden}));
            tensors.add(new Entry(p + "self_attn.o_proj.weight", DType.BF16, new long[] {hidden, hidden}));
            tensors.add(new Entry(p + "post_attention_layernorm.weight", DType.BF16, new long[] {hidden}));
            tensors.add(new Entry(p + "mlp.gate_proj.weight", DType.BF16, new long[] {intermediate, hidden}));
            tensors.add(new Entry(p + "mlp.up_proj.weight", DType.BF16, new long[] {intermediate, hidden}));
            tensors.add(new Entry(p + "mlp.down_proj.weight", DType.BF16, new long[] {hidden, intermediate}));
        }
        tensors.add(new Entry("model.norm.weight", DType.BF16, new long[] {hidden}));
        tensors.add(new Entry("lm_head.weight", DType.BF16, new long[] {VOCAB, hidden}));

        ByteBuffer chunk = ByteBuffer.allocateDirect(4 << 20).order(ByteOrder.LITTLE_ENDIAN);
        List<Path> files = ShardedWriter.write(dir, Map.of("format", "pt"), tensors, (e, out) -> values(e, chunk, out),
                shard);
        long total = tensors.stream().mapToLong(Entry::byteSize).sum();
        long shards = files.stream().filter(f -> f.getFileName().toString().endsWith(".safetensors")).count();
        Files.writeString(dir.resolve("config.json"), TinyLlama.config(hidden, intermediate, heads, kvHeads, layers, VOCAB,
                2048));
        Files.writeString(dir.resolve("tokenizer.json"), TinyLlama.tokenizer(VOCAB), StandardCharsets.UTF_8);
        System.out.printf(Locale.ROOT, "wrote %s: %d layers, width %d, %d heads over %d, MLP %d, vocabulary %d, %d tensor"
                + " bytes in %d shards%n", dir, layers, hidden, heads, kvHeads, intermediate, VOCAB, total, shards);
    }

    /**
     * A tensor's values, from its own random stream: BF16 of magnitude 2^-7 to 2^-3 with a random sign, or for a norm
     * (1-D) 1 plus a little; never NaN, infinite or subnormal. Two exceptions make the first token decisive, where
     * a random model's logits are a near tie (and Jlama's parallel sums differ in their last bits from one run to
     * the next): the final norm passes only the hidden state's first element, and the LM head's first column is
     * {@code +32} at {@link #TOKEN_IF_POSITIVE} and {@code -32} at {@link #TOKEN_IF_NEGATIVE}, so the token is one of
     * those two by the sign of that element, far apart from every other logit.
     */
    private static void values(Entry e, ByteBuffer chunk, java.nio.channels.WritableByteChannel out)
            throws IOException {
        SplittableRandom random = new SplittableRandom(e.name().hashCode() * 0x9E3779B97F4A7C15L);
        boolean norm = e.shape().length == 1;
        boolean finalNorm = e.name().equals("model.norm.weight");
        boolean head = e.name().equals("lm_head.weight");
        long width = e.shape()[e.shape().length - 1];
        long remaining = e.byteSize();
        long at = 0;
        while (remaining > 0) {
            int n = (int) Math.min(chunk.capacity(), remaining);
            chunk.clear();
            for (int i = 0; i < n; i += 8) {
                long r = random.nextLong();
                for (int k = 0; k < 4 && i + 2 * k < n; k++, r >>>= 16) {
                    int bits = (int) r & 0xFFFF;
                    short v = norm ? (short) (0x3F80 | (bits & 0x0F))               // 1.0 .. 1.12
                            : (short) ((bits & 0x807F) | (0x3C00 + ((bits >>> 7) & 3) * 0x80)); // +-2^-7 .. 2^-3
                    chunk.putShort(i + 2 * k, v);
                }
            }
            if (finalNorm) {
                for (int i = 0; i < n; i += 2) {
                    chunk.putShort(i, (short) (at + i == 0 ? 0x3F80 : 0));        // 1.0 for element 0, else 0
                }
            }
            if (head) {
                for (long[] t : new long[][] {{TOKEN_IF_POSITIVE, 0x4200}, {TOKEN_IF_NEGATIVE, 0xC200}}) { // +-32
                    long offset = t[0] * width * 2 - at;
                    if (offset >= 0 && offset < n) {
                        chunk.putShort((int) offset, (short) t[1]);
                    }
                }
            }
            chunk.limit(n);
            while (chunk.hasRemaining()) {
                out.write(chunk);
            }
            remaining -= n;
            at += n;
        }
    }
}
