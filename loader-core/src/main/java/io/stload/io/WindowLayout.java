package io.stload.io;

import io.stload.checkpoint.TensorRef;
import java.util.ArrayList;
import java.util.List;

/**
 * Cuts the byte ranges of several files into fixed-size windows, in file order, and answers which windows
 * a tensor's bytes fall into.
 */
final class WindowLayout {
    /** A file's range to cover: {@code [from, to)}. */
    record Range(long from, long to) {
    }

    private final List<Range> ranges;
    private final long windowSize;
    private final int[] firstWindow;
    private final List<Window> windows = new ArrayList<>();

    WindowLayout(List<Range> ranges, long windowSize) {
        this.ranges = List.copyOf(ranges);
        this.windowSize = windowSize;
        this.firstWindow = new int[ranges.size()];
        long stream = 0;
        for (int f = 0; f < ranges.size(); f++) {
            firstWindow[f] = windows.size();
            Range r = ranges.get(f);
            for (long off = r.from(); off < r.to(); off += windowSize) {
                long len = Math.min(windowSize, r.to() - off);
                windows.add(new Window(windows.size(), f, off, len, stream));
                stream += len;
            }
        }
    }

    List<Window> windows() {
        return windows;
    }

    /** First window holding file bytes {@code [start, end)}; for an empty range, the window at {@code start}. */
    int first(int file, long start) {
        return windowAt(file, start);
    }

    /** Last window holding file bytes {@code [start, end)}; for an empty range, the window at {@code start}. */
    int last(int file, long start, long end) {
        return windowAt(file, end > start ? end - 1 : start);
    }

    private int windowAt(int file, long offset) {
        Range r = ranges.get(file);
        long clamped = Math.min(Math.max(offset, r.from()), Math.max(r.from(), r.to() - 1));
        int i = firstWindow[file] + (int) ((clamped - r.from()) / windowSize);
        return Math.min(i, windows.size() - 1);
    }

    /** Bytes of {@code [start, end)} of a file that fall into window {@code w}. */
    long overlap(Window w, long start, long end) {
        return Math.max(0, Math.min(end, w.offset() + w.length()) - Math.max(start, w.offset()));
    }

    /** Per window, the tensor bytes consumers will take from it. */
    long[] unconsumed(List<TensorRef> tensors, java.util.function.ToIntFunction<TensorRef> fileIndex) {
        long[] bytes = new long[windows.size()];
        for (TensorRef t : tensors) {
            int f = fileIndex.applyAsInt(t);
            long start = t.fileOffset();
            long end = start + t.info().byteSize();
            if (end == start) {
                continue;
            }
            for (int i = first(f, start); i <= last(f, start, end); i++) {
                bytes[i] += overlap(windows.get(i), start, end);
            }
        }
        return bytes;
    }
}
