package io.stload.cuda;

import io.stload.format.Header;
import io.stload.nativeio.NativeAccess;
import io.stload.plan.ByteRange;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.channels.FileChannel;
import java.nio.file.StandardOpenOption;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;

/**
 * {@code mmap} and {@code prefetch}: windows are filled by copying from the file's mapping. With prefetch, a
 * background thread populates exactly the plan's ranges of the mapping ({@link NativeAccess#populate}) up to
 * {@code aheadBytes} past the window being filled, so the copy finds its pages resident instead of faulting
 * them in one by one; the bytes between ranges (other ranks' slices) are never populated.
 */
final class MappedSource implements FileSource {
    private final Header file;
    private final NativeAccess os;
    private final Arena arena = Arena.ofShared();
    private final MemorySegment mapping;
    private final PopulateSteps steps;
    private final long aheadBytes;
    private final ExecutorService populator;
    private volatile String note;

    /**
     * @param reads        the plan's ranges of this file, sorted and disjoint: what prefetch populates
     * @param populateStep bytes per populate call; 0: plain mmap, no populating ahead
     */
    MappedSource(Header file, List<ByteRange> reads, NativeAccess os, long populateStep, long aheadBytes)
            throws IOException {
        this.file = file;
        this.os = os;
        this.steps = populateStep > 0 ? new PopulateSteps(reads, populateStep) : null;
        this.aheadBytes = aheadBytes;
        try (FileChannel ch = FileChannel.open(file.file(), StandardOpenOption.READ)) {
            if (ch.size() != file.fileSize()) {
                arena.close();
                throw new IOException(file.file() + " changed size from " + file.fileSize() + " to " + ch.size()
                        + " bytes after its header was read");
            }
            mapping = ch.map(FileChannel.MapMode.READ_ONLY, 0, file.fileSize(), arena);
        } catch (IOException | RuntimeException e) {
            if (arena.scope().isAlive()) {
                arena.close();
            }
            throw e;
        }
        populator = populateStep > 0 ? Executors.newSingleThreadExecutor(r -> {
            Thread t = new Thread(r, "stload-populate");
            t.setDaemon(true);
            return t;
        }) : null;
    }

    @Override
    public Header file() {
        return file;
    }

    @Override
    public long alignment() {
        return 1;
    }

    @Override
    public void fill(long offset, long length, MemorySegment window) throws IOException {
        if (populator != null) {
            populateAhead(offset + length);
        }
        try {
            MemorySegment.copy(mapping, offset, window, 0, length);
        } catch (InternalError e) {
            // The JVM's translation of SIGBUS: the file was truncated or its disk failed under the mapping.
            throw new IOException(file.file() + ": file changed or became unreadable during the load ("
                    + e.getMessage() + ")");
        }
    }

    /** Queues populate steps so the populated front stays {@code aheadBytes} past {@code from}. */
    private void populateAhead(long from) {
        for (ByteRange r : steps.upTo(from + aheadBytes)) {
            populator.execute(() -> populate(r.from(), r.length()));
        }
    }

    private void populate(long start, long len) {
        try {
            if (!os.populate(mapping.asSlice(start, len))) {
                note = "MADV_POPULATE_READ unavailable: pages fault in during the copy";
            }
        } catch (IOException e) {
            // The copy that needs these pages will fault them in and report the error itself.
        }
    }

    @Override
    public String note() {
        return note;
    }

    @Override
    public void close() {
        if (populator != null) {
            populator.shutdownNow();
            try {
                // The mapping must outlive the madvise calls that use it.
                populator.awaitTermination(1, TimeUnit.MINUTES);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        arena.close();
    }
}
