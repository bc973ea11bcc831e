package io.stload.format;

import java.util.Arrays;

/**
 * One entry of a header's tensor table. Offsets are relative to the data area, as in the header. Shape
 * dimensions and offsets are unsigned 64-bit values held in longs (the format allows up to 2^64-1); every
 * tensor of a validated header fits its file, so {@link #begin()}, {@link #end()} and {@link #byteSize()}
 * are then ordinary non-negative longs.
 */
public record TensorInfo(String name, DType dtype, long[] shape, long begin, long end) {

    public long byteSize() {
        return end - begin;
    }

    /** Number of elements (1 for a scalar). Only meaningful for a validated header, where it cannot overflow. */
    public long elementCount() {
        long n = 1;
        for (long d : shape) {
            n *= d;
        }
        return n;
    }

    public long[] shape() {
        return shape.clone();
    }

    public int rank() {
        return shape.length;
    }

    public long dim(int i) {
        return shape[i];
    }

    /** The shape as the header writes it, e.g. {@code [4096, 11008]}. */
    public String shapeString() {
        StringBuilder sb = new StringBuilder("[");
        for (int i = 0; i < shape.length; i++) {
            if (i > 0) {
                sb.append(", ");
            }
            sb.append(Long.toUnsignedString(shape[i]));
        }
        return sb.append(']').toString();
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof TensorInfo t && name.equals(t.name) && dtype == t.dtype
                && Arrays.equals(shape, t.shape) && begin == t.begin && end == t.end;
    }

    @Override
    public int hashCode() {
        return name.hashCode() * 31 + Arrays.hashCode(shape);
    }

    @Override
    public String toString() {
        return name + " " + dtype + shapeString() + " @[" + begin + ", " + end + ")";
    }
}
