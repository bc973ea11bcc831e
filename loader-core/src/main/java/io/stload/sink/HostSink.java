package io.stload.sink;

import io.stload.ErrorKind;
import io.stload.StloadException;
import io.stload.format.Header;
import io.stload.nativeio.NativeAccess;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/**
 * Host memory the loader owns on the caller's behalf: page-aligned, off-heap, one region per file, freed
 * all at once when the sink is closed (by whoever opened it).
 */
public final class HostSink implements AutoCloseable {
    private final Arena arena = Arena.ofShared();
    private final NativeAccess os;
    private long allocated;

    public HostSink(NativeAccess os) {
        this.os = os;
    }

    /**
     * A destination for file bytes {@code [alignDown(dataStart), alignUp(fileSize))}: every aligned block
     * covering the data area fits, including a final block that runs past the end of the file.
     */
    public synchronized FileDestination allocate(Header h, int alignment) {
        if (alignment > os.pageSize() || os.pageSize() % alignment != 0) {
            throw new IllegalArgumentException("alignment must divide the page size " + os.pageSize());
        }
        long from = h.dataStart() / alignment * alignment;
        long to = from + regionBytes(h, alignment);
        try {
            MemorySegment memory = os.allocate(to - from, arena);
            allocated += to - from;
            return new FileDestination(h, from, memory);
        } catch (OutOfMemoryError | IOException e) {
            throw new StloadException(ErrorKind.OutOfMemory, h.file(), "cannot allocate " + (to - from)
                    + " bytes of host memory for its tensors (" + allocated + " bytes already held): " + e.getMessage());
        }
    }

    /** Bytes {@link #allocate} takes for this file: known from the header alone, so callers can budget before loading. */
    public static long regionBytes(Header h, int alignment) {
        long from = h.dataStart() / alignment * alignment;
        long to = (h.fileSize() + alignment - 1) / alignment * alignment;
        return to - from;
    }

    public synchronized long allocatedBytes() {
        return allocated;
    }

    @Override
    public void close() {
        arena.close();
    }
}
