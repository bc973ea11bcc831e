package io.stload.plan;

import io.stload.ErrorKind;
import io.stload.StloadException;
import io.stload.checkpoint.TensorRef;
import io.stload.format.Shape;
import io.stload.format.TensorInfo;
import java.util.ArrayList;
import java.util.List;

/**
 * The part of one tensor a rank holds, and where its bytes lie in the file. Splitting a row-major tensor on
 * dimension {@code d} gives each rank a block of indices of that dimension; in the file that block is
 * {@code count} runs of {@code runBytes} bytes, {@code stride} bytes apart, starting at {@code start}: one run
 * for a split on dimension 0 (or a replicated tensor), one run per index of the outer dimensions otherwise.
 * Laid end to end, the runs are the slice in row-major order, as if it had been written on its own. Immutable.
 *
 * @param tensor   the tensor in the checkpoint
 * @param local    the rank-local tensor: the sliced shape, bytes {@code [0, byteSize())}
 * @param start    file offset of the first run
 * @param runBytes bytes per run
 * @param stride   file bytes from one run's start to the next's
 * @param count    number of runs
 */
public record TensorSlice(TensorRef tensor, TensorInfo local, long start, long runBytes, long stride, long count) {

    /**
     * The whole tensor, as a replicated tensor or a single rank holds it.
     *
     * @param t the tensor
     * @return one run covering it
     */
    public static TensorSlice whole(TensorRef t) {
        TensorInfo i = t.info();
        return new TensorSlice(t, i.at(i.shape(), 0, i.byteSize()), t.fileOffset(), i.byteSize(), i.byteSize(), 1);
    }

    /**
     * Rank {@code rank} of {@code worldSize}'s part of {@code t} split on {@code dim}: indices
     * {@code [lo, hi)} of that dimension, where the first {@code shape[dim] % worldSize} ranks get one more.
     *
     * @param t         the tensor
     * @param dim       the dimension split
     * @param divisible whether a dimension that does not divide by the world size is an error
     * @param rank      the rank, in {@code [0, worldSize)}
     * @param worldSize the number of ranks
     * @return the rank's slice
     * @throws StloadException Unsupported when the dimension does not exist, does not divide and the rule
     *                         says it must, or a cut would fall inside a byte (sub-byte dtypes)
     */
    public static TensorSlice split(TensorRef t, int dim, boolean divisible, int rank, int worldSize) {
        TensorInfo i = t.info();
        if (dim >= i.rank()) {
            throw unsupported(t, "cannot split dimension " + dim + " of a tensor of shape " + i.shapeString());
        }
        long n = i.dim(dim); // unsigned: a tensor of zero elements may have a dimension of 2^63 or more
        if (divisible && Long.remainderUnsigned(n, worldSize) != 0) {
            throw unsupported(t, "dimension " + dim + " (" + Long.toUnsignedString(n) + ") does not divide by world "
                    + "size " + worldSize + " and its rule says divisible");
        }
        if (!i.dtype().isKnown() && worldSize > 1) {
            throw unsupported(t, "its dtype `" + i.dtypeName() + "` is not one of the format's, so its elements'"
                    + " width is unknown: it can be replicated, not split");
        }
        long lo = firstIndex(n, rank, worldSize);
        long hi = firstIndex(n, rank + 1, worldSize);
        Shape shape = i.shape().withDim(dim, hi - lo);
        if (i.elementCount() == 0 || !i.dtype().isKnown()) {
            // Nothing to read: no run, and none of the products below, which may overflow for such dimensions.
            // (A tensor of unknown dtype reaches here only whole, for a world of one.)
            return i.dtype().isKnown()
                    ? new TensorSlice(t, i.at(shape, 0, 0), t.fileOffset(), 0, 0, 0) : whole(t);
        }
        // Every dimension is at least 1 and the element count fits in a long, so the products below do too.
        long outer = 1;
        for (int d = 0; d < dim; d++) {
            outer *= i.dim(d);
        }
        long innerBits = i.dtype().bits();
        for (int d = dim + 1; d < i.rank(); d++) {
            innerBits *= i.dim(d);
        }
        if (worldSize > 1) {
            requireWholeBytes(t, dim, n, outer, innerBits, worldSize);
        }
        long runBytes = (hi - lo) * innerBits / 8;
        long stride = n * innerBits / 8;
        long count = runBytes == 0 ? 0 : outer;
        TensorInfo local = i.at(shape, 0, runBytes * count);
        return new TensorSlice(t, local, t.fileOffset() + lo * innerBits / 8, runBytes, stride, count);
    }

    /**
     * First index of dimension size {@code n} (unsigned) that rank {@code r} holds: ranks below {@code n % w} hold
     * one more. It is at most {@code n}, so it fits in 64 unsigned bits.
     */
    static long firstIndex(long n, int r, int w) {
        return r * Long.divideUnsigned(n, w) + Math.min(r, Long.remainderUnsigned(n, w));
    }

    /** Every cut of every rank, and every run start, must fall on a byte boundary. */
    private static void requireWholeBytes(TensorRef t, int dim, long n, long outer, long innerBits, int worldSize) {
        if (innerBits % 8 == 0) {
            return; // every index starts on a byte: no need to look at each of the W cuts
        }
        boolean whole = outer == 1 || (n * innerBits) % 8 == 0;
        for (int r = 1; r < worldSize && whole; r++) {
            whole = (firstIndex(n, r, worldSize) * innerBits) % 8 == 0;
        }
        if (!whole) {
            throw unsupported(t, "splitting dimension " + dim + " of " + t.info().dtype() + t.info().shapeString()
                    + " over " + worldSize + " ranks would cut inside a byte (" + t.info().dtype().bits()
                    + "-bit elements); replicate it or choose another dimension");
        }
    }

    private static StloadException unsupported(TensorRef t, String why) {
        return new StloadException(ErrorKind.Unsupported, t.file().file(), t.name() + ": " + why);
    }

    /** {@return the tensor's name} */
    public String name() {
        return tensor.name();
    }

    /** {@return the bytes of the rank-local slice} */
    public long byteSize() {
        return runBytes * count;
    }

    /** {@return true when the slice is the whole tensor} */
    public boolean isWhole() {
        return byteSize() == tensor.info().byteSize();
    }

    /** {@return true when the slice's bytes are one run in the file: one row, or rows with no gap between them} */
    public boolean isContiguous() {
        return count <= 1 || runBytes == stride;
    }

    /** {@return the first file byte of the slice} */
    public long spanStart() {
        return start;
    }

    /** {@return one past its last file byte; {@link #spanStart()} when the slice is empty} */
    public long spanEnd() {
        return count == 0 ? start : start + (count - 1) * stride + runBytes;
    }

    /**
     * Returns the file ranges to read for this slice: its runs, with gaps of at most {@code maxGap} bytes read
     * through (one large read and a gather beat many small ones).
     *
     * @param maxGap the largest gap read through
     * @return sorted, disjoint ranges; empty for an empty slice
     */
    public List<ByteRange> reads(long maxGap) {
        List<ByteRange> out = new ArrayList<>();
        if (byteSize() == 0) {
            return out;
        }
        if (stride - runBytes <= maxGap) {
            out.add(new ByteRange(spanStart(), spanEnd()));
            return out;
        }
        for (long k = 0; k < count; k++) {
            out.add(new ByteRange(start + k * stride, start + k * stride + runBytes));
        }
        return out;
    }
}
