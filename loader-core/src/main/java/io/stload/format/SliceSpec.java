package io.stload.format;

import io.stload.ErrorKind;
import io.stload.StloadException;
import java.lang.foreign.MemorySegment;
import java.util.Arrays;

/**
 * A {@link Slice} resolved against a tensor: for each dimension the first index taken, how many are taken and the
 * step between them, and whether the dimension stays in the result (a single index drops it). Dimensions and
 * positions are unsigned 64-bit values, as in the format (a tensor of zero elements may have a dimension of 2^63 or
 * more).
 *
 * <p>In the tensor's bytes the slice is {@link #runs()} runs of {@link #runBytes()} bytes: the innermost dimension the
 * slice cuts and everything inside it are contiguous, unless that dimension is stepped, when each index of it is a
 * run of its own. Only the runs are read ({@link #forEachRun}), lazily from a mapping or by ranged reads of a remote
 * file, so a stepped slice reads no byte it does not return (beyond the gaps a remote read bridges). Immutable and
 * thread-safe.
 */
public final class SliceSpec {
    private final TensorInfo tensor;
    /** First index per dimension. */
    private final long[] starts;
    /** Indices taken per dimension. */
    private final long[] counts;
    /** Step per dimension, unsigned, at least 1. */
    private final long[] steps;
    /** Per dimension, false where a single index dropped it from the result's shape. */
    private final boolean[] kept;

    private SliceSpec(TensorInfo tensor, long[] starts, long[] counts, long[] steps, boolean[] kept) {
        this.tensor = tensor;
        this.starts = starts;
        this.counts = counts;
        this.steps = steps;
        this.kept = kept;
    }

    /**
     * Parses a slice's string form ({@link Slice#parse}) against a tensor's shape.
     *
     * @param text   the slice, e.g. {@code "0:4,:"} or {@code "..., ::2"}
     * @param tensor the tensor it cuts
     * @return the resolved slice
     * @throws io.stload.StloadException {@link ErrorKind#InvalidSlice} if the text is malformed or outside the shape;
     *         {@link ErrorKind#Unsupported} as {@link Slice#on}
     */
    public static SliceSpec parse(String text, TensorInfo tensor) {
        StloadException.requireNonNull(tensor, "a slice is parsed against a tensor, not null");
        return resolve(Slice.parse(text, tensor.name() + ": "), tensor);
    }

    /** The indices of each dimension {@code slice} takes from {@code tensor}. */
    static SliceSpec resolve(Slice slice, TensorInfo tensor) {
        int rank = tensor.rank();
        int given = (int) slice.items().stream().filter(i -> !i.isEllipsis()).count();
        if (given > rank) {
            throw invalid(tensor, slice, given + " dimensions given, but the tensor has " + rank + " (shape "
                    + tensor.shapeString() + ")");
        }
        long[] starts = new long[rank];
        long[] counts = tensor.shape().toArray();
        long[] steps = new long[rank];
        boolean[] kept = new boolean[rank];
        Arrays.fill(steps, 1);
        Arrays.fill(kept, true);
        int d = 0;
        for (Slice.Item item : slice.items()) {
            if (item.isEllipsis()) {
                d += rank - given; // whole dimensions, as those after the last item
                continue;
            }
            StringBuilder why = new StringBuilder();
            Slice.Resolved r = Slice.resolve(item, tensor.dim(d), why);
            if (r == null) {
                throw invalid(tensor, slice, why + " dimension " + d + " of size "
                        + Long.toUnsignedString(tensor.dim(d)) + " (shape " + tensor.shapeString() + ")");
            }
            starts[d] = r.start();
            counts[d] = r.count();
            steps[d] = r.count() > 1 ? r.step() : 1; // a step that takes one index is no step
            kept[d] = !r.index();
            d++;
        }
        SliceSpec spec = new SliceSpec(tensor, starts, counts, steps, kept);
        if (spec.cutDim() >= 0 && !tensor.dtype().isKnown()) {
            throw new StloadException(ErrorKind.Unsupported, null, tensor.name() + ": dtype `" + tensor.dtypeName()
                    + "` is not one of the format's, so its elements' width is unknown: only the whole tensor can be "
                    + "read");
        }
        if (spec.cutDim() >= 0 && tensor.dtype().isSubByte()) {
            throw new StloadException(ErrorKind.Unsupported, null, tensor.name() + ": " + tensor.dtype()
                    + " elements are narrower than a byte; only the whole tensor can be read");
        }
        return spec;
    }

    private static StloadException invalid(TensorInfo t, Slice slice, String why) {
        return new StloadException(ErrorKind.InvalidSlice, null, t.name() + ": slice `" + slice.quoted() + "`: "
                + why);
    }

    /** {@return the tensor sliced} */
    public TensorInfo tensor() {
        return tensor;
    }

    /** {@return the result's shape: the indices each kept dimension takes} */
    public Shape shape() {
        int n = 0;
        for (boolean k : kept) {
            n += k ? 1 : 0;
        }
        long[] out = new long[n];
        for (int d = 0, i = 0; d < counts.length; d++) {
            if (kept[d]) {
                out[i++] = counts[d];
            }
        }
        return Shape.of(out);
    }

    /** {@return the result as a tensor of its own: the sliced shape, bytes {@code [0, byteSize())}} */
    public TensorInfo local() {
        return tensor.at(shape(), 0, byteSize());
    }

    /** {@return the size of the slice in bytes} */
    public long byteSize() {
        return runs() * runBytes();
    }

    /** {@return true when the slice is one run of the tensor's bytes (or none): a view of them needs no copy} */
    public boolean isContiguous() {
        return runs() <= 1;
    }

    /** {@return the offset of the slice's first byte in the tensor's bytes; 0 for an empty slice} */
    public long firstByte() {
        if (byteSize() == 0 || cutDim() < 0) {
            return 0;
        }
        long offset = 0;
        for (int d = 0; d < starts.length; d++) {
            offset += starts[d] * stride(d);
        }
        return offset;
    }

    /** Whether dimension {@code d} is taken whole: every index, in order. */
    private boolean whole(int d) {
        return starts[d] == 0 && counts[d] == tensor.dim(d) && steps[d] == 1;
    }

    /** The innermost dimension that is cut; -1 when none is, and the slice is the whole tensor. */
    private int cutDim() {
        for (int d = starts.length - 1; d >= 0; d--) {
            if (!whole(d)) {
                return d;
            }
        }
        return -1;
    }

    /** The dimensions whose indices each start a run of their own: those outside the cut one, and it if stepped. */
    private int runDims() {
        int c = cutDim();
        return c < 0 ? 0 : steps[c] == 1 ? c : c + 1;
    }

    /** Bytes from one index of dimension {@code d} to the next: the product of the dimensions after it. */
    private long stride(int d) {
        long inner = 1;
        for (int k = d + 1; k < starts.length; k++) {
            inner *= tensor.dim(k);
        }
        return inner * tensor.dtype().bits() / 8;
    }

    /** {@return the bytes of each contiguous run; 0 when the slice is empty} */
    public long runBytes() {
        if (runs() == 0) {
            // Empty: maybe a tensor of zero elements, whose other dimensions may be as large as 2^64 - 1.
            return 0;
        }
        int c = cutDim();
        if (c < 0) {
            return tensor.byteSize();
        }
        int r = runDims();
        return r == c ? counts[c] * stride(c) : stride(c);
    }

    /**
     * {@return the number of runs}
     * It is the product of the indices taken of the dimensions that start runs; 0 if any dimension takes none. When
     * none is empty, every dimension holds at least one index, so the tensor's element count (and every product of
     * its dimensions) fits in a long: the arithmetic here cannot overflow.
     */
    public long runs() {
        for (long n : counts) {
            if (n == 0) {
                return 0;
            }
        }
        long count = 1;
        for (int d = 0; d < runDims(); d++) {
            count *= counts[d];
        }
        return count;
    }

    /** One contiguous run of the slice, as {@link #forEachRun} visits it. */
    @FunctionalInterface
    public interface RunVisitor {
        /**
         * Called once per run.
         *
         * @param offset where the run starts in the tensor's bytes
         * @param at     where it starts in the slice's bytes
         * @param length its length in bytes
         */
        void run(long offset, long at, long length);
    }

    /**
     * Visits the slice's runs in row-major order, which is also the order of their offsets in the tensor.
     *
     * @param visitor called once per run, on the calling thread
     * @throws StloadException {@link ErrorKind#Usage} if {@code visitor} is null
     */
    public void forEachRun(RunVisitor visitor) {
        StloadException.requireNonNull(visitor, "a slice's runs are visited by a visitor, not null");
        long run = runBytes();
        long count = runs();
        if (count == 0 || run == 0) {
            return;
        }
        int c = cutDim();
        if (c < 0) {
            visitor.run(0, 0, run);
            return;
        }
        int r = runDims();
        long base = r == c ? starts[c] * stride(c) : 0;
        long[] strides = new long[r];
        long[] at = new long[r];
        for (int d = 0; d < r; d++) {
            strides[d] = stride(d);
        }
        for (long k = 0; k < count; k++) {
            long offset = base;
            for (int d = 0; d < r; d++) {
                offset += (starts[d] + at[d] * steps[d]) * strides[d];
            }
            visitor.run(offset, k * run, run);
            // Next index of the run dimensions, the last one fastest.
            for (int d = r - 1; d >= 0 && ++at[d] == counts[d]; d--) {
                at[d] = 0;
            }
        }
    }

    /**
     * Copies the slice's runs, in row-major order, from the whole tensor's bytes into {@code dst}.
     *
     * @param data the whole tensor's bytes
     * @param dst  at least {@link #byteSize()} bytes
     * @throws IndexOutOfBoundsException if either segment is too small
     * @throws StloadException {@link ErrorKind#Usage} if either segment is null
     */
    public void copy(MemorySegment data, MemorySegment dst) {
        if (data == null || dst == null) {
            throw StloadException.usage("a slice is copied from the tensor's bytes into a segment, neither null");
        }
        forEachRun((offset, at, length) -> MemorySegment.copy(data, offset, dst, at, length));
    }
}
