package io.stload.io;

import java.io.IOException;
import java.lang.foreign.MemorySegment;

/**
 * The bytes of one checkpoint file, read by position: a local file (O_DIRECT or buffered pread) or a remote
 * object (ranged GETs). The engine's positional strategies read through this, whatever the file lives on.
 * Implementations are safe for concurrent {@link #read} calls.
 */
public interface RangeSource extends AutoCloseable {

    /** What the user knows the file as, for errors and notes: a path, or {@code s3://bucket/key}. */
    String name();

    /** The file's size in bytes, fixed when the source was opened. */
    long size();

    /**
     * The offset and length granularity reads must respect: 1 where any range works, the direct-I/O block
     * size where reads bypass the page cache. Callers cover a range with whole aligned blocks.
     */
    long alignment();

    /**
     * Fills {@code destination} entirely with the file's bytes from {@code offset}, or throws: a short read
     * is never returned. The exception's message says what went wrong, not which file: the caller names it
     * (once), as it names the file in every other error.
     */
    void read(long offset, MemorySegment destination) throws IOException;

    /** Anything that happened that the plan did not say (e.g. "O_DIRECT refused: buffered reads"), or null. */
    String note();

    @Override
    void close() throws IOException;
}
