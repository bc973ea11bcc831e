package io.stload.io;

import io.stload.plan.ByteRange;
import io.stload.plan.TensorSlice;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Predicate;
import java.util.function.ToIntFunction;

/**
 * Cuts the byte ranges of several files into windows of at most a fixed size, files in order and each file's
 * ranges front to back, and answers which windows a slice's bytes fall into.
 */
final class WindowLayout {
    private final int[] firstWindow;
    private final List<Window> windows = new ArrayList<>();

    /** @param rangesPerFile per file, sorted disjoint ranges to cover */
    WindowLayout(List<List<ByteRange>> rangesPerFile, long windowSize) {
        this.firstWindow = new int[rangesPerFile.size() + 1];
        long stream = 0;
        for (int f = 0; f < rangesPerFile.size(); f++) {
            firstWindow[f] = windows.size();
            for (ByteRange r : rangesPerFile.get(f)) {
                for (long off = r.from(); off < r.to(); off += windowSize) {
                    long len = Math.min(windowSize, r.to() - off);
                    windows.add(new Window(windows.size(), f, off, len, stream));
                    stream += len;
                }
            }
        }
        firstWindow[rangesPerFile.size()] = windows.size();
    }

    List<Window> windows() {
        return windows;
    }

    /** First window of the file ending after {@code start}. */
    int first(int file, long start) {
        return firstNotBefore(file, w -> w.offset() + w.length() <= start);
    }

    /** Last window of the file starting before {@code end}. */
    int last(int file, long end) {
        return firstNotBefore(file, w -> w.offset() < end) - 1;
    }

    /**
     * The first window of the file that {@code before} rejects, by binary search: the windows it accepts must all come
     * first (one past the file's last window when it accepts them all).
     */
    private int firstNotBefore(int file, Predicate<Window> before) {
        int lo = firstWindow[file];
        int hi = firstWindow[file + 1];
        while (lo < hi) {
            int mid = (lo + hi) >>> 1;
            if (before.test(windows.get(mid))) {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        return lo;
    }

    /** Bytes of {@code [start, end)} of a file that fall into window {@code w}. */
    long overlap(Window w, long start, long end) {
        return Math.max(0, Math.min(end, w.offset() + w.length()) - Math.max(start, w.offset()));
    }

    /** Per window, the bytes of slice spans consumers will take from it. */
    long[] unconsumed(List<TensorSlice> slices, ToIntFunction<TensorSlice> fileIndex) {
        long[] bytes = new long[windows.size()];
        for (TensorSlice s : slices) {
            if (s.fileBytes() == 0) {
                continue;
            }
            int f = fileIndex.applyAsInt(s);
            for (int i = first(f, s.spanStart()); i <= last(f, s.spanEnd()); i++) {
                bytes[i] += overlap(windows.get(i), s.spanStart(), s.spanEnd());
            }
        }
        return bytes;
    }
}
