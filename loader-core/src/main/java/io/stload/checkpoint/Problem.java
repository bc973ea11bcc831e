package io.stload.checkpoint;

import io.stload.ErrorKind;
import io.stload.StloadException;
import java.nio.file.Path;

/**
 * One thing {@link CheckpointVerifier} found wrong: a kind, the file, and what a person can do about it.
 *
 * @param kind   what went wrong
 * @param file   the file concerned, or null
 * @param detail one line for a person
 */
public record Problem(ErrorKind kind, Path file, String detail) {
    /**
     * Checks that the problem has its kind and detail.
     *
     * @throws StloadException {@link ErrorKind#Usage} if {@code kind} or {@code detail} is null
     */
    public Problem {
        if (kind == null || detail == null) {
            throw StloadException.usage("a problem needs its kind and detail, not null");
        }
    }

    static Problem of(StloadException e) {
        return new Problem(e.kind(), e.file(), e.detail());
    }

    /** {@return the one-line form, as the CLI prints errors: {@code Kind: file: detail}} */
    public String line() {
        return file == null ? kind + ": " + detail : kind + ": " + file + ": " + detail;
    }
}
