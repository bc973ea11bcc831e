package io.stload.plan;

/**
 * How a file's bytes reach the loader's memory. A host application's own flag parser turns its users' text into
 * a strategy with {@link #parse(String)}, so every application spells the strategies the same way.
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

    /**
     * The strategy a user's text names, case-insensitively and ignoring surrounding blanks.
     *
     * @param value one of {@link #choices()}, e.g. {@code direct}
     * @return the strategy it names
     * @throws io.stload.StloadException {@link io.stload.ErrorKind#Usage} for anything else (null included), with a message naming the value and
     *                                  listing the valid ones; a flag parser can show it as it is
     */
    public static LoadStrategy parse(String value) {
        return Choice.parse(LoadStrategy.class, value, "strategy");
    }

    /**
     * Every strategy's name as {@link #parse} takes it, for help texts.
     *
     * @return {@code auto|mmap|prefetch|direct|s3}
     */
    public static String choices() {
        return Choice.names(LoadStrategy.class);
    }

    /**
     * This strategy's name as {@link #parse} takes it and reports print it.
     *
     * @return the lower-case name, e.g. {@code direct}
     */
    public String flagValue() {
        return Choice.name(this);
    }
}
