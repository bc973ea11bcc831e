package io.stload.sink;

import io.stload.ErrorKind;
import io.stload.StloadException;
import io.stload.format.Header;
import io.stload.nativeio.NativeAccess;
import io.stload.plan.TensorSlice;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Host memory the loader owns on the caller's behalf: page-aligned, off-heap, one region per file (mirroring
 * the file, or packing a rank's slices of it), freed all at once when the sink is closed (by whoever opened it).
 */
public final class HostSink implements AutoCloseable {
    /** Slices start on cache-line multiples wide enough for any SIMD load a consumer may use. */
    public static final int SLICE_ALIGNMENT = 64;

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
    public synchronized MirroredDestination allocateMirror(Header h, int alignment) {
        if (alignment > os.pageSize() || os.pageSize() % alignment != 0) {
            throw new IllegalArgumentException("alignment must divide the page size " + os.pageSize());
        }
        long from = h.dataStart() / alignment * alignment;
        long to = from + regionBytes(h, alignment);
        return new MirroredDestination(h, from, allocate(h, to - from));
    }

    /** One region for a rank's slices of a file's tensors, each starting on a {@link #SLICE_ALIGNMENT} boundary. */
    public synchronized PackedDestination allocatePacked(Header h, List<TensorSlice> slices) {
        long size = 0;
        for (TensorSlice s : slices) {
            size = alignUp(size, SLICE_ALIGNMENT) + s.byteSize();
        }
        MemorySegment memory = allocate(h, size);
        Map<String, MemorySegment> at = new HashMap<>();
        long offset = 0;
        for (TensorSlice s : slices) {
            offset = alignUp(offset, SLICE_ALIGNMENT);
            at.put(s.name(), memory.asSlice(offset, s.byteSize()));
            offset += s.byteSize();
        }
        return new PackedDestination(h, at);
    }

    private MemorySegment allocate(Header h, long bytes) {
        try {
            MemorySegment memory = os.allocate(bytes, arena);
            allocated += bytes;
            return memory;
        } catch (OutOfMemoryError | IOException e) {
            throw new StloadException(ErrorKind.OutOfMemory, h.file(), "cannot allocate " + bytes
                    + " bytes of host memory for its tensors (" + allocated + " bytes already held): " + e.getMessage());
        }
    }

    private static long alignUp(long v, long a) {
        return (v + a - 1) / a * a;
    }

    /**
     * Bytes {@link #allocateMirror} takes for this file: known from the header alone, so callers can budget
     * before loading (an upper bound for a rank's packed slices).
     */
    public static long regionBytes(Header h, int alignment) {
        return alignUp(h.fileSize(), alignment) - h.dataStart() / alignment * alignment;
    }

    public synchronized long allocatedBytes() {
        return allocated;
    }

    @Override
    public void close() {
        arena.close();
    }
}
