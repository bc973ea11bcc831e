package io.stload.plan;

import io.stload.StloadException;

/**
 * The filesystem a file lives on, as far as choosing a strategy cares.
 *
 * @param name    its type as the mount table names it, e.g. {@code ext4}, {@code nfs4}, {@code fuse.s3fs};
 *                {@code unknown} when it could not be found out
 * @param network whether its reads cross a network (or a hypervisor boundary), where latency dominates
 * @param ram     whether it lives in memory: there is no disk behind it, and no O_DIRECT
 */
public record Filesystem(String name, boolean network, boolean ram) {
    /** A filesystem that could not be found out. */
    public static final Filesystem UNKNOWN = new Filesystem("unknown", false, false);

    /**
     * Checks that the filesystem is named.
     *
     * @throws StloadException {@link io.stload.ErrorKind#Usage} if {@code name} is null
     */
    public Filesystem {
        StloadException.requireNonNull(name,
                "a filesystem is named, `unknown` when it could not be found out, not null");
    }
}
