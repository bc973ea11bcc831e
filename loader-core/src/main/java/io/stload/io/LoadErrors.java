package io.stload.io;

import io.stload.ErrorKind;
import io.stload.StloadException;
import java.io.IOException;
import java.io.UncheckedIOException;

/**
 * The engine's conversion of whatever stopped a load into the loader's one exception family. I/O errors were
 * given their file where they happened; what reaches here without a kind is either an I/O error of no single
 * file or a bug, and a bug is reported as one ({@link ErrorKind#Internal}), never relabelled as I/O.
 */
final class LoadErrors {
    private LoadErrors() {
    }

    static StloadException convert(Throwable t) {
        return switch (t) {
            case StloadException se -> se;
            case IOException io -> new StloadException(ErrorKind.Io, null, io.getMessage(), io);
            case UncheckedIOException uio -> new StloadException(ErrorKind.Io, null, uio.getCause().getMessage(), uio);
            case InterruptedException ie -> new StloadException(ErrorKind.Io, null, "load interrupted", ie);
            case OutOfMemoryError oom -> new StloadException(ErrorKind.OutOfMemory, null,
                    "the JVM ran out of memory during the load: " + oom.getMessage(), oom);
            case Error e -> throw e;
            default -> new StloadException(ErrorKind.Internal, null, t.getClass().getName() + ": " + t.getMessage(), t);
        };
    }
}
