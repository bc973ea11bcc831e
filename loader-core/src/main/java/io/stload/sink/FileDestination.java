package io.stload.sink;

import io.stload.format.Header;
import io.stload.format.TensorInfo;
import java.lang.foreign.MemorySegment;

/**
 * Where one file's bytes land: memory that mirrors the file's byte range {@code [from, from + size)}, so
 * that file offset {@code x} lives at {@code memory + (x - from)}. With {@code from} aligned, an aligned
 * block of the file is an aligned block of memory: O_DIRECT reads land in place, with no bounce copy.
 */
public record FileDestination(Header file, long from, MemorySegment memory) {

    /** The destination of file bytes {@code [fileOffset, fileOffset + length)}. */
    public MemorySegment slice(long fileOffset, long length) {
        return memory.asSlice(fileOffset - from, length);
    }

    public MemorySegment tensor(TensorInfo t) {
        return slice(file.dataStart() + t.begin(), t.byteSize());
    }
}
