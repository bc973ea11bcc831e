package io.stload.io;

import io.stload.format.Header;
import io.stload.nativeio.MappedFile;
import io.stload.nativeio.MemoryAdvice;
import io.stload.nativeio.NativeAccess;
import io.stload.plan.ByteRange;
import io.stload.plan.FilePlan;
import io.stload.plan.TensorSlice;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * {@code prefetch}: background threads populate the page cache window by window over the plan's ranges,
 * front to back ({@link NativeAccess#populate}: exactly the window's pages, where the kernel has
 * MADV_POPULATE_READ; else WILLNEED plus a read of one byte per page), at most a bounded number of bytes
 * ahead of the consumers (fewer while the memory headroom is short: {@link MemoryPressure}), then copy the window
 * from the mapping without faulting. While the headroom cannot hold the bytes to read beside what the
 * destination is still to fill ({@link #footprint}), windows hold one slice each and are no larger than the
 * headroom allows; so do they when the destination would hold what they bring out of order
 * ({@link #heldOutOfOrder}).
 * No anonymous buffer is ever allocated for file data: the page cache is the buffer.
 */
final class PrefetchReader extends MappedReader {
    private final AtomicBoolean populateUnsupported = new AtomicBoolean();
    private final Map<Header, String> notes = new IdentityHashMap<>();
    private volatile long touchSink;

    PrefetchReader(NativeAccess os, List<FilePlan> files, Delivery destination, List<TensorSlice> slices,
                   long windowBytes, long aheadBytes, long maxGap, MemoryPressure pressure, int ioThreads,
                   IoStats stats) {
        super(os, files, destination, pressure, ioThreads, stats);
        long footprint = footprint(files.stream()
                .mapToLong(f -> f.reads().stream().mapToLong(ByteRange::length).sum()).sum());
        if (pressure.isLow(footprint) || heldOutOfOrder(slices)) {
            // Windows of one slice each, no larger than the headroom allows: one read for a consumer asking out of
            // order populates only its own bytes, so in any order each byte is read once and held by nobody else.
            layOut(rangesPerSlice(files, slices, maxGap), pressure.windowBound(windowBytes, ioThreads, footprint),
                    aheadBytes, slices, pressure);
        } else {
            layOut(files.stream().map(FilePlan::reads).toList(), windowBytes, aheadBytes, slices, pressure);
        }
    }

    @Override
    protected void prepare(Header file, MemorySegment window) throws IOException {
        if (!populateUnsupported.get()) {
            try {
                if (os.populate(window)) {
                    return;
                }
            } catch (IOException e) {
                // EFAULT here is a page past the end of a file that shrank under its mapping.
                throw new IOException("populating its pages failed, file truncated during the load? ("
                        + e.getMessage() + ")", e);
            }
            populateUnsupported.set(true);
            synchronized (notes) {
                for (Header h : files) {
                    notes.put(h, "MADV_POPULATE_READ unavailable: WILLNEED and page touching instead");
                }
            }
        }
        os.madvise(window, MemoryAdvice.WILLNEED);
        MappedFile.reading(file.file(), () -> touchPages(window));
    }

    /** The whole window was populated. */
    @Override
    protected long bytesTouched(Window w) {
        return w.length();
    }

    /** Faults in each page by reading one byte of it; sequential, so the kernel's readahead helps. */
    private void touchPages(MemorySegment window) {
        long page = os.pageSize();
        long acc = 0;
        for (long off = 0; off < window.byteSize(); off += page) {
            acc += window.get(ValueLayout.JAVA_BYTE, off);
        }
        if (window.byteSize() > 0) {
            // Windows over a rank's ranges need not start on a page: the last page may lie past the stride.
            acc += window.get(ValueLayout.JAVA_BYTE, window.byteSize() - 1);
        }
        touchSink = acc;
    }

    @Override
    Map<Header, String> notes() {
        synchronized (notes) {
            return Map.copyOf(notes);
        }
    }
}
