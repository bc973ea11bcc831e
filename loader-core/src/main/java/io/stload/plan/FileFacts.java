package io.stload.plan;

import io.stload.StloadException;
import java.nio.file.Path;

/**
 * What was measured about one file before choosing its strategy.
 *
 * @param file            the file
 * @param fs              its filesystem (from statfs, refined by the mount table)
 * @param bytesToRead     bytes this rank reads from it
 * @param resident        fraction of its pages in the page cache (mincore sample), -1 when unknown
 * @param directSupported whether the filesystem granted O_DIRECT
 */
public record FileFacts(Path file, Filesystem fs, long bytesToRead, double resident, boolean directSupported) {
    /**
     * Checks that the file and its filesystem are given.
     *
     * @throws StloadException {@link io.stload.ErrorKind#Usage} if {@code file} or {@code fs} is null
     */
    public FileFacts {
        if (file == null || fs == null) {
            throw StloadException.usage("a file's facts name the file and its filesystem, not null");
        }
    }
}
