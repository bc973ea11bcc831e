package io.stload.sink;

import io.stload.plan.TensorSlice;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;

/**
 * Which parts of which slices a block of one file's bytes holds, as pieces, and the copy of those pieces to
 * where the slices live: the gather step of reading a covering range when the rank wants only parts of it.
 * A slice is {@code count} runs of {@code runBytes}, {@code stride} apart in the file ({@link TensorSlice}),
 * packed end to end in its destination. The runs that lie wholly inside the block become one strided piece; a
 * run cut by the block's start or end becomes a piece of one row, so a run straddling blocks arrives in parts at
 * consecutive slice offsets. At most three pieces per slice and block, however many runs.
 */
public final class SliceScatter {

    /**
     * {@code rows} rows of {@code width} bytes, {@code pitch} apart from block offset {@code blockOffset}, go to
     * consecutive bytes of {@code slice} from {@code sliceOffset}.
     *
     * @param slice       the slice the rows belong to
     * @param blockOffset the first row's offset in the block
     * @param width       bytes per row
     * @param rows        how many rows
     * @param pitch       bytes from one row's start to the next's, in the block
     * @param sliceOffset where the first row goes in the slice's memory
     */
    public record Piece(TensorSlice slice, long blockOffset, long width, long rows, long pitch, long sliceOffset) {
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
            for (long r = 0; r < rows; r++) {
                MemorySegment.copy(block, blockOffset + r * pitch, sliceMemory, sliceOffset + r * width, width);
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
        this.byStart = new ArrayList<>(slices.stream().filter(s -> s.byteSize() > 0).toList());
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
            add(byStart.get(i), offset, end, out);
        }
        return out;
    }

    private static void add(TensorSlice s, long blockStart, long blockEnd, List<Piece> out) {
        long run = s.runBytes();
        // The first run ending after the block's start, and the last one starting before its end.
        long first = Math.max(0, Math.floorDiv(blockStart - s.start() - run, s.stride()) + 1);
        long last = Math.min(s.count() - 1, Math.floorDiv(blockEnd - 1 - s.start(), s.stride()));
        long k = first;
        if (k <= last && runStart(s, k) < blockStart) {
            out.add(part(s, k, blockStart, Math.min(blockEnd, runStart(s, k) + run), blockStart));
            k++;
        }
        long lastWhole = last >= 0 && runStart(s, last) + run > blockEnd ? last - 1 : last;
        if (lastWhole >= k) {
            out.add(new Piece(s, runStart(s, k) - blockStart, run, lastWhole - k + 1, s.stride(), k * run));
            k = lastWhole + 1;
        }
        if (k <= last) {
            out.add(part(s, k, runStart(s, k), blockEnd, blockStart));
        }
    }

    private static long runStart(TensorSlice s, long k) {
        return s.start() + k * s.stride();
    }

    /** File bytes {@code [from, to)} of run {@code k}, as one row. */
    private static Piece part(TensorSlice s, long k, long from, long to, long blockStart) {
        return new Piece(s, from - blockStart, to - from, 1, to - from, k * s.runBytes() + (from - runStart(s, k)));
    }
}
