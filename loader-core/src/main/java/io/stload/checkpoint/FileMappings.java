package io.stload.checkpoint;

import io.stload.format.Header;
import io.stload.format.SafetensorsFile;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.IdentityHashMap;
import java.util.Map;

/**
 * The read-only mappings behind a checkpoint's lazy views: each file is mapped on its first view, once, into
 * one shared arena, and every mapping is unmapped together when the checkpoint is closed. A checkpoint that is
 * never viewed maps nothing.
 */
final class FileMappings implements AutoCloseable {
    private final Map<Header, MemorySegment> mapped = new IdentityHashMap<>();
    private Arena arena;
    private boolean closed;

    /** The whole file, mapped; fails if the file changed size since its header was read. */
    synchronized MemorySegment of(Header file) {
        if (closed) {
            throw new IllegalStateException("checkpoint is closed");
        }
        MemorySegment m = mapped.get(file);
        if (m == null) {
            if (arena == null) {
                arena = Arena.ofShared();
            }
            m = SafetensorsFile.map(file, arena).mapping();
            mapped.put(file, m);
        }
        return m;
    }

    /** Unmaps every file; a view taken before is unusable after (accessing it throws, never reads freed memory). */
    @Override
    public synchronized void close() {
        if (!closed) {
            closed = true;
            mapped.clear();
            if (arena != null) {
                arena.close();
            }
        }
    }
}
