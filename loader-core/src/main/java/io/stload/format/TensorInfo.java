package io.stload.format;

import java.util.Arrays;

/**
 * One entry of a header's tensor table. Offsets are relative to the data area, as in the header. Shape
 * dimensions and offsets are unsigned 64-bit values held in longs (the format allows up to 2^64-1); every
 * tensor of a validated header fits its file, so {@link #begin()}, {@link #end()} and {@link #byteSize()}
 * are then ordinary non-negative longs. {@link #shape()} returns a copy; the array given to the constructor is
 * kept, so it must not be changed afterwards.
 *
 * @param name  the tensor's name, unique in its checkpoint
 * @param dtype the element type
 * @param shape the dimensions, outermost first; empty for a scalar
 * @param begin offset of the first byte in the data area
 * @param end   offset one past the last byte in the data area
 */
public record TensorInfo(String name, DType dtype, long[] shape, long begin, long end) {

    /** {@return the tensor's size in bytes, {@code end - begin}} */
    public long byteSize() {
        return end - begin;
    }

    /**
     * {@return the number of elements, 1 for a scalar}
     * Only meaningful for a validated header, where it cannot overflow.
     */
    public long elementCount() {
        long n = 1;
        for (long d : shape) {
            n *= d;
        }
        return n;
    }

    /** {@return a copy of the shape, outermost dimension first} */
    public long[] shape() {
        return shape.clone();
    }

    /** {@return the number of dimensions, 0 for a scalar} */
    public int rank() {
        return shape.length;
    }

    /**
     * Returns one dimension.
     *
     * @param i the dimension's index, 0 for the outermost
     * @return its length
     * @throws ArrayIndexOutOfBoundsException if {@code i} is not below {@link #rank()}
     */
    public long dim(int i) {
        return shape[i];
    }

    /** {@return the shape as the header writes it, e.g. {@code [4096, 11008]}} */
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
