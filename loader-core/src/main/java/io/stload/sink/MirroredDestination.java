package io.stload.sink;

import io.stload.format.Header;
import io.stload.plan.TensorSlice;
import java.lang.foreign.MemorySegment;

/**
 * Memory that mirrors the file's byte range {@code [from, from + size)}, so that file offset {@code x} lives
 * at {@code memory + (x - from)}. With {@code from} aligned, an aligned block of the file is an aligned block
 * of memory: O_DIRECT reads land in place, with no bounce copy. Only whole tensors fit this layout.
 *
 * @param file   the file mirrored
 * @param from   the first file offset held
 * @param memory the memory, owned by the sink that made it
 */
record MirroredDestination(Header file, long from, MemorySegment memory) implements FileDestination {

    /**
     * Finds where file bytes live.
     *
     * @param fileOffset the first file byte
     * @param length     the number of bytes
     * @return the memory of file bytes {@code [fileOffset, fileOffset + length)}
     * @throws IndexOutOfBoundsException if the range is not held
     */
    public MemorySegment slice(long fileOffset, long length) {
        return memory.asSlice(fileOffset - from, length);
    }

    @Override
    public MemorySegment of(TensorSlice s) {
        if (!s.isWhole()) {
            throw new IllegalStateException(s.name() + ": a mirrored destination holds whole tensors only");
        }
        return slice(s.spanStart(), s.byteSize());
    }
}
