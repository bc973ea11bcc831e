package io.stload.io;

import io.stload.format.Header;
import io.stload.nativeio.NativeAccess;
import io.stload.plan.FilePlan;
import io.stload.plan.TensorSlice;
import io.stload.sink.SliceScatter;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.util.List;
import java.util.Map;

/**
 * {@code mmap}: each slice is copied out of the file's mapping when a consumer asks for it, and not before
 * (windows are cut per slice and issued on demand only). Each window's pages are populated before the copy,
 * exactly its range ({@link NativeAccess#populate}), instead of faulting in page by page: a fault reads around
 * the page, and in a random order under memory pressure the pages read around are evicted before their tensor's
 * turn comes, so each byte is read many times. Only the pages holding the slices' runs are read.
 */
final class MmapReader extends MappedReader {
    MmapReader(NativeAccess os, List<FilePlan> files, Delivery destination, List<TensorSlice> slices,
               long windowBytes, long maxGap, MemoryPressure pressure, int ioThreads, IoStats stats) {
        super(os, files, destination, pressure, ioThreads, stats);
        // Nothing ahead: a window is copied only once a consumer waits for it.
        layOut(rangesPerSlice(files, slices, maxGap), windowBytes, 0, slices);
    }

    /** Where MADV_POPULATE_READ is missing, the copy faults the pages in, as before. */
    @Override
    protected void prepare(Header file, MemorySegment window) throws IOException {
        try {
            os.populate(window);
        } catch (IOException e) {
            // EFAULT here is a page past the end of a file that shrank under its mapping.
            throw new IOException("populating its pages failed, file truncated during the load? ("
                    + e.getMessage() + ")", e);
        }
    }

    /** Only the slices' runs are copied out of the view: the gaps read through are never touched. */
    @Override
    protected long bytesTouched(Window w) {
        long bytes = 0;
        for (SliceScatter.Piece p : destination.scatterOf(files.get(w.file())).pieces(w.offset(), w.offset() + w.length())) {
            bytes += p.bytes();
        }
        return bytes;
    }

    @Override
    Map<Header, String> notes() {
        return Map.of();
    }
}
