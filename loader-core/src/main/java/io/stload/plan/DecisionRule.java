package io.stload.plan;

import java.util.Locale;

/** Which rule chose a file's strategy: what {@code plan --json} and {@code load --json} print as {@code "rule"}. */
public enum DecisionRule {
    /** The user forced a strategy. */
    FORCED,
    /** A RAM filesystem: the pages are already in memory. */
    TMPFS,
    /** Mostly in the page cache already. */
    RESIDENT,
    /** Too few bytes for an extra pass to pay. */
    SMALL,
    /** A network filesystem wants large sequential requests. */
    NETWORK_FS,
    /** The page cache cannot hold the rank's bytes. */
    CACHE_TOO_SMALL,
    /** A cold read where O_DIRECT is refused. */
    DIRECT_REFUSED,
    /** A large cold read on a local filesystem. */
    COLD_LOCAL,
    /** The file lives in object storage, which is read one way: ranged GETs. */
    REMOTE,
    /**
     * The caller bounds the resident set ({@link LoadOptions#withResidentLimit}): direct reads into the loader's own
     * buffers, since a mapping's pages count in it.
     */
    RESIDENT_LIMIT;

    /** {@return the name as JSON prints it, e.g. {@code cache-too-small}} */
    public String jsonName() {
        return name().toLowerCase(Locale.ROOT).replace('_', '-');
    }
}
