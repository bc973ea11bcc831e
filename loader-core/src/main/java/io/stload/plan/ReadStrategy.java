package io.stload.plan;

import java.util.Locale;

/** The strategy a plan resolved for a file: never AUTO, which is a request, not a way of reading. */
public enum ReadStrategy {
    /** Map the file and copy from the mapping; the page cache does the reading. */
    MMAP,
    /** Map the file and populate windows ahead of the copy on I/O threads. */
    PREFETCH,
    /** O_DIRECT reads into aligned buffers, bypassing the page cache. */
    DIRECT,
    /** Ranged GETs from object storage: the positional path, over the objects' range sources. */
    S3;

    /** {@return the name as the {@code --load-strategy} flag spells it, e.g. {@code direct}} */
    public String flagValue() {
        return name().toLowerCase(Locale.ROOT);
    }

    /** {@return the same strategy as a request ({@link LoadStrategy})} */
    public LoadStrategy requested() {
        return LoadStrategy.valueOf(name());
    }
}
