package io.stload.plan;

import java.util.Locale;

/** The strategy a plan resolved for a file: never AUTO, which is a request, not a way of reading. */
public enum ReadStrategy {
    MMAP, PREFETCH, DIRECT;

    public String flagValue() {
        return name().toLowerCase(Locale.ROOT);
    }

    /** The same strategy as a request ({@link LoadStrategy}). */
    public LoadStrategy requested() {
        return LoadStrategy.valueOf(name());
    }
}
