package io.stload.format;

import io.stload.ErrorKind;
import io.stload.StloadException;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;

/**
 * A Python-like slice of a tensor, one comma-separated item per leading dimension: {@code start:stop} (either
 * may be left out; a negative one counts from the end), {@code :} for all of it, or a single index, which
 * selects that index and drops the dimension. Dimensions not named are taken whole. Unlike Python, an index
 * outside the dimension is an error rather than clamped, and steps are not supported. Dimensions and
 * positions are unsigned 64-bit values, as in the format (a tensor of zero elements may have a dimension of
 * 2^63 or more).
 *
 * <p>In the file the slice is {@link #runs()} runs of {@link #runBytes()} bytes: the innermost cut dimension
 * and everything inside it are contiguous, so only the bytes of the slice are read. Immutable and thread-safe.
 */
public final class SliceSpec {
    private final TensorInfo tensor;
    /** First index per dimension. */
    private final long[] starts;
    /** One past the last index per dimension. */
    private final long[] stops;
    /** Per dimension, false where a single index dropped it from the result's shape. */
    private final boolean[] kept;

    private SliceSpec(TensorInfo tensor, long[] starts, long[] stops, boolean[] kept) {
        this.tensor = tensor;
        this.starts = starts;
        this.stops = stops;
        this.kept = kept;
    }

    /**
     * Parses a slice against a tensor's shape.
     *
     * @param text   the slice, e.g. {@code "0:4,:"}
     * @param tensor the tensor it cuts
     * @return the validated slice
     * @throws io.stload.StloadException {@link ErrorKind#InvalidSlice} if the text is malformed or outside the shape;
     *         {@link ErrorKind#Unsupported} if it cuts a sub-byte tensor inside a byte
     */
    public static SliceSpec parse(String text, TensorInfo tensor) {
        int rank = tensor.rank();
        String[] items = text.isBlank() ? new String[0] : text.split(",", -1);
        if (items.length > rank) {
            throw invalid(tensor, text, items.length + " dimensions given, but the tensor has " + rank
                    + " (shape " + tensor.shapeString() + ")");
        }
        long[] starts = new long[rank];
        long[] stops = tensor.shape();
        boolean[] kept = new boolean[rank];
        java.util.Arrays.fill(kept, true);
        for (int d = 0; d < items.length; d++) {
            String item = items[d].strip();
            long n = tensor.dim(d);
            int colon = item.indexOf(':');
            if (colon < 0) {
                long at = position(tensor, text, item, d, "index");
                if (Long.compareUnsigned(at, n) >= 0) {
                    throw outOfRange(tensor, text, d, "index " + item);
                }
                starts[d] = at;
                stops[d] = at + 1;
                kept[d] = false;
                continue;
            }
            if (item.indexOf(':', colon + 1) >= 0) {
                throw invalid(tensor, text, "`" + item + "`: steps are not supported");
            }
            String from = item.substring(0, colon).strip();
            String to = item.substring(colon + 1).strip();
            long start = from.isEmpty() ? 0 : bound(tensor, text, from, d);
            long stop = to.isEmpty() ? n : bound(tensor, text, to, d);
            if (Long.compareUnsigned(start, stop) > 0) {
                throw invalid(tensor, text, "dimension " + d + ": start " + from + " is after stop " + to);
            }
            starts[d] = start;
            stops[d] = stop;
        }
        if (tensor.dtype().isSubByte() && !isWhole(tensor, starts, stops)) {
            throw new StloadException(ErrorKind.Unsupported, null, tensor.name() + ": " + tensor.dtype()
                    + " elements are narrower than a byte; only the whole tensor can be read");
        }
        return new SliceSpec(tensor, starts, stops, kept);
    }

    /**
     * An index or bound as written: {@code k} is position k, {@code -k} position {@code n - k} (and {@code -0}
     * is 0, as in Python). Positions are unsigned, as dimensions are: a dimension may be 2^63 or more (in a
     * tensor of zero elements), and so may a position in it. A {@code -k} beyond the dimension is out of range.
     */
    private static long position(TensorInfo tensor, String text, String item, int d, String what) {
        boolean fromEnd = item.startsWith("-");
        String digits = fromEnd ? item.substring(1) : item.startsWith("+") ? item.substring(1) : item;
        long k;
        if (digits.isEmpty() || !digits.chars().allMatch(c -> c >= '0' && c <= '9')) {
            throw invalid(tensor, text, "dimension " + d + ": `" + item + "` is not an index or start:stop");
        }
        try {
            k = Long.parseUnsignedLong(digits);
        } catch (NumberFormatException e) {
            throw outOfRange(tensor, text, d, what + " " + item);
        }
        if (!fromEnd || k == 0) {
            return k;
        }
        long n = tensor.dim(d);
        if (Long.compareUnsigned(k, n) > 0) {
            throw outOfRange(tensor, text, d, what + " " + item);
        }
        return n - k;
    }

    /** A start or stop: {@code 0..n}, or {@code -n..-1} from the end. */
    private static long bound(TensorInfo tensor, String text, String item, int d) {
        long at = position(tensor, text, item, d, "bound");
        if (Long.compareUnsigned(at, tensor.dim(d)) > 0) {
            throw outOfRange(tensor, text, d, "bound " + item);
        }
        return at;
    }

    private static boolean isWhole(TensorInfo tensor, long[] starts, long[] stops) {
        for (int d = 0; d < tensor.rank(); d++) {
            if (starts[d] != 0 || stops[d] != tensor.dim(d)) {
                return false;
            }
        }
        return true;
    }

    private static StloadException invalid(TensorInfo t, String text, String why) {
        return new StloadException(ErrorKind.InvalidSlice, null, t.name() + ": slice `" + text + "`: " + why);
    }

    private static StloadException outOfRange(TensorInfo t, String text, int d, String what) {
        return invalid(t, text, what + " is outside dimension " + d + " of size " + Long.toUnsignedString(t.dim(d))
                + " (shape " + t.shapeString() + ")");
    }

    /** {@return the tensor sliced} */
    public TensorInfo tensor() {
        return tensor;
    }

    /** {@return the result's shape: each kept dimension's {@code stop - start}} */
    public long[] shape() {
        List<Long> out = new ArrayList<>();
        for (int d = 0; d < starts.length; d++) {
            if (kept[d]) {
                out.add(stops[d] - starts[d]);
            }
        }
        return out.stream().mapToLong(Long::longValue).toArray();
    }

    /** {@return the result as a tensor of its own: the sliced shape, bytes {@code [0, byteSize())}} */
    public TensorInfo local() {
        return new TensorInfo(tensor.name(), tensor.dtype(), shape(), 0, byteSize());
    }

    /** {@return the size of the slice in bytes} */
    public long byteSize() {
        return runs() * runBytes();
    }

    /** The innermost dimension that is cut; -1 when none is, and the slice is the whole tensor. */
    private int cutDim() {
        for (int d = starts.length - 1; d >= 0; d--) {
            if (starts[d] != 0 || stops[d] != tensor.dim(d)) {
                return d;
            }
        }
        return -1;
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
        return c < 0 ? tensor.byteSize() : (stops[c] - starts[c]) * stride(c);
    }

    /**
     * {@return the number of runs}
     * It is the product of the selected ranges of the dimensions outside the cut one; 0 if any is empty. When
     * none is, every dimension holds at least one index, so the tensor's element count (and every product of
     * its dimensions) fits in a long: the arithmetic below cannot overflow.
     */
    public long runs() {
        for (int d = 0; d < starts.length; d++) {
            if (starts[d] == stops[d]) {
                return 0;
            }
        }
        long count = 1;
        for (int d = 0; d < cutDim(); d++) {
            count *= stops[d] - starts[d];
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
     */
    public void forEachRun(RunVisitor visitor) {
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
        long[] at = new long[c];
        for (int d = 0; d < c; d++) {
            at[d] = starts[d];
        }
        for (long k = 0; k < count; k++) {
            long offset = starts[c] * stride(c);
            for (int d = 0; d < c; d++) {
                offset += at[d] * stride(d);
            }
            visitor.run(offset, k * run, run);
            // Next index of the outer dimensions, the last one fastest.
            for (int d = c - 1; d >= 0 && ++at[d] == stops[d]; d--) {
                at[d] = starts[d];
            }
        }
    }

    /**
     * Copies the slice's runs, in row-major order, from the whole tensor's bytes into {@code dst}.
     *
     * @param data the whole tensor's bytes
     * @param dst  at least {@link #byteSize()} bytes
     * @throws IndexOutOfBoundsException if either segment is too small
     */
    public void copy(MemorySegment data, MemorySegment dst) {
        forEachRun((offset, at, length) -> MemorySegment.copy(data, offset, dst, at, length));
    }
}
