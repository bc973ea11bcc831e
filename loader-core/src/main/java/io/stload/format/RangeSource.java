package io.stload.format;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.util.Optional;

/**
 * The bytes of one checkpoint file, read by position: a local file (O_DIRECT or buffered pread) or a remote
 * object (ranged GETs). The engine's positional strategies read through this, whatever the file lives on.
 * Implementations are safe for concurrent {@link #read} calls. A {@link io.stload.checkpoint.RemoteFolder} opens
 * one per remote file; the engine owns it from then on and closes it once its reads are done.
 */
public interface RangeSource extends AutoCloseable {

    /**
     * What the user knows the file as, for errors and notes.
     *
     * @return a path, or {@code s3://bucket/key}
     */
    String name();

    /**
     * The file's size, fixed when the source was opened.
     *
     * @return the size in bytes
     */
    long size();

    /**
     * The offset and length granularity reads must respect: 1 where any range works, the direct-I/O block
     * size where reads bypass the page cache. Callers cover a range with whole aligned blocks.
     *
     * @return the alignment in bytes; 1 unless a source says otherwise (the default)
     */
    default long alignment() {
        return 1;
    }

    /**
     * Fills {@code destination} entirely with the file's bytes from {@code offset}, or throws: a short read
     * is never returned. The exception's message says what went wrong, not which file: the caller names it
     * (once), as it names the file in every other error.
     *
     * @param offset      where in the file to start, a multiple of {@link #alignment()}
     * @param destination the memory to fill; its size is the number of bytes read
     * @throws IOException when the bytes cannot be read, or the file ends before {@code destination} is full
     */
    void read(long offset, MemorySegment destination) throws IOException;

    /**
     * The version of the file this source reads, fixed when it was opened: for an object in storage, the version its
     * store gave (an S3 ETag), which every read is of. A reload compares it to tell an unchanged file from a new one.
     *
     * @return the version, or empty when the store gives none (the default)
     */
    default Optional<String> version() {
        return Optional.empty();
    }

    /**
     * Anything that happened that the plan did not say.
     *
     * @return e.g. {@code "O_DIRECT refused: buffered reads"}, or null
     */
    String note();

    /**
     * Releases what the source holds (a descriptor, connections); no read may follow.
     *
     * @throws IOException when releasing fails
     */
    @Override
    void close() throws IOException;
}
