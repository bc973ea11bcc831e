package io.stload.format;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/**
 * A tensor's description and a bounds-checked view of its bytes (no copy). Typed accessors read elements
 * by flat row-major index, little-endian as the format stores them; they check the dtype.
 */
public record Tensor(TensorInfo info, MemorySegment data) {
    private static final ValueLayout.OfShort I16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfInt I32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfLong I64 = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfDouble F64 = ValueLayout.JAVA_DOUBLE_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    public String name() {
        return info.name();
    }

    public DType dtype() {
        return info.dtype();
    }

    public long[] shape() {
        return info.shape();
    }

    public long byteSize() {
        return data.byteSize();
    }

    /** BOOL, U8 and I8, and the 8-bit float types, as raw bytes. */
    public byte getByte(long index) {
        require(index, DType.BOOL, DType.U8, DType.I8, DType.F8_E4M3, DType.F8_E5M2, DType.F8_E8M0,
                DType.F8_E4M3FNUZ, DType.F8_E5M2FNUZ);
        return data.get(ValueLayout.JAVA_BYTE, index);
    }

    public short getShort(long index) {
        require(index, DType.I16, DType.U16);
        return data.getAtIndex(I16, index);
    }

    public int getInt(long index) {
        require(index, DType.I32, DType.U32);
        return data.getAtIndex(I32, index);
    }

    public long getLong(long index) {
        require(index, DType.I64, DType.U64);
        return data.getAtIndex(I64, index);
    }

    /** F32, and F16/BF16 widened to float. */
    public float getFloat(long index) {
        return switch (info.dtype()) {
            case F32 -> data.getAtIndex(F32, index);
            case F16 -> Float.float16ToFloat(data.getAtIndex(I16, index));
            case BF16 -> Float.intBitsToFloat(data.getAtIndex(I16, index) << 16);
            default -> throw new IllegalStateException(name() + " is " + dtype() + ", not a float type");
        };
    }

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
