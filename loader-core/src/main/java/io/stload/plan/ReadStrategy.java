package io.stload.plan;

import java.util.Locale;

/** The strategy a plan resolved for a file: never AUTO, which is a request, not a way of reading. */
public enum ReadStrategy {
    MMAP, PREFETCH, DIRECT,
    /** Ranged GETs from object storage: the positional path, over the objects' range sources. */
    S3;

    public String flagValue() {
        return name().toLowerCase(Locale.ROOT);
    }

    /** The same strategy as a request ({@link LoadStrategy}). */
    public LoadStrategy requested() {
        return LoadStrategy.valueOf(name());
    }
}
