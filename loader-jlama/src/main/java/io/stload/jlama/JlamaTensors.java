package io.stload.jlama;

import com.github.tjake.jlama.safetensors.DType;
import com.github.tjake.jlama.tensor.AbstractTensor;
import com.github.tjake.jlama.tensor.BFloat16BufferTensor;
import com.github.tjake.jlama.tensor.Float16BufferTensor;
import com.github.tjake.jlama.tensor.FloatBufferTensor;
import com.github.tjake.jlama.tensor.Q4ByteBufferTensor;
import com.github.tjake.jlama.tensor.Q8ByteBufferTensor;
import com.github.tjake.jlama.tensor.TensorShape;
import io.stload.ErrorKind;
import io.stload.StloadException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SegmentAllocator;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;

/**
 * Jlama's tensor types over bytes: the switch of Jlama's own loader ({@code Weights.loadTensorFromBuffer}), case for
 * case. F32, BF16 and (in a model that is mostly not F32) F16 are wrapped without a copy; F16 in a model that is
 * mostly F32 is widened to F32, as Jlama does; the quantized types (I8, Q4) take their block scales, the F32 tensor
 * stored beside them as {@code NAME.qb}. Jlama has no tensor type for the other dtypes and refuses them.
 */
final class JlamaTensors {
    private static final ValueLayout.OfShort F16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private JlamaTensors() {
    }

    /** Whether a tensor of this dtype takes block scales ({@code NAME.qb}). */
    static boolean quantized(DType dtype) {
        return dtype == DType.I8 || dtype == DType.Q4;
    }

    /**
     * Wraps bytes as the Jlama tensor of their dtype.
     *
     * @param file     the tensor's file, for errors
     * @param name     the tensor's name
     * @param dtype    its dtype
     * @param majority the model's dtype ({@code WeightLoader.getModelDType()}): F16 is widened when it is F32
     * @param shape    the Jlama shape, sparse where a rank's part is held
     * @param data     the bytes, read-only, in the layout the shape says
     * @param scales   the block scales of a quantized tensor, else null
     * @param copies   where a widened F16 tensor is allocated
     * @return the tensor over {@code data} (over a widened copy of it for F16 in an F32 model)
     */
    static AbstractTensor make(Path file, String name, DType dtype, DType majority, TensorShape shape,
                               MemorySegment data, FloatBufferTensor scales, SegmentAllocator copies) {
        ByteBuffer b = data.asByteBuffer().order(ByteOrder.LITTLE_ENDIAN);
        return switch (dtype) {
            case F32 -> new FloatBufferTensor(name, b.asFloatBuffer(), shape, true);
            case F16 -> majority == DType.F32
                    ? new FloatBufferTensor(widen(data, copies).asByteBuffer().order(ByteOrder.LITTLE_ENDIAN)
                            .asFloatBuffer(), shape, true)
                    : new Float16BufferTensor(name, b.asShortBuffer(), shape, true);
            case BF16 -> new BFloat16BufferTensor(name, b.asShortBuffer(), shape, true);
            case Q4 -> new Q4ByteBufferTensor(name, b, scales, shape, true);
            case I8 -> new Q8ByteBufferTensor(name, b, scales, shape, true);
            default -> throw new StloadException(ErrorKind.Unsupported, file, name + ": Jlama has no tensor type for "
                    + dtype + " (it loads F32, F16, BF16, I8 and Q4)");
        };
    }

    /** F16 widened to F32 as Jlama widens it ({@link Float#float16ToFloat}), into memory of its own. */
    private static MemorySegment widen(MemorySegment f16, SegmentAllocator copies) {
        long n = f16.byteSize() / Short.BYTES;
        MemorySegment out = copies.allocate(n * Float.BYTES, 64);
        for (long i = 0; i < n; i++) {
            out.set(F32, i * Float.BYTES, Float.float16ToFloat(f16.get(F16, i * Short.BYTES)));
        }
        return out.asReadOnly();
    }
}
