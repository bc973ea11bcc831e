package io.stload.jlama;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.SegmentAllocator;

/** Cuts of bytes already in memory. */
final class Cuts {
    private Cuts() {
    }

    /**
     * Packs bytes {@code [first, first + count)} of every row of {@code data} into new memory.
     *
     * @param data     the tensor, {@code rows x rowBytes}
     * @param rowBytes bytes per row
     * @param first    first byte of each row taken
     * @param count    bytes taken per row
     * @param into     where the copy is allocated
     * @return the packed copy, read-only
     */
    static MemorySegment columns(MemorySegment data, long rowBytes, long first, long count, SegmentAllocator into) {
        long rows = rowBytes == 0 ? 0 : data.byteSize() / rowBytes;
        MemorySegment out = into.allocate(rows * count, 64);
        for (long r = 0; r < rows; r++) {
            MemorySegment.copy(data, r * rowBytes + first, out, r * count, count);
        }
        return out.asReadOnly();
    }
}
