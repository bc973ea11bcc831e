package io.stload.plan;

import io.stload.ErrorKind;
import io.stload.StloadException;
import io.stload.checkpoint.TensorRef;
import io.stload.format.Shape;
import io.stload.format.TensorInfo;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.regex.Pattern;

/**
 * The part of one tensor a rank holds, what it holds of the split dimension, and where its bytes lie in the file.
 * Splitting a row-major tensor on dimension {@code dim} gives the rank, per {@link Part part} of that dimension, a
 * block of indices {@code [from, to)}, and for a padded split {@code pad} more indices that are zeros. A tensor fused
 * from several (a {@code qkv_proj}) has one part per tensor, each cut on its own; a plain split has one part; a
 * whole tensor (replicated, or an expert the rank holds) has one part and {@code dim == -1}.
 *
 * <p>In memory the slice is row-major, as if it had been written on its own: the rank-local tensor {@code local},
 * whose split dimension is every part's indices and pad indices, in part order. Each part's bytes are {@code count}
 * runs of {@code runBytes} file bytes, {@code stride} apart from file offset {@code start}, that land
 * {@code pitch} apart from slice offset {@code offset}; the {@code padBytes} after each run are zeros: written, never
 * read. Immutable. A null argument is a {@link ErrorKind#Usage} error.
 *
 * @param tensor the tensor in the checkpoint
 * @param local  the rank-local tensor: the sliced shape, bytes {@code [0, byteSize())}
 * @param dim    the dimension split, or -1 for a whole tensor
 * @param parts  what the rank holds of each part of the dimension, in order; one for a plain split or a whole tensor
 */
public record TensorSlice(TensorRef tensor, TensorInfo local, int dim, List<Part> parts) {
    /** The pattern of the rule {@link #split} makes for one tensor: it is never matched. */
    private static final Pattern ANY = Pattern.compile(".*");

    /**
     * One part of a slice: which indices of the split dimension it holds, and where their bytes lie.
     *
     * @param from     first index of the split dimension held (0 for a whole tensor)
     * @param to       one past the last index held; {@code from} for a part of which the rank holds only pad
     * @param pad      zero indices held after {@code to} (a padded split's rows past the tensor's end)
     * @param start    file offset of the first run
     * @param runBytes file bytes per run: the indices {@code [from, to)} of one outer index
     * @param stride   file bytes from one run's start to the next's
     * @param count    runs: the product of the dimensions before the split one (1 for a split on dimension 0); 0
     *                 for a tensor of no elements
     * @param offset   slice offset of the first run
     * @param pitch    slice bytes from one run's start to the next's
     * @param padBytes zero bytes after each run
     */
    public record Part(long from, long to, long pad, long start, long runBytes, long stride, long count, long offset,
                       long pitch, long padBytes) {
        /** {@return the file bytes of the part: {@code count} runs} */
        public long fileBytes() {
            return runBytes * count;
        }

        /** {@return one past the part's last file byte; {@link #start()} when it has none} */
        public long fileEnd() {
            return fileBytes() == 0 ? start : start + (count - 1) * stride + runBytes;
        }

        /** Whether the runs lie in file bytes {@code [from, from + fileBytes)} and slice bytes {@code [0, sliceBytes)}. */
        boolean liesInside(long from, long fileBytes, long sliceBytes) {
            if (runBytes < 0 || count < 0 || padBytes < 0 || offset < 0 || start < 0) {
                return false;
            }
            if (count == 0) {
                return true;
            }
            try {
                long lastRun = count - 1;
                boolean apart = lastRun == 0 || stride >= runBytes && pitch >= Math.addExact(runBytes, padBytes);
                long fileEnd = Math.addExact(Math.addExact(start, Math.multiplyExact(lastRun, stride)), runBytes);
                long sliceEnd = Math.addExact(Math.addExact(offset, Math.multiplyExact(lastRun, pitch)),
                        Math.addExact(runBytes, padBytes));
                return apart && sliceEnd <= sliceBytes
                        && (runBytes == 0 || start >= from && fileEnd <= Math.addExact(from, fileBytes));
            } catch (ArithmeticException e) {
                return false;
            }
        }

        /** {@return true when the part's file bytes are one run: one row, or rows with no gap between them} */
        public boolean isContiguous() {
            return count <= 1 || runBytes == stride;
        }
    }

    /**
     * Copies the parts, and checks that each lies inside its tensor's bytes in the file and inside the slice's memory:
     * the engine reads and writes where the parts say, so a slice built by hand must not point it elsewhere.
     *
     * @throws StloadException {@link ErrorKind#Usage} if {@code tensor}, {@code local} or {@code parts} is null, or a
     *                         part lies outside the tensor's bytes or the slice's
     */
    public TensorSlice {
        if (tensor == null || local == null || parts == null) {
            throw StloadException.usage("a slice needs its tensor, its rank-local entry and its parts, not null");
        }
        parts = List.copyOf(parts);
        for (Part p : parts) {
            if (p == null || !p.liesInside(tensor.fileOffset(), tensor.info().byteSize(), local.byteSize())) {
                throw StloadException.usage(tensor.name() + ": a part of its slice lies outside the tensor's bytes"
                        + " or the slice's: " + p);
            }
        }
    }

    private static void requireTensor(TensorRef t) {
        StloadException.requireNonNull(t, "a slice is of a tensor of the checkpoint, not null");
    }

    /**
     * The whole tensor, as a replicated tensor or a single rank holds it.
     *
     * @param t the tensor
     * @return one run covering it
     */
    public static TensorSlice whole(TensorRef t) {
        requireTensor(t);
        TensorInfo i = t.info();
        long bytes = i.byteSize();
        return new TensorSlice(t, i.at(i.shape(), 0, bytes), -1,
                List.of(new Part(0, 0, 0, t.fileOffset(), bytes, bytes, 1, 0, bytes, 0)));
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
     * @throws StloadException Unsupported when a cut would fall inside a byte (sub-byte dtypes); Usage when the
     *                         dimension does not exist, when it does not divide and the rule says it must, or for a
     *                         rank outside {@code [0, worldSize)}
     */
    public static TensorSlice split(TensorRef t, int dim, boolean divisible, int rank, int worldSize) {
        requireTensor(t);
        if (dim < 0) { // a rule's dimension of -1 means "replicate": here it would be taken as one
            throw noSuchDimension(t, dim);
        }
        return of(t, new PartitionRule(t.name(), ANY, dim, divisible, 0, 0, List.of(), 0, 0), rank, worldSize);
    }

    /**
     * Rank {@code rank} of {@code worldSize}'s slice of {@code t} under a rule that splits it.
     *
     * @param t         the tensor
     * @param rule      a split rule ({@code rule.dim() >= 0}); a replicate or experts rule gives the whole tensor
     * @param rank      the rank, in {@code [0, worldSize)}
     * @param worldSize the number of ranks
     * @return the rank's slice
     * @throws StloadException Unsupported when a cut would fall inside a byte (sub-byte dtypes); Usage, naming the
     *                         tensor, the numbers and the reason, when the rule cannot be honoured (a dimension that
     *                         does not exist, a dimension or heads that do not divide, parts that do not add up), or
     *                         for a rank outside {@code [0, worldSize)}
     */
    public static TensorSlice of(TensorRef t, PartitionRule rule, int rank, int worldSize) {
        requireTensor(t);
        if (rule == null) {
            throw StloadException.usage(t.name() + ": a tensor is sliced by a partition rule, not null");
        }
        Partitioning.requireRank(rank, worldSize);
        if (rule.dim() < 0) {
            return whole(t);
        }
        int dim = rule.dim();
        TensorInfo i = t.info();
        if (dim >= i.rank()) {
            throw noSuchDimension(t, dim);
        }
        if (!i.dtype().isKnown()) {
            if (worldSize > 1) {
                throw unsupported(t, "its dtype `" + i.dtypeName() + "` is not one of the format's, so its"
                        + " elements' width is unknown: it can be replicated, not split");
            }
            return whole(t);
        }
        long n = i.dim(dim); // unsigned: a tensor of zero elements may have a dimension of 2^63 or more
        List<PartitionRule.Cut> cuts = rule.cuts(t, n, rank, worldSize);
        long localN = 0;
        for (PartitionRule.Cut c : cuts) {
            localN += c.length();
        }
        Shape shape = i.shape().withDim(dim, localN);
        if (i.elementCount() == 0) {
            // Nothing to read: no run, and none of the products below, which may overflow for such dimensions.
            List<Part> empty = new ArrayList<>();
            for (PartitionRule.Cut c : cuts) {
                empty.add(new Part(c.from(), c.to(), c.pad(), t.fileOffset(), 0, 0, 0, 0, 0, 0));
            }
            return new TensorSlice(t, i.at(shape, 0, 0), dim, empty);
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
            requireWholeBytes(t, rule, n, outer, innerBits, worldSize);
        }
        long pitch;
        try {
            pitch = Math.multiplyExact(localN, innerBits) / 8;
            Math.multiplyExact(pitch, outer);
        } catch (ArithmeticException e) {
            throw new StloadException(ErrorKind.Usage, t.file().file(), t.name() + ": padded to " + localN
                    + " rows of dimension " + dim + ", the slice would not fit in 2^63 bytes");
        }
        long stride = n * innerBits / 8;
        List<Part> parts = new ArrayList<>(cuts.size());
        long offset = 0;
        for (PartitionRule.Cut c : cuts) {
            long runBytes = (c.to() - c.from()) * innerBits / 8;
            long padBytes = c.pad() * innerBits / 8;
            parts.add(new Part(c.from(), c.to(), c.pad(), t.fileOffset() + c.from() * innerBits / 8, runBytes, stride,
                    outer, offset, pitch, padBytes));
            offset += runBytes + padBytes;
        }
        TensorInfo local = i.at(shape, 0, pitch * outer);
        return new TensorSlice(t, local, dim, parts);
    }

    /**
     * First index of dimension size {@code n} (unsigned) that rank {@code r} holds: ranks below {@code n % w} hold
     * one more. It is at most {@code n}, so it fits in 64 unsigned bits.
     */
    static long firstIndex(long n, int r, int w) {
        return r * Long.divideUnsigned(n, w) + Math.min(r, Long.remainderUnsigned(n, w));
    }

    /**
     * Every cut, pad and run start, in the file and in the slice, must fall on a byte boundary, for every rank: a
     * split is refused or taken the same way whichever rank asks.
     */
    private static void requireWholeBytes(TensorRef t, PartitionRule rule, long n, long outer, long innerBits,
                                          int worldSize) {
        if (innerBits % 8 == 0) {
            return; // every index starts on a byte: no need to look at each of the W cuts
        }
        boolean whole = outer == 1 || (n * innerBits) % 8 == 0;
        for (int r = 0; r < worldSize && whole; r++) {
            long localN = 0;
            for (PartitionRule.Cut c : rule.cuts(t, n, r, worldSize)) {
                whole &= (c.from() * innerBits) % 8 == 0 && (c.to() * innerBits) % 8 == 0
                        && (c.pad() * innerBits) % 8 == 0;
                localN += c.length();
            }
            whole &= outer == 1 || (localN * innerBits) % 8 == 0;
        }
        if (!whole) {
            throw unsupported(t, "splitting dimension " + rule.dim() + " of " + t.info().dtype()
                    + t.info().shapeString() + " over " + worldSize + " ranks would cut inside a byte ("
                    + t.info().dtype().bits() + "-bit elements); replicate it or choose another dimension");
        }
    }

    /** A rule that names a dimension the tensor lacks cannot be honoured: the user's to fix, as other such rules. */
    private static StloadException noSuchDimension(TensorRef t, int dim) {
        return new StloadException(ErrorKind.Usage, t.file().file(), t.name() + ": cannot split dimension " + dim
                + " of a tensor of shape " + t.info().shapeString());
    }

    private static StloadException unsupported(TensorRef t, String why) {
        return new StloadException(ErrorKind.Unsupported, t.file().file(), t.name() + ": " + why);
    }

    /** {@return the tensor's name} */
    public String name() {
        return tensor.name();
    }

    /** {@return true when a dimension is split (false for a whole tensor)} */
    public boolean isSplit() {
        return dim >= 0;
    }

    /** {@return the bytes of the rank-local slice, pad bytes included: what it takes in memory} */
    public long byteSize() {
        return local.byteSize();
    }

    /** {@return the bytes of the slice that come from the file: {@link #byteSize()} less the pad bytes} */
    public long fileBytes() {
        long sum = 0;
        for (Part p : parts) {
            sum += p.fileBytes();
        }
        return sum;
    }

    /** {@return the zero bytes of a padded split, which are written and never read} */
    public long padBytes() {
        return byteSize() - fileBytes();
    }

    /** {@return true when the slice is the whole tensor} */
    public boolean isWhole() {
        return parts.size() == 1 && parts.getFirst().padBytes() == 0 && fileBytes() == tensor.info().byteSize()
                && parts.getFirst().start() == tensor.fileOffset() && parts.getFirst().isContiguous();
    }

    /**
     * {@return true when the slice's bytes are one run in the file, laid in memory as they are in the file: one
     * part, no pad, one row or rows with no gap between them}
     */
    public boolean isContiguous() {
        return parts.size() == 1 && parts.getFirst().padBytes() == 0 && parts.getFirst().isContiguous();
    }

    /** {@return the first file byte of the slice; the tensor's first when it has none to read} */
    public long spanStart() {
        long start = Long.MAX_VALUE;
        for (Part p : parts) {
            if (p.fileBytes() > 0) {
                start = Math.min(start, p.start());
            }
        }
        return start == Long.MAX_VALUE ? tensor.fileOffset() : start;
    }

    /** {@return one past its last file byte; {@link #spanStart()} when it has none to read} */
    public long spanEnd() {
        long end = Long.MIN_VALUE;
        for (Part p : parts) {
            if (p.fileBytes() > 0) {
                end = Math.max(end, p.fileEnd());
            }
        }
        return end == Long.MIN_VALUE ? spanStart() : end;
    }

    /**
     * Returns the file ranges to read for this slice: its runs, with gaps of at most {@code maxGap} bytes read
     * through (one large read and a gather beat many small ones). Pad bytes are never read.
     *
     * @param maxGap the largest gap read through
     * @return sorted, disjoint ranges; empty for a slice with no file bytes
     */
    public List<ByteRange> reads(long maxGap) {
        List<ByteRange> runs = new ArrayList<>();
        for (Part p : parts) {
            if (p.fileBytes() == 0) {
                continue;
            }
            if (p.stride() - p.runBytes() <= maxGap) {
                runs.add(new ByteRange(p.start(), p.fileEnd()));
            } else {
                for (long k = 0; k < p.count(); k++) {
                    runs.add(new ByteRange(p.start() + k * p.stride(), p.start() + k * p.stride() + p.runBytes()));
                }
            }
        }
        if (parts.size() > 1) {
            // Parts of an inner dimension interleave: their runs are merged in file order.
            runs.sort(Comparator.comparingLong(ByteRange::from));
        }
        List<ByteRange> out = new ArrayList<>();
        for (ByteRange r : runs) {
            ReadRanges.append(out, r, maxGap);
        }
        return out;
    }

    /**
     * The zero bytes of a padded split, as strided regions of the slice: {@code rows} rows of {@code width} bytes,
     * {@code pitch} apart from slice offset {@code offset}.
     *
     * @param offset the slice offset of the first row
     * @param width  bytes per row
     * @param rows   the number of rows
     * @param pitch  slice bytes from one row's start to the next's
     */
    public record Pad(long offset, long width, long rows, long pitch) {
    }

    /** {@return the slice's zero regions, one per part that has pad indices; empty for most slices} */
    public List<Pad> pads() {
        List<Pad> out = new ArrayList<>();
        for (Part p : parts) {
            if (p.padBytes() > 0 && p.count() > 0) {
                out.add(new Pad(p.offset() + p.runBytes(), p.padBytes(), p.count(), p.pitch()));
            }
        }
        return out;
    }
}
