package io.stload.cuda;

import io.stload.format.Header;
import io.stload.nativeio.MemoryAdvice;
import io.stload.nativeio.NativeAccess;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.channels.FileChannel;
import java.nio.file.StandardOpenOption;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;

/**
 * {@code mmap} and {@code prefetch}: windows are filled by copying from the file's mapping. With prefetch, a
 * background thread populates the mapping (MADV_POPULATE_READ) up to {@code aheadBytes} past the window being
 * filled, so the copy finds its pages resident instead of faulting them in one by one.
 */
final class MappedSource implements FileSource {
    private final Header file;
    private final NativeAccess os;
    private final Arena arena = Arena.ofShared();
    private final MemorySegment mapping;
    private final long populateStep;
    private final long aheadBytes;
    private final ExecutorService populator;
    private long populatedTo;
    private volatile String note;

    /** {@code populateStep == 0}: plain mmap, no populating ahead. */
    MappedSource(Header file, NativeAccess os, long populateStep, long aheadBytes) throws IOException {
        this.file = file;
        this.os = os;
        this.populateStep = populateStep;
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
        populatedTo = file.dataStart();
    }

    @Override
    public Header file() {
        return file;
    }

    @Override
    public void fill(long offset, long length, MemorySegment window) throws IOException {
        if (populator != null) {
            populateAhead(offset + length);
        }
        try {
            MemorySegment.copy(mapping, offset, window, 0, Math.min(length, file.fileSize() - offset));
        } catch (InternalError e) {
            // The JVM's translation of SIGBUS: the file was truncated or its disk failed under the mapping.
            throw new IOException(file.file() + ": file changed or became unreadable during the load ("
                    + e.getMessage() + ")");
        }
    }

    /** Queues populate steps so the populated front stays {@code aheadBytes} past {@code from}. */
    private synchronized void populateAhead(long from) {
        long target = Math.min(file.fileSize(), from + aheadBytes);
        while (populatedTo < target) {
            long start = populatedTo;
            long len = Math.min(populateStep, file.fileSize() - start);
            populatedTo += len;
            populator.execute(() -> populate(start, len));
        }
    }

    private void populate(long start, long len) {
        try {
            if (!os.madvise(mapping.asSlice(start, len), MemoryAdvice.POPULATE_READ)) {
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
