package io.stload.sink;

import io.stload.ErrorKind;
import io.stload.StloadException;
import io.stload.format.Header;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/**
 * Host memory the loader owns on the caller's behalf: page-aligned, off-heap, one region per file, freed
 * all at once when the sink is closed (by whoever opened it).
 */
public final class HostSink implements AutoCloseable {
    private final Arena arena = Arena.ofShared();
    private long allocated;

    /**
     * A destination for file bytes {@code [alignDown(dataStart), alignUp(fileSize))}: every aligned block
     * covering the data area fits, including a final block that runs past the end of the file.
     */
    public synchronized FileDestination allocate(Header h, int alignment) {
        long from = h.dataStart() / alignment * alignment;
        long to = (h.fileSize() + alignment - 1) / alignment * alignment;
        try {
            MemorySegment memory = arena.allocate(to - from, alignment);
            allocated += to - from;
            return new FileDestination(h, from, memory);
        } catch (OutOfMemoryError e) {
            throw new StloadException(ErrorKind.OutOfMemory, h.file(), "cannot allocate " + (to - from)
                    + " bytes of host memory for its tensors (" + allocated + " bytes already held)");
        }
    }

    public synchronized long allocatedBytes() {
        return allocated;
    }

    @Override
    public void close() {
        arena.close();
    }
}
