package io.stload.store;

import io.stload.format.DType;
import io.stload.format.SafetensorsWriter.Entry;
import io.stload.checkpoint.ShardedWriter;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * The checkpoints of a training run, step by step: every step has the same tensor table; step 1 writes every tensor,
 * and step {@code k > 1} rewrites about a third of them (those whose index is {@code k} modulo 3), leaving the others'
 * bytes as they were. Every byte of a tensor is one value that names the tensor and the step that last wrote it, so a
 * reader can tell from any byte which version it is looking at. Written in shards, each recording its tensors'
 * digests, as {@code reshard --digests} writes them.
 */
public final class StepCheckpoints {
    /** Name, dtype and shape of every tensor, in checkpoint order. */
    public static final List<Entry> TENSORS = List.of(
            new Entry("model.embed_tokens.weight", DType.BF16, new long[] {64, 32}),
            new Entry("model.layers.0.self_attn.q_proj.weight", DType.F32, new long[] {32, 32}),
            new Entry("model.layers.0.mlp.up_proj.weight", DType.BF16, new long[] {64, 32}),
            new Entry("model.layers.1.self_attn.q_proj.weight", DType.F32, new long[] {32, 32}),
            new Entry("model.layers.1.mlp.up_proj.weight", DType.BF16, new long[] {64, 32}),
            new Entry("model.norm.weight", DType.F32, new long[] {32}),
            new Entry("lm_head.weight", DType.BF16, new long[] {64, 32}));
    /** Shards of at most this many bytes: three of them. */
    static final long SHARD_BYTES = 10 << 10;

    private StepCheckpoints() {
    }

    /** {@return the tensor names, in checkpoint order} */
    public static List<String> names() {
        return TENSORS.stream().map(Entry::name).toList();
    }

    /** {@return whether step {@code k} wrote tensor {@code name} anew} */
    public static boolean changedAt(String name, int k) {
        return k == 1 || index(name) % 3 == k % 3;
    }

    /** {@return the tensors step {@code k} wrote anew} */
    public static List<String> changed(int k) {
        return names().stream().filter(n -> changedAt(n, k)).toList();
    }

    /** {@return the bytes of the tensors step {@code k} wrote anew} */
    public static long changedBytes(int k) {
        return TENSORS.stream().filter(e -> changedAt(e.name(), k)).mapToLong(Entry::byteSize).sum();
    }

    /** {@return the step that last wrote tensor {@code name}, as of step {@code k}} */
    public static int lastWritten(String name, int k) {
        int j = k;
        while (!changedAt(name, j)) {
            j--;
        }
        return j;
    }

    /** {@return every byte of tensor {@code name} at step {@code k}} */
    public static byte fill(String name, int k) {
        return (byte) (0x10 * (lastWritten(name, k) % 15 + 1) + index(name));
    }

    private static int index(String name) {
        int i = names().indexOf(name);
        if (i < 0) {
            throw new IllegalArgumentException(name);
        }
        return i;
    }

    /**
     * Writes step {@code k} as a checkpoint directory (created; it must not hold anything yet).
     *
     * @return the files written, the index last
     */
    public static List<Path> write(Path dir, int k) throws IOException {
        return ShardedWriter.write(dir, Map.of("format", "pt"), TENSORS, (e, out) -> {
            ByteBuffer b = ByteBuffer.allocate((int) e.byteSize());
            byte fill = fill(e.name(), k);
            for (int i = 0; i < b.capacity(); i++) {
                b.put(i, fill);
            }
            while (b.hasRemaining()) {
                out.write(b);
            }
        }, SHARD_BYTES, true);
    }

    /** {@return the names of the tensors whose bytes are not all {@code fill(name, k)}} */
    public static List<String> mismatches(Map<String, byte[]> bytesByName, int k) {
        List<String> wrong = new ArrayList<>();
        bytesByName.forEach((name, bytes) -> {
            byte want = fill(name, k);
            for (byte b : bytes) {
                if (b != want) {
                    wrong.add(name + " (0x" + Integer.toHexString(b & 0xff) + ", not 0x" + Integer.toHexString(want & 0xff)
                            + " of step " + k + ")");
                    return;
                }
            }
        });
        return wrong;
    }
}
