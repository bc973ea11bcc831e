package io.stload.plan;

import io.stload.ErrorKind;
import io.stload.StloadException;
import java.util.Arrays;
import java.util.Locale;
import java.util.stream.Collectors;

/**
 * How a file's bytes reach the loader's memory. Host applications parse their own {@code --load-strategy}
 * flag with {@link #parse(String)} so every application spells it the same way.
 */
public enum LoadStrategy {
    /** Choose per file from measured facts (filesystem, residency, headroom, bytes to read). */
    AUTO,
    /** Copy from the file's mapping; pages fault in on demand. Best when the data is already in memory. */
    MMAP,
    /** Populate the page cache in large sequential windows ahead of the copy. */
    PREFETCH,
    /** O_DIRECT reads of large aligned blocks straight into the destination, bypassing the page cache. */
    DIRECT,
    /**
     * Ranged GETs from S3-compatible object storage, many in flight, straight into the destination. The only
     * strategy for a checkpoint in object storage, and never one for a local file.
     */
    S3;

    /** The flag host applications should expose. */
    public static final String OPTION = "--load-strategy";

    /** Parses {@code auto|mmap|prefetch|direct}, case-insensitively; anything else is a usage error. */
    public static LoadStrategy parse(String value) {
        try {
            return valueOf(value.trim().toUpperCase(Locale.ROOT));
        } catch (IllegalArgumentException | NullPointerException e) {
            throw new StloadException(ErrorKind.Usage, null, "unknown " + OPTION + " '" + value
                    + "'; expected one of " + choices());
        }
    }

    /** {@code auto|mmap|prefetch|direct}. */
    public static String choices() {
        return Arrays.stream(values()).map(LoadStrategy::flagValue).collect(Collectors.joining("|"));
    }

    public String flagValue() {
        return name().toLowerCase(Locale.ROOT);
    }
}
