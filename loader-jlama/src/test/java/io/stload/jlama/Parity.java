package io.stload.jlama;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.github.tjake.jlama.math.ActivationFunction;
import com.github.tjake.jlama.model.DistributedContext;
import com.github.tjake.jlama.model.llama.LlamaConfig;
import com.github.tjake.jlama.safetensors.Config;
import com.github.tjake.jlama.safetensors.DType;
import com.github.tjake.jlama.safetensors.TensorInfo;
import com.github.tjake.jlama.safetensors.WeightLoader;
import com.github.tjake.jlama.tensor.AbstractTensor;
import com.github.tjake.jlama.tensor.FloatBufferTensor;
import com.github.tjake.jlama.tensor.Q4ByteBufferTensor;
import com.github.tjake.jlama.tensor.Q8ByteBufferTensor;
import com.github.tjake.jlama.tensor.TensorShape;
import io.stload.ErrorKind;
import io.stload.StloadException;
import java.lang.foreign.MemorySegment;
import java.util.List;
import java.util.Map;

/**
 * What "the same tensor as Jlama's own loader" means, as assertions: the same class, dtype, shape (sparse ranges
 * included) and bytes, and for a quantized tensor the same block scales.
 */
final class Parity {
    /** A config only for building distributed contexts: their shard arithmetic reads none of it. */
    static final Config CONFIG = new LlamaConfig(128, 64, 128, 4, 2, 2, 1e-5f, 64, 1, 2, ActivationFunction.Type.SILU,
            null, null);

    private Parity() {
    }

    /** Model shard {@code rank} of {@code world}, one layer shard. */
    static DistributedContext rank(int rank, int world) {
        return DistributedContext.builder(CONFIG).setModelShard(rank).setNumModelShards(world).build();
    }

    /**
     * Every tensor of {@code jlama} from {@code ours}: the tensor table, metadata and model dtype, then each tensor
     * whole and, for 2-D ones, each rank's rows and columns for each world size.
     *
     * @param jlama          Jlama's own loader
     * @param ours           stload's
     * @param worlds         world sizes to cut rows in
     * @param columnWorlds   world sizes to cut the columns of unquantized tensors in
     * @param quantizedWorlds world sizes to cut the columns of quantized tensors in (a cut that is not whole blocks
     *                        of 32 must be refused)
     * @return the number of tensors compared
     */
    static int assertSameWeights(WeightLoader jlama, WeightLoader ours, List<Integer> worlds, List<Integer> columnWorlds,
                                 List<Integer> quantizedWorlds) {
        return assertSameWeights(jlama, ours, name -> true, worlds, columnWorlds, quantizedWorlds);
    }

    /** {@link #assertSameWeights(WeightLoader, WeightLoader, List, List, List)} for the tensors {@code which} takes. */
    static int assertSameWeights(WeightLoader jlama, WeightLoader ours, java.util.function.Predicate<String> which,
                                 List<Integer> worlds, List<Integer> columnWorlds, List<Integer> quantizedWorlds) {
        assertEquals(jlama.tensorInfoMap(), ours.tensorInfoMap(), "tensor table");
        assertEquals(jlama.metadata(), ours.metadata(), "metadata");
        assertEquals(jlama.getModelDType(), ours.getModelDType(), "model dtype");
        int n = 0;
        for (Map.Entry<String, TensorInfo> e : jlama.tensorInfoMap().entrySet()) {
            String name = e.getKey();
            TensorInfo info = e.getValue();
            if (!which.test(name)) {
                continue;
            }
            if (!loadable(info.dType)) {
                assertThrows(RuntimeException.class, () -> jlama.load(name));
                assertThrows(RuntimeException.class, () -> ours.load(name));
                continue;
            }
            AbstractTensor whole = jlama.load(name);
            assertSameTensor(name, whole, ours.load(name));
            n++;
            if (info.shape.length != 2) {
                DistributedContext dctx = rank(0, 2);
                assertThrows(RuntimeException.class, () -> jlama.load(name, dctx, true, false));
                assertThrows(RuntimeException.class, () -> ours.load(name, dctx, true, false));
                continue;
            }
            boolean quantized = info.dType == DType.I8 || info.dType == DType.Q4;
            for (int w : worlds) {
                for (int r = 0; r < w; r++) {
                    DistributedContext dctx = rank(r, w);
                    assertSameTensor(name + " rows " + r + "/" + w, jlama.load(name, dctx, true, false),
                            ours.load(name, dctx, true, false));
                }
            }
            for (int w : quantized ? quantizedWorlds : columnWorlds) {
                for (int r = 0; r < w; r++) {
                    DistributedContext dctx = rank(r, w);
                    String what = name + " columns " + r + "/" + w;
                    int columns = info.shape[1];
                    if (quantized && (dctx.getShardOffsetForLength(columns) % Q8ByteBufferTensor.BLOCK_SIZE != 0
                            || dctx.getShardLength(columns) % Q8ByteBufferTensor.BLOCK_SIZE != 0)) {
                        // Not whole scale blocks: no right answer (Jlama's own gives zero or foreign scales).
                        StloadException refused = assertThrows(StloadException.class,
                                () -> ours.load(name, dctx, false, true));
                        assertEquals(ErrorKind.Unsupported, refused.kind(), what);
                    } else if (info.dType == DType.Q4) { // Jlama 0.8.4's own Q4 column cut reads past its scales' end on rank 1
                        assertQ4Columns(what, whole, ours.load(name, dctx, false, true), dctx);
                    } else {
                        assertColumns(what, whole, jlama.load(name, dctx, false, true),
                                ours.load(name, dctx, false, true), dctx);
                    }
                }
            }
        }
        return n;
    }

    /** The dtypes Jlama's loader has a tensor type for; it refuses the others. */
    static boolean loadable(DType dtype) {
        return switch (dtype) {
            case F32, F16, BF16, I8, Q4 -> true;
            default -> false;
        };
    }

    /** Same class, dtype, shape with its sparse ranges, bytes, and block scales. */
    static void assertSameTensor(String what, AbstractTensor expected, AbstractTensor actual) {
        assertEquals(expected.getClass(), actual.getClass(), what + ": class");
        assertEquals(expected.dType(), actual.dType(), what + ": dtype");
        assertSameShape(what, expected.shape(), actual.shape());
        assertSameBytes(what, expected.getMemorySegment(), actual.getMemorySegment());
        if (expected instanceof Q8ByteBufferTensor q) {
            assertSameTensor(what + " scales", q.getBlockF(), ((Q8ByteBufferTensor) actual).getBlockF());
        }
        if (expected instanceof Q4ByteBufferTensor q) {
            assertSameTensor(what + " scales", q.getBlockF(), ((Q4ByteBufferTensor) actual).getBlockF());
        }
    }

    static void assertSameShape(String what, TensorShape expected, TensorShape actual) {
        assertEquals(expected, actual, what + ": shape");
        assertEquals(expected.dims(), actual.dims(), what + ": dims");
        for (int d = 0; d < expected.dims(); d++) {
            assertEquals(expected.dim(d), actual.dim(d), what + ": dim " + d);
        }
        assertEquals(expected.isSparse(), actual.isSparse(), what + ": sparse");
        assertEquals(expected.sparseRowOffset(), actual.sparseRowOffset(), what + ": sparse row offset");
        assertEquals(expected.sparseRowLength(), actual.sparseRowLength(), what + ": sparse row length");
        assertEquals(expected.sparseColumnOffset(), actual.sparseColumnOffset(), what + ": sparse column offset");
        assertEquals(expected.sparseColumnLength(), actual.sparseColumnLength(), what + ": sparse column length");
        assertEquals(expected.size(), actual.size(), what + ": size");
    }

    static void assertSameBytes(String what, MemorySegment expected, MemorySegment actual) {
        assertEquals(expected.byteSize(), actual.byteSize(), what + ": byte size");
        long at = expected.mismatch(actual);
        assertEquals(-1, at, what + ": bytes differ from byte " + at);
    }

    /**
     * A rank's columns. Jlama's own loader cuts them from the whole tensor ({@code AbstractTensor.sparsify}); ours
     * must hold the cut Jlama means: its class, dtype and sparse shape, and the rank's columns of the whole tensor,
     * with their block scales. Jlama 0.8.4's own cut is asserted as it is, so that a change in it shows here: F16
     * and BF16 copy half of each row's bytes (the element count taken as a byte count) and leave the rest zero, and
     * I8 leaves its block scales zero; F32 is cut whole. (Q4: {@link #assertQ4Columns}.)
     */
    static void assertColumns(String what, AbstractTensor whole, AbstractTensor jlamaCut, AbstractTensor ours,
                              DistributedContext dctx) {
        assertEquals(jlamaCut.getClass(), ours.getClass(), what + ": class");
        assertEquals(jlamaCut.dType(), ours.dType(), what + ": dtype");
        assertSameShape(what, jlamaCut.shape(), ours.shape());
        int columns = whole.shape().last();
        int first = dctx.getShardOffsetForLength(columns);
        int count = dctx.getShardLength(columns);
        byte[] expected = columnBytes(whole, first, count);
        assertArrayEquals(expected, bytes(ours.getMemorySegment()), what + ": the rank's columns");
        int rowBytes = expected.length / whole.shape().first();
        int copied = switch (whole.dType()) {
            case F16, BF16 -> count;
            default -> rowBytes;
        };
        byte[] jlamas = bytes(jlamaCut.getMemorySegment());
        for (int r = 0; r < whole.shape().first(); r++) {
            for (int b = 0; b < rowBytes; b++) {
                byte want = b < copied ? expected[r * rowBytes + b] : 0;
                if (jlamas[r * rowBytes + b] != want) {
                    throw new AssertionError(what + ": Jlama's own cut differs from what it did in 0.8.4 at row " + r
                            + " byte " + b);
                }
            }
        }
        if (whole instanceof Q8ByteBufferTensor q) {
            assertScales(what, q.getBlockF(), ((Q8ByteBufferTensor) ours).getBlockF(), ours.shape(),
                    Q8ByteBufferTensor.I_BLOCK_SIZE);
            assertTrue(isZero(((Q8ByteBufferTensor) jlamaCut).getBlockF().getMemorySegment()),
                    what + ": Jlama 0.8.4's I8 cut leaves its scales zero");
        }
    }

    /** A rank's Q4 columns, where Jlama's own cut fails: the rank's columns of the whole tensor, and their scales. */
    static void assertQ4Columns(String what, AbstractTensor whole, AbstractTensor ours, DistributedContext dctx) {
        assertEquals(whole.getClass(), ours.getClass(), what + ": class");
        assertEquals(whole.dType(), ours.dType(), what + ": dtype");
        int columns = whole.shape().last();
        assertEquals(dctx.getShardOffsetForLength(columns), ours.shape().sparseColumnOffset(), what + ": first column");
        assertEquals(dctx.getShardLength(columns), ours.shape().sparseColumnLength(), what + ": columns");
        assertArrayEquals(columnBytes(whole, ours.shape().sparseColumnOffset(), ours.shape().sparseColumnLength()),
                bytes(ours.getMemorySegment()), what + ": the rank's columns");
        assertScales(what, ((Q4ByteBufferTensor) whole).getBlockF(), ((Q4ByteBufferTensor) ours).getBlockF(),
                ours.shape(), 1f / Q4ByteBufferTensor.BLOCK_SIZE);
    }

    /**
     * A quantized cut's block scales: shaped as Jlama shapes them ({@code scaleLastDim} of the cut's shape), and the
     * rank's columns of the whole tensor's scales.
     */
    private static void assertScales(String what, FloatBufferTensor wholeScales, FloatBufferTensor scales,
                                     TensorShape cut, float perElement) {
        TensorShape scaleShape = cut.scaleLastDim(perElement);
        assertSameShape(what + " scales", scaleShape, scales.shape());
        assertArrayEquals(columnBytes(wholeScales, scaleShape.sparseColumnOffset(), scaleShape.sparseColumnLength()),
                bytes(scales.getMemorySegment()), what + ": the rank's scales");
    }

    /** Columns {@code [first, first + count)} of every row of a dense 2-D tensor, packed (Q4: two to a byte). */
    static byte[] columnBytes(AbstractTensor whole, int first, int count) {
        int rows = whole.shape().first();
        byte[] all = bytes(whole.getMemorySegment());
        int rowBytes = all.length / rows;
        int elementBits = rowBytes * 8 / whole.shape().last();
        int from = first * elementBits / 8;
        int length = count * elementBits / 8;
        byte[] out = new byte[rows * length];
        for (int r = 0; r < rows; r++) {
            System.arraycopy(all, r * rowBytes + from, out, r * length, length);
        }
        return out;
    }

    static byte[] bytes(MemorySegment s) {
        return s.toArray(java.lang.foreign.ValueLayout.JAVA_BYTE);
    }

    private static boolean isZero(MemorySegment s) {
        for (byte b : bytes(s)) {
            if (b != 0) {
                return false;
            }
        }
        return true;
    }
}
