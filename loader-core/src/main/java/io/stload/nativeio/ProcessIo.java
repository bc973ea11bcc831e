package io.stload.nativeio;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * The kernel's own count of the bytes this process had read from storage: {@code read_bytes} of
 * {@code /proc/self/io}, which counts what reached the block layer (O_DIRECT reads, page-cache misses and the
 * readahead around them) and nothing served from the page cache or a RAM filesystem. It is per process, so the
 * difference over a load is that load's only when nothing else in the process reads at the same time.
 */
public final class ProcessIo {
    private static final Path PROC_SELF_IO = Path.of("/proc/self/io");

    private ProcessIo() {
    }

    /** The count now, or -1 where the kernel does not keep it (not Linux, or task I/O accounting off). */
    public static long readBytes() {
        return readBytes(PROC_SELF_IO);
    }

    static long readBytes(Path procIo) {
        try {
            for (String line : Files.readAllLines(procIo)) {
                if (line.startsWith("read_bytes:")) {
                    return Long.parseLong(line.substring("read_bytes:".length()).strip());
                }
            }
        } catch (IOException | NumberFormatException e) {
            // Unknown, as on a kernel without the file: the caller reports -1.
        }
        return -1;
    }

    /** Bytes read from storage since {@code before} (a {@link #readBytes()} result), or -1 when unknown. */
    public static long readBytesSince(long before) {
        long now = readBytes();
        return before < 0 || now < 0 ? -1 : now - before;
    }
}
