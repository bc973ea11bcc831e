package io.stload.format;

import io.stload.StloadException;

/**
 * One entry of a header's tensor table. Offsets are relative to the data area, as in the header. Shape
 * dimensions and offsets are unsigned 64-bit values held in longs (the format allows up to 2^64-1); every
 * tensor of a validated header fits its file, so {@link #begin()}, {@link #end()} and {@link #byteSize()}
 * are then ordinary non-negative longs. Immutable: the shape is a {@link Shape}, handed out without a copy.
 *
 * @param name      the tensor's name, unique in its checkpoint
 * @param dtype     the element type; {@link DType#UNKNOWN} for a dtype the format does not define
 * @param shape     the dimensions, outermost first; empty for a scalar
 * @param begin     offset of the first byte in the data area
 * @param end       offset one past the last byte in the data area
 * @param dtypeName the dtype as the header spells it: {@code dtype.name()} for the format's types, the header's own
 *                  string (e.g. {@code "Q4"}) for {@link DType#UNKNOWN}
 */
public record TensorInfo(String name, DType dtype, Shape shape, long begin, long end, String dtypeName) {

    /**
     * Checks the entry: a known dtype is spelled as its name, and an unknown one must be spelled.
     *
     * @throws StloadException {@link io.stload.ErrorKind#Usage} if {@code dtypeName} disagrees with {@code dtype};
     *         if {@code name}, {@code dtype} or {@code shape} is null
     */
    public TensorInfo {
        if (name == null || dtype == null || shape == null) {
            throw StloadException.usage("a tensor's entry needs its name, dtype and shape, not null");
        }
        if (dtype != DType.UNKNOWN ? !dtype.name().equals(dtypeName)
                : dtypeName == null || DType.fromHeaderName(dtypeName) != null) {
            throw StloadException.usage(name + ": dtype " + dtype + " cannot be spelled `" + dtypeName + "`");
        }
    }

    /**
     * An entry of one of the format's dtypes.
     *
     * @param name  the tensor's name
     * @param dtype the element type, one the format defines
     * @param shape the dimensions, outermost first
     * @param begin offset of the first byte in the data area
     * @param end   offset one past the last byte in the data area
     * @throws StloadException {@link io.stload.ErrorKind#Usage} if any argument is null
     */
    public TensorInfo(String name, DType dtype, Shape shape, long begin, long end) {
        this(name, dtype, shape, begin, end, dtype == null ? null : dtype.name());
    }

    /**
     * An entry of one of the format's dtypes, its shape given as an array (copied).
     *
     * @param name  the tensor's name
     * @param dtype the element type, one the format defines
     * @param shape the dimensions, outermost first; copied
     * @param begin offset of the first byte in the data area
     * @param end   offset one past the last byte in the data area
     * @throws StloadException {@link io.stload.ErrorKind#Usage} if any argument is null
     */
    public TensorInfo(String name, DType dtype, long[] shape, long begin, long end) {
        this(name, dtype, Shape.of(shape), begin, end);
    }

    /**
     * The same tensor described at another place or with another shape (a slice of it, a copy of it): name and
     * dtype (its spelling included) kept.
     *
     * @param shape its shape there
     * @param begin offset of its first byte there
     * @param end   offset one past its last byte there
     * @return the entry
     * @throws StloadException {@link io.stload.ErrorKind#Usage} if {@code shape} is null
     */
    public TensorInfo at(Shape shape, long begin, long end) {
        return new TensorInfo(name, dtype, shape, begin, end, dtypeName);
    }

    /** {@return the tensor's size in bytes, {@code end - begin}} */
    public long byteSize() {
        return end - begin;
    }

    /**
     * {@return the number of elements, 1 for a scalar}
     * Only meaningful for a validated header, where it cannot overflow.
     */
    public long elementCount() {
        return shape.elementCount();
    }

    /** {@return the number of dimensions, 0 for a scalar} */
    public int rank() {
        return shape.rank();
    }

    /**
     * Returns one dimension.
     *
     * @param i the dimension's index, 0 for the outermost
     * @return its length
     * @throws IndexOutOfBoundsException if {@code i} is not below {@link #rank()}
     */
    public long dim(int i) {
        return shape.dim(i);
    }

    /** {@return the shape as the header writes it, e.g. {@code [4096, 11008]}} */
    public String shapeString() {
        return shape.toString();
    }

    @Override
    public String toString() {
        return name + " " + dtypeName + shapeString() + " @[" + begin + ", " + end + ")";
    }
}
