package io.stload.io;

import io.stload.format.Header;
import io.stload.plan.ByteRange;
import io.stload.plan.FilePlan;
import io.stload.plan.TensorSlice;
import io.stload.nativeio.MemoryAdvice;
import io.stload.nativeio.NativeAccess;
import io.stload.sink.FileDestination;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * {@code prefetch}: background threads populate the page cache window by window over the plan's ranges,
 * front to back ({@link NativeAccess#populate}: exactly the window's pages, where the kernel has
 * MADV_POPULATE_READ; else WILLNEED plus a read of one byte per page), at most
 * a bounded number of bytes ahead of the consumers, who then copy from the mapping without faulting.
 * No anonymous buffer is ever allocated for file data: the page cache is the buffer.
 */
final class PrefetchReader extends WindowedReader {
    private final NativeAccess os;
    private final Arena mappings = Arena.ofShared();
    private final List<MemorySegment> mapped = new ArrayList<>();
    private final Map<Header, FileDestination> destinations;
    private final AtomicBoolean populateUnsupported = new AtomicBoolean();
    private final Map<Header, String> notes = new IdentityHashMap<>();
    private volatile long touchSink;

    PrefetchReader(NativeAccess os, List<FilePlan> files, Map<Header, FileDestination> destinations,
                   List<TensorSlice> slices, long windowBytes, long aheadBytes, int ioThreads, IoStats stats)
            throws IOException {
        super(files.stream().map(FilePlan::file).toList(), ioThreads, stats);
        this.os = os;
        this.destinations = destinations;
        List<List<ByteRange>> ranges = new ArrayList<>();
        try {
            for (FilePlan f : files) {
                mapped.add(MmapReader.Mappings.map(f.file(), mappings));
                ranges.add(f.reads());
            }
        } catch (IOException | RuntimeException e) {
            mappings.close();
            throw e;
        }
        layOut(ranges, windowBytes, aheadBytes, slices);
    }

    @Override
    protected void transfer(Header file, Window w) throws IOException {
        try {
            prefetch(mapped.get(w.file()).asSlice(w.offset(), w.length()));
        } catch (IOException e) {
            throw new IOException(file.file() + ": " + e.getMessage(), e);
        }
        stats.bytesRead.add(w.length());
    }

    private void prefetch(MemorySegment window) throws IOException {
        if (!populateUnsupported.get()) {
            if (os.populate(window)) {
                return;
            }
            populateUnsupported.set(true);
            synchronized (notes) {
                for (Header h : files) {
                    notes.put(h, "MADV_POPULATE_READ unavailable: WILLNEED and page touching instead");
                }
            }
        }
        os.madvise(window, MemoryAdvice.WILLNEED);
        touchPages(window);
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
    protected void finish(TensorSlice s) {
        long begin = System.nanoTime();
        MmapReader.Mappings.copy(mapped.get(fileIndexOf(s)), s, destinations.get(s.tensor().file()).of(s));
        stats.copyNanos.add(System.nanoTime() - begin);
    }

    @Override
    public Map<Header, String> notes() {
        synchronized (notes) {
            return Map.copyOf(notes);
        }
    }

    @Override
    public void close() {
        abort(new IOException("load closed"));
        mappings.close();
    }
}
