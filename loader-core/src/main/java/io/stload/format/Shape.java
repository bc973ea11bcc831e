package io.stload.format;

import io.stload.ErrorKind;
import io.stload.StloadException;
import java.util.Arrays;

/**
 * A tensor's dimensions, outermost first: immutable, so {@link TensorInfo#shape()} and {@code Tensor.shape()} hand
 * out the one instance with no copy. Dimensions are unsigned 64-bit values held in longs, as in the format (a tensor
 * of zero elements may have a dimension of 2^63 or more); {@link #toString()} prints them unsigned.
 */
public final class Shape {
    private static final Shape SCALAR = new Shape(new long[0]);

    private final long[] dims;

    private Shape(long[] dims) {
        this.dims = dims;
    }

    /**
     * A shape of the dimensions given.
     *
     * @param dims the dimensions, outermost first; none for a scalar; copied
     * @return the shape
     * @throws StloadException {@link ErrorKind#Usage} if {@code dims} is null
     */
    public static Shape of(long... dims) {
        StloadException.requireNonNull(dims, "a shape is an array of dimensions, empty for a scalar, not null");
        return dims.length == 0 ? SCALAR : new Shape(dims.clone());
    }

    /** {@return the number of dimensions, 0 for a scalar} */
    public int rank() {
        return dims.length;
    }

    /**
     * Returns one dimension.
     *
     * @param i the dimension's index, 0 for the outermost
     * @return its length
     * @throws IndexOutOfBoundsException if {@code i} is not below {@link #rank()}
     */
    public long dim(int i) {
        return dims[i];
    }

    /**
     * {@return the number of elements, 1 for a scalar}
     * It fits in a long for the tensors of a validated header (whose elements all lie in the file), and is 0 whenever
     * a dimension is 0, however large the others.
     *
     * @throws StloadException {@link io.stload.ErrorKind#Usage} for a shape made by a caller whose elements do not
     *                         fit in a long
     */
    public long elementCount() {
        long n = 1;
        for (long d : dims) {
            if (d == 0) {
                return 0;
            }
        }
        for (long d : dims) {
            // Unsigned: a dimension of 2^63 or more, or a product past 2^63 - 1, is more elements than a long holds.
            if (d < 0 || Math.multiplyHigh(n, d) != 0 || n * d < 0) {
                throw StloadException.usage("a shape of " + this + " has more elements than a long holds");
            }
            n *= d;
        }
        return n;
    }

    /**
     * The elements from one index of a dimension to the next: the product of the dimensions inside it.
     *
     * @param i the dimension's index
     * @return the stride, in elements; 1 for the innermost dimension
     * @throws IndexOutOfBoundsException if {@code i} is not below {@link #rank()}
     */
    public long stride(int i) {
        java.util.Objects.checkIndex(i, dims.length);
        long n = 1;
        for (int k = i + 1; k < dims.length; k++) {
            n *= dims[k];
        }
        return n;
    }

    /**
     * The shape without its outermost dimension: the shape of one of its rows.
     *
     * @return the inner dimensions
     * @throws IndexOutOfBoundsException if this is a scalar
     */
    public Shape inner() {
        if (dims.length == 0) {
            throw new IndexOutOfBoundsException("a scalar has no rows");
        }
        return dims.length == 1 ? SCALAR : new Shape(Arrays.copyOfRange(dims, 1, dims.length));
    }

    /**
     * The same shape with one dimension changed.
     *
     * @param i    the dimension's index
     * @param size its new length
     * @return the changed shape
     * @throws IndexOutOfBoundsException if {@code i} is not below {@link #rank()}
     */
    public Shape withDim(int i, long size) {
        long[] copy = dims.clone();
        copy[i] = size;
        return new Shape(copy);
    }

    /** {@return the dimensions in a new array the caller may change} */
    public long[] toArray() {
        return dims.clone();
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof Shape s && Arrays.equals(dims, s.dims);
    }

    @Override
    public int hashCode() {
        return Arrays.hashCode(dims);
    }

    /** {@return the shape as a header writes it, e.g. {@code [4096, 11008]}} */
    @Override
    public String toString() {
        StringBuilder sb = new StringBuilder("[");
        for (int i = 0; i < dims.length; i++) {
            if (i > 0) {
                sb.append(", ");
            }
            sb.append(Long.toUnsignedString(dims[i]));
        }
        return sb.append(']').toString();
    }
}
