package io.stload.jmh;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.List;

/**
 * Puts a benchmark's files in a known page-cache state: emptied, so reads come from the device ("cold"),
 * through the Linux {@code /proc/sys/vm/drop_caches} knob, which only root may write; or read through once,
 * so every page is resident ("warm").
 */
final class PageCache {
    private static final Path DROP_CACHES = Path.of("/proc/sys/vm/drop_caches");

    private PageCache() {
    }

    /**
     * Checks up front that caches can be dropped, so a cold run that cannot be cold fails once with a reason
     * instead of timing warm reads. Flushes the files first: dirty pages survive a drop.
     */
    static void requireDroppable(List<Path> files) throws IOException {
        for (Path f : files) {
            try (FileChannel ch = FileChannel.open(f, StandardOpenOption.WRITE)) {
                ch.force(true);
            }
        }
        try {
            drop();
        } catch (IOException e) {
            throw new IllegalStateException("cold runs drop the page cache by writing " + DROP_CACHES
                    + ", which needs root (" + e + "); run as root, or pass -p cache=warm to skip them", e);
        }
    }

    static void drop() throws IOException {
        Files.writeString(DROP_CACHES, "3");
    }

    /**
     * Reads every byte of {@code files} into {@code buffer}, discarding it, so the pages are resident
     * afterwards; the way {@code cat file > /dev/null} warms a cache, without a process per file.
     */
    static void readThrough(List<Path> files, ByteBuffer buffer) throws IOException {
        for (Path f : files) {
            try (FileChannel ch = FileChannel.open(f, StandardOpenOption.READ)) {
                while (ch.read(buffer.clear()) >= 0) {
                    // the bytes are not needed, only their pages in the cache
                }
            }
        }
    }
}
