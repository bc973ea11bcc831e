package io.stload.io;

import io.stload.ErrorKind;
import io.stload.StloadException;
import io.stload.format.Header;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.channels.FileChannel;
import java.nio.file.StandardOpenOption;

/** Mapping a checkpoint file, and reading from the mapping with a truncated file reported as such: once, here. */
final class Mappings {
    private Mappings() {
    }

    /** The whole file, read-only; refused when it no longer has the size its header was read at. */
    static MemorySegment map(Header h, Arena arena) {
        try (FileChannel ch = FileChannel.open(h.file(), StandardOpenOption.READ)) {
            if (ch.size() != h.fileSize()) {
                throw new StloadException(ErrorKind.Io, h.file(), "changed size from " + h.fileSize() + " to "
                        + ch.size() + " bytes after its header was read");
            }
            return ch.map(FileChannel.MapMode.READ_ONLY, 0, h.fileSize(), arena).asReadOnly();
        } catch (IOException e) {
            throw new StloadException(ErrorKind.Io, h.file(), "cannot map: " + e.getMessage(), e);
        }
    }

    /** Runs {@code access}, which reads from {@code h}'s mapping, translating a fault of the mapping. */
    static void touching(Header h, MappingAccess access) throws IOException {
        try {
            access.run();
        } catch (InternalError e) {
            // The JVM's translation of SIGBUS: the file was truncated or its disk failed under the mapping.
            throw truncated(h, e.getMessage(), e);
        }
    }

    static StloadException truncated(Header h, String what, Throwable cause) {
        return new StloadException(ErrorKind.Io, h.file(),
                "file was truncated or became unreadable while mapped (" + what + ")", cause);
    }

    @FunctionalInterface
    interface MappingAccess {
        void run() throws IOException;
    }
}
