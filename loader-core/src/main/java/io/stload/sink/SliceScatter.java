package io.stload.sink;

import static io.stload.sink.DestinationArguments.requireSlice;

import io.stload.StloadException;
import io.stload.plan.TensorSlice;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;

/**
 * Which parts of which slices a block of one file's bytes holds, as pieces, and the copy of those pieces to
 * where the slices live: the gather step of reading a covering range when the rank wants only parts of it.
 * Each part of a slice is {@code count} runs of {@code runBytes}, {@code stride} apart in the file, that land
 * {@code pitch} apart in the slice from its {@code offset} ({@link TensorSlice.Part}: end to end for a plain split;
 * a fused tensor's parts one after another; a padded split's runs followed by zeros, which no piece covers). The
 * runs of a part that lie wholly inside the block become one strided piece; a run cut by the block's start or end
 * becomes a piece of one row, so a run straddling blocks arrives in parts at consecutive slice offsets. At most
 * three pieces per part and block, however many runs. A null argument is a {@link io.stload.ErrorKind#Usage} error.
 */
public final class SliceScatter {

    /**
     * {@code rows} rows of {@code width} bytes, {@code pitch} apart from block offset {@code blockOffset}, go to
     * {@code slice} from {@code sliceOffset}, {@code slicePitch} apart ({@code width} apart, that is end to end, but
     * for the runs of a part of an inner dimension's padded or fused split).
     *
     * @param slice       the slice the rows belong to
     * @param blockOffset the first row's offset in the block
     * @param width       bytes per row
     * @param rows        how many rows
     * @param pitch       bytes from one row's start to the next's, in the block
     * @param sliceOffset where the first row goes in the slice's memory
     * @param slicePitch  bytes from one row's start to the next's, in the slice's memory
     */
    public record Piece(TensorSlice slice, long blockOffset, long width, long rows, long pitch, long sliceOffset,
                        long slicePitch) {
        /**
         * Checks that the piece has its slice.
         *
         * @throws StloadException {@link io.stload.ErrorKind#Usage} if {@code slice} is null
         */
        public Piece {
            requireSlice(slice);
        }

        /** {@return block bytes from the first row's start to the last row's end} */
        public long span() {
            return (rows - 1) * pitch + width;
        }

        /** {@return the bytes the piece moves: rows times width} */
        public long bytes() {
            return width * rows;
        }

        /**
         * Gathers the piece's rows from {@code block} into the whole slice's memory.
         *
         * @param block       the block's bytes
         * @param sliceMemory the slice's memory, row-major
         */
        public void copy(MemorySegment block, MemorySegment sliceMemory) {
            if (block == null || sliceMemory == null) {
                throw StloadException.usage("a piece is copied from a block into a slice's memory, neither null");
            }
            for (long r = 0; r < rows; r++) {
                MemorySegment.copy(block, blockOffset + r * pitch, sliceMemory, sliceOffset + r * slicePitch, width);
            }
        }
    }

    private final List<TensorSlice> byStart;

    /**
     * The arithmetic for one file's slices.
     *
     * @param slices one file's slices, any order
     */
    public SliceScatter(List<TensorSlice> slices) {
        StloadException.requireNonNull(slices, "a file's slices are a list, not null");
        this.byStart = new ArrayList<>(slices.stream().filter(s -> s.fileBytes() > 0).toList());
        this.byStart.sort(Comparator.comparingLong(TensorSlice::spanStart));
    }

    /**
     * The pieces of every slice within file bytes {@code [offset, end)}.
     *
     * @param offset the block's first file byte
     * @param end    the file offset just past the block
     * @return the pieces, their block offsets relative to {@code offset}
     */
    public List<Piece> pieces(long offset, long end) {
        // Slices are disjoint and sorted, so their span ends are sorted too: find the first ending past offset.
        int lo = 0;
        int hi = byStart.size();
        while (lo < hi) {
            int mid = (lo + hi) >>> 1;
            if (byStart.get(mid).spanEnd() <= offset) {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        List<Piece> out = new ArrayList<>();
        for (int i = lo; i < byStart.size() && byStart.get(i).spanStart() < end; i++) {
            TensorSlice s = byStart.get(i);
            for (TensorSlice.Part p : s.parts()) {
                if (p.fileBytes() > 0 && p.start() < end && p.fileEnd() > offset) {
                    add(s, p, offset, end, out);
                }
            }
        }
        return out;
    }

    /**
     * The piece that is all of file bytes {@code [offset, offset + length)}: a window that lies wholly inside one run
     * of one slice, which a read can land in that slice's memory directly.
     *
     * @param offset the window's first file byte
     * @param length the window's length
     * @return that piece (one row, as wide as the window), or null when the window holds anything else
     */
    public Piece singleRun(long offset, long length) {
        List<Piece> pieces = pieces(offset, offset + length);
        if (pieces.size() != 1) {
            return null;
        }
        Piece p = pieces.getFirst();
        return p.blockOffset() == 0 && p.width() == length ? p : null;
    }

    private static void add(TensorSlice s, TensorSlice.Part p, long blockStart, long blockEnd, List<Piece> out) {
        long run = p.runBytes();
        // The first run ending after the block's start, and the last one starting before its end.
        long first = Math.max(0, Math.floorDiv(blockStart - p.start() - run, p.stride()) + 1);
        long last = Math.min(p.count() - 1, Math.floorDiv(blockEnd - 1 - p.start(), p.stride()));
        long k = first;
        if (k <= last && runStart(p, k) < blockStart) {
            out.add(part(s, p, k, blockStart, Math.min(blockEnd, runStart(p, k) + run), blockStart));
            k++;
        }
        long lastWhole = last >= 0 && runStart(p, last) + run > blockEnd ? last - 1 : last;
        if (lastWhole >= k) {
            out.add(new Piece(s, runStart(p, k) - blockStart, run, lastWhole - k + 1, p.stride(),
                    p.offset() + k * p.pitch(), p.pitch()));
            k = lastWhole + 1;
        }
        if (k <= last) {
            out.add(part(s, p, k, runStart(p, k), blockEnd, blockStart));
        }
    }

    private static long runStart(TensorSlice.Part p, long k) {
        return p.start() + k * p.stride();
    }

    /** File bytes {@code [from, to)} of run {@code k}, as one row. */
    private static Piece part(TensorSlice s, TensorSlice.Part p, long k, long from, long to, long blockStart) {
        return new Piece(s, from - blockStart, to - from, 1, to - from,
                p.offset() + k * p.pitch() + (from - runStart(p, k)), to - from);
    }
}
