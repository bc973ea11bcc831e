package io.stload.cuda;

import io.stload.format.Header;
import java.io.IOException;
import java.lang.foreign.MemorySegment;

/** Reads byte ranges of one checkpoint file into staging windows, the way the plan's strategy for it says. */
interface FileSource extends AutoCloseable {

    Header file();

    /**
     * The file-offset granularity of this source's reads: chunks start on it and, short of the end of the file,
     * end on it (direct reads need whole aligned blocks; reads through a mapping need nothing, so 1).
     */
    long alignment();

    /**
     * Puts file bytes {@code [offset, offset + length)}, all within the file, at the start of {@code window}. May
     * read more than asked (a direct read covers whole aligned blocks); {@code window} has room for that.
     */
    void fill(long offset, long length, MemorySegment window) throws IOException;

    /** Anything that happened that the plan did not say (e.g. O_DIRECT refused), or null. */
    String note();

    @Override
    void close() throws IOException;
}
