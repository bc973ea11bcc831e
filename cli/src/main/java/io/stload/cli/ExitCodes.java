package io.stload.cli;

import io.stload.ErrorKind;

/**
 * The exit codes of {@code ./stload}: 0 ok, 1 verification found problems, 2 usage error, 3 invalid checkpoint,
 * 4 I/O error or out of memory, 5 timed out waiting, 70 internal error (a bug). An error of the library exits
 * with its kind's category's code; scripts rely on these, so a code never changes meaning.
 */
final class ExitCodes {
    static final int PROBLEMS_FOUND = 1;
    static final int USAGE = 2;
    static final int INVALID_CHECKPOINT = 3;
    static final int IO = 4;
    static final int TIMEOUT = 5;
    static final int UNEXPECTED = 70;

    private ExitCodes() {
    }

    static int of(ErrorKind kind) {
        return switch (kind.category) {
            case FORMAT -> INVALID_CHECKPOINT;
            case IO -> IO;
            case TIMEOUT -> TIMEOUT;
            case USAGE -> USAGE;
            // The CLI's own consumers are the callbacks it passes: their failure is a bug of stload's.
            case CALLBACK, INTERNAL -> UNEXPECTED;
        };
    }
}
