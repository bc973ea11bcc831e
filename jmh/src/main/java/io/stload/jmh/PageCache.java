package io.stload.jmh;

import io.stload.nativeio.NativeAccess;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
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
    /** Pages sampled per file to tell whether a drop took; enough to see a few stray megabytes. */
    private static final int RESIDENCY_SAMPLE_PAGES = 4096;
    /** Leeway for the odd page that something else on the machine reads back between the drop and the check. */
    private static final double COLD_RESIDENT_FRACTION = 0.01;
    private static final int DROP_ATTEMPTS = 20;
    private static final long RETRY_PAUSE_MILLIS = 50;

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
            drop(files);
        } catch (IOException e) {
            throw new IllegalStateException("cold runs drop the page cache by writing " + DROP_CACHES
                    + ", which needs root (" + e + "); run as root, or pass -p cache=warm to skip them", e);
        }
    }

    /**
     * Drops the cache until {@code files} are no longer resident. A drop spares pages that some mapping still
     * holds, and a reader that maps through {@code FileChannel.map} without an arena only unmaps once its
     * buffers are garbage collected; so collect first, and retry while the unmapping catches up.
     */
    static void drop(List<Path> files) throws IOException {
        Path stillResident = null;
        for (int attempt = 0; attempt < DROP_ATTEMPTS; attempt++) {
            System.gc();
            Files.writeString(DROP_CACHES, "3");
            stillResident = firstResident(files);
            if (stillResident == null) {
                return;
            }
            pause();
        }
        throw new IllegalStateException(stillResident + " stayed in the page cache after " + DROP_ATTEMPTS
                + " drops; something keeps it mapped, so cold runs would time warm reads");
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

    /** The first file with more than a stray page or two resident; null when all are cold or it cannot tell. */
    private static Path firstResident(List<Path> files) throws IOException {
        NativeAccess os = NativeAccess.get();
        for (Path f : files) {
            // Mapping a file does not fault its pages in, so asking mincore about the mapping leaves it cold.
            try (Arena arena = Arena.ofConfined(); FileChannel ch = FileChannel.open(f, StandardOpenOption.READ)) {
                MemorySegment mapping = ch.map(FileChannel.MapMode.READ_ONLY, 0, ch.size(), arena);
                if (os.residentFraction(mapping, RESIDENCY_SAMPLE_PAGES) > COLD_RESIDENT_FRACTION) {
                    return f;
                }
            }
        }
        return null;
    }

    private static void pause() {
        try {
            Thread.sleep(RETRY_PAUSE_MILLIS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
