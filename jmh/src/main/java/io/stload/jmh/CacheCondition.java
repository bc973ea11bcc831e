package io.stload.jmh;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.List;

/**
 * The page-cache state every load of a benchmark starts from, named by its {@code cache} parameter:
 * {@code cold} (the cache emptied, so the load reads from the device) or {@code warm} (every file read
 * through just before, so the load finds every page resident whatever the previous invocation did).
 */
final class CacheCondition {
    /** Large enough that warming is a few big sequential reads per file, small enough to allocate once. */
    private static final int WARMING_BUFFER_BYTES = 8 << 20;

    private final List<Path> files;
    private final boolean cold;
    private final ByteBuffer warmingBuffer;

    private CacheCondition(List<Path> files, boolean cold) {
        this.files = List.copyOf(files);
        this.cold = cold;
        this.warmingBuffer = cold ? null : ByteBuffer.allocateDirect(WARMING_BUFFER_BYTES);
    }

    /** Fails here, once, when a cold condition cannot be had, rather than timing warm reads as cold ones. */
    static CacheCondition of(String cache, List<Path> files) throws IOException {
        return switch (cache) {
            case "cold" -> {
                PageCache.requireDroppable(files);
                yield new CacheCondition(files, true);
            }
            case "warm" -> new CacheCondition(files, false);
            default -> throw new IllegalArgumentException("cache must be cold or warm, not '" + cache + "'");
        };
    }

    void establish() throws IOException {
        if (cold) {
            PageCache.drop(files);
        } else {
            PageCache.readThrough(files, warmingBuffer);
        }
    }
}
