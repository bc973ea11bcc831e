package io.stload.io;

import io.stload.checkpoint.TensorRef;
import io.stload.format.Header;
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
 * {@code prefetch}: background threads populate the page cache window by window, front to back
 * (MADV_POPULATE_READ where the kernel has it, else WILLNEED plus a read of one byte per page), at most
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

    PrefetchReader(NativeAccess os, List<Header> files, Map<Header, FileDestination> destinations,
                   List<TensorRef> tensors, long windowBytes, long aheadBytes, int ioThreads, IoStats stats)
            throws IOException {
        super(files, ioThreads, stats);
        this.os = os;
        this.destinations = destinations;
        List<WindowLayout.Range> ranges = new ArrayList<>();
        try {
            for (Header h : files) {
                mapped.add(MmapReader.Mappings.map(h, mappings));
                long page = os.pageSize();
                ranges.add(new WindowLayout.Range(h.dataStart() / page * page, h.fileSize()));
            }
        } catch (IOException | RuntimeException e) {
            mappings.close();
            throw e;
        }
        layOut(ranges, windowBytes, aheadBytes, tensors);
    }

    @Override
    protected void transfer(Header file, Window w) throws IOException {
        MemorySegment window = mapped.get(w.file()).asSlice(w.offset(), w.length());
        if (!populateUnsupported.get()) {
            if (os.madvise(window, MemoryAdvice.POPULATE_READ)) {
                stats.bytesRead.add(w.length());
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
        stats.bytesRead.add(w.length());
    }

    /** Faults in each page by reading one byte of it; sequential, so the kernel's readahead helps. */
    private void touchPages(MemorySegment window) {
        long page = os.pageSize();
        long acc = 0;
        for (long off = 0; off < window.byteSize(); off += page) {
            acc += window.get(ValueLayout.JAVA_BYTE, off);
        }
        touchSink = acc;
    }

    @Override
    protected void finish(TensorRef t) {
        long begin = System.nanoTime();
        MmapReader.Mappings.copy(mapped.get(indexOf(t.file())), t, destinations.get(t.file()));
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
