package io.stload.store;

import io.stload.StloadException;
import io.stload.checkpoint.Checkpoint;
import io.stload.format.Header;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;

/**
 * Which source and which version of it a version of the weights was loaded from: what a lease pins.
 *
 * @param source the source as named ({@link WeightSource#name()}): a path, a repo id with its revision, a URL
 * @param commit for a hub checkpoint, the commit its revision resolved to; empty otherwise
 * @param files  each file of the checkpoint, as the checkpoint names it, with the version of it that was read
 *               ({@link Header#fileVersion()}: a local file's key, size and modification time; an object's ETag);
 *               a file whose store gives no version is absent
 */
public record SourceVersion(String source, Optional<String> commit, Map<String, String> files) {
    /**
     * Copies the map into an unmodifiable one, in the checkpoint's file order.
     *
     * @throws StloadException {@link io.stload.ErrorKind#Usage} if any component is null
     */
    public SourceVersion {
        if (source == null || commit == null || files == null) {
            throw StloadException.usage("a source version needs its source, commit (Optional.empty() for none) and "
                    + "files, not null");
        }
        files = Collections.unmodifiableMap(new LinkedHashMap<>(files));
    }

    /** What {@code checkpoint}, opened from {@code source}, is. */
    static SourceVersion of(WeightSource source, Checkpoint checkpoint) {
        Map<String, String> files = new LinkedHashMap<>();
        for (Header h : checkpoint.files()) {
            h.fileVersion().ifPresent(v -> files.put(checkpoint.nameOf(h), v));
        }
        return new SourceVersion(source.name(), Optional.ofNullable(checkpoint.commit()), files);
    }

    @Override
    public String toString() {
        return source + commit.map(c -> " (commit " + c + ")").orElse("");
    }
}
