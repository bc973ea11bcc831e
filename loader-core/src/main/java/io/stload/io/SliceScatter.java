package io.stload.io;

import io.stload.plan.TensorSlice;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.function.Function;

/**
 * Copies a block of one file's bytes, read into a buffer, to every slice it holds runs of: the gather step
 * of reading a covering range when the rank wants only parts of it.
 */
final class SliceScatter {
    private final List<TensorSlice> byStart;
    private final Function<TensorSlice, MemorySegment> destination;

    /** @param slices one file's slices, any order */
    SliceScatter(List<TensorSlice> slices, Function<TensorSlice, MemorySegment> destination) {
        this.byStart = new ArrayList<>(slices.stream().filter(s -> s.byteSize() > 0).toList());
        this.byStart.sort(Comparator.comparingLong(TensorSlice::spanStart));
        this.destination = destination;
    }

    /** Scatters file bytes {@code [offset, offset + block.byteSize())}, held in {@code block}. */
    void scatter(long offset, MemorySegment block) {
        long end = offset + block.byteSize();
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
        for (int i = lo; i < byStart.size() && byStart.get(i).spanStart() < end; i++) {
            copyRuns(byStart.get(i), offset, end, block);
        }
    }

    private void copyRuns(TensorSlice s, long offset, long end, MemorySegment block) {
        MemorySegment dst = destination.apply(s);
        long run = s.runBytes();
        long first = Math.max(0, Math.floorDiv(offset - s.start() - run, s.stride()) + 1);
        long last = Math.min(s.count() - 1, Math.floorDiv(end - 1 - s.start(), s.stride()));
        for (long k = first; k <= last; k++) {
            long runStart = s.start() + k * s.stride();
            long from = Math.max(offset, runStart);
            long to = Math.min(end, runStart + run);
            if (to > from) {
                MemorySegment.copy(block, from - offset, dst, k * run + (from - runStart), to - from);
            }
        }
    }
}
