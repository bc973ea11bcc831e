package io.stload.nativeio;

import java.io.IOException;
import java.lang.foreign.MemorySegment;

/** A read-only file descriptor (or, in the fallback, a FileChannel) with positional reads into native memory. */
public interface NativeFile extends AutoCloseable {

    /** True when the file was opened with O_DIRECT: reads must then be aligned in offset, length and address. */
    boolean isDirect();

    /** The alignment O_DIRECT reads need here (offset, length and memory address), e.g. 4096. */
    int directAlignment();

    /**
     * Whether O_DIRECT reads of this file can be laid out on {@code boundary} (the engine's page-aligned buffers and
     * its blocks): opened O_DIRECT, and needing no more than that alignment.
     */
    default boolean directAlignsTo(long boundary) {
        return isDirect() && boundary % directAlignment() == 0;
    }

    long size() throws IOException;

    /**
     * Reads from file {@code offset} until {@code dst} is full or the file ends (retrying short reads and
     * EINTR); returns the number of bytes read.
     */
    long read(MemorySegment dst, long offset) throws IOException;

    /** posix_fadvise(2); false when unsupported. */
    boolean fadvise(long offset, long length, FileAdvice advice);

    /** readahead(2): start reading the range into the page cache without waiting; false when unsupported. */
    boolean readahead(long offset, long length);

    @Override
    void close() throws IOException;
}
