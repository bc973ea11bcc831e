package io.stload.format;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/**
 * A tensor's description and a bounds-checked view of its bytes (no copy). Typed accessors read elements
 * by flat row-major index, little-endian as the format stores them; they check the dtype.
 *
 * <p>The view is valid while the memory it views is: the {@code Checkpoint}, {@code LoadedWeights} or lease it came
 * from. Reading a view after its owner closed throws {@link IllegalStateException}. A tensor is immutable and may be
 * read from any thread while its owner is open.
 *
 * @param info the tensor's name, dtype, shape and place in its file
 * @param data the tensor's bytes; not owned by this record
 */
public record Tensor(TensorInfo info, MemorySegment data) {
    private static final ValueLayout.OfShort I16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfInt I32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfLong I64 = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfDouble F64 = ValueLayout.JAVA_DOUBLE_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    /** {@return the tensor's name in the checkpoint} */
    public String name() {
        return info.name();
    }

    /** {@return the element type} */
    public DType dtype() {
        return info.dtype();
    }

    /** {@return the shape, outermost dimension first; a copy the caller may change} */
    public long[] shape() {
        return info.shape();
    }

    /** {@return the size of {@link #data()} in bytes} */
    public long byteSize() {
        return data.byteSize();
    }

    /**
     * Reads one byte-wide element: BOOL, U8 and I8, and the 8-bit float types as raw bytes.
     *
     * @param index flat row-major element index
     * @return the element's byte
     * @throws IllegalStateException if the dtype is not one byte wide
     * @throws IndexOutOfBoundsException if the index is outside the tensor
     */
    public byte getByte(long index) {
        require(index, DType.BOOL, DType.U8, DType.I8, DType.F8_E4M3, DType.F8_E5M2, DType.F8_E8M0,
                DType.F8_E4M3FNUZ, DType.F8_E5M2FNUZ);
        return data.get(ValueLayout.JAVA_BYTE, index);
    }

    /**
     * Reads one I16 or U16 element (U16 as its bit pattern).
     *
     * @param index flat row-major element index
     * @return the element
     * @throws IllegalStateException if the dtype is neither I16 nor U16
     * @throws IndexOutOfBoundsException if the index is outside the tensor
     */
    public short getShort(long index) {
        require(index, DType.I16, DType.U16);
        return data.getAtIndex(I16, index);
    }

    /**
     * Reads one I32 or U32 element (U32 as its bit pattern).
     *
     * @param index flat row-major element index
     * @return the element
     * @throws IllegalStateException if the dtype is neither I32 nor U32
     * @throws IndexOutOfBoundsException if the index is outside the tensor
     */
    public int getInt(long index) {
        require(index, DType.I32, DType.U32);
        return data.getAtIndex(I32, index);
    }

    /**
     * Reads one I64 or U64 element (U64 as its bit pattern).
     *
     * @param index flat row-major element index
     * @return the element
     * @throws IllegalStateException if the dtype is neither I64 nor U64
     * @throws IndexOutOfBoundsException if the index is outside the tensor
     */
    public long getLong(long index) {
        require(index, DType.I64, DType.U64);
        return data.getAtIndex(I64, index);
    }

    /**
     * Reads one F32 element, or an F16 or BF16 element widened to float.
     *
     * @param index flat row-major element index
     * @return the element as a float
     * @throws IllegalStateException if the dtype is not F32, F16 or BF16
     * @throws IndexOutOfBoundsException if the index is outside the tensor
     */
    public float getFloat(long index) {
        return switch (info.dtype()) {
            case F32 -> data.getAtIndex(F32, index);
            case F16 -> Float.float16ToFloat(data.getAtIndex(I16, index));
            case BF16 -> Float.intBitsToFloat(data.getAtIndex(I16, index) << 16);
            default -> throw new IllegalStateException(name() + " is " + dtype() + ", not a float type");
        };
    }

    /**
     * Reads one F64 element.
     *
     * @param index flat row-major element index
     * @return the element
     * @throws IllegalStateException if the dtype is not F64
     * @throws IndexOutOfBoundsException if the index is outside the tensor
     */
    public double getDouble(long index) {
        require(index, DType.F64);
        return data.getAtIndex(F64, index);
    }

    private void require(long index, DType... allowed) {
        for (DType d : allowed) {
            if (d == info.dtype()) {
                return;
            }
        }
        throw new IllegalStateException(name() + " is " + dtype() + "; this accessor is for " + java.util.Arrays.toString(allowed));
    }
}
