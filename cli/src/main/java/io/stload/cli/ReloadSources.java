package io.stload.cli;

import io.stload.checkpoint.RepoRef;
import io.stload.store.WeightSource;
import java.nio.file.Files;
import java.nio.file.InvalidPathException;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Optional;
import java.util.function.Function;

/**
 * What a reload request may name, and where each is read from: a local path only under the reload root
 * ({@link ReloadGuard}); a hub repo id ({@code org/name[@revision]}) only in the server's hub cache, waiting for a
 * download of it still in progress; an {@code s3://} URL only under the server's S3 prefix. Anything else, like a
 * path outside the root, gets the same refusal, which says nothing about what is there.
 */
final class ReloadSources {
    private final ReloadGuard guard;
    /** Opens a hub repo id or an s3:// URL with the server's cache, wait and S3 settings; null: local paths only. */
    private final Function<String, WeightSource> remote;
    /** The prefix S3 reloads must lie under ({@code s3://bucket/prefix/}), or null for none. */
    private final String s3Prefix;

    ReloadSources(ReloadGuard guard, Function<String, WeightSource> remote, String s3Prefix) {
        this.guard = guard;
        this.remote = remote;
        this.s3Prefix = s3Prefix;
    }

    /** Local paths under the root only. */
    static ReloadSources localOnly(ReloadGuard guard) {
        return new ReloadSources(guard, null, null);
    }

    ReloadGuard guard() {
        return guard;
    }

    /** Where S3 reloads may come from, or null. */
    String s3Prefix() {
        return s3Prefix;
    }

    /** Whether a segment of an s3:// URL is {@code .} or {@code ..}, which a store or a proxy may resolve. */
    private static boolean hasDotSegment(String url) {
        return Arrays.stream(url.substring("s3://".length()).split("/", -1))
                .anyMatch(segment -> segment.equals(".") || segment.equals(".."));
    }

    /** The source a request names, or empty when it may not name it (or it does not exist under the root). */
    Optional<WeightSource> resolve(String named) {
        if (named.startsWith("s3://")) {
            boolean under = remote != null && s3Prefix != null && named.startsWith(s3Prefix) && !hasDotSegment(named);
            return under ? Optional.of(remote.apply(named)) : Optional.empty();
        }
        if (!existsAsPath(named) && !named.startsWith("/") && !named.startsWith(".")
                && RepoRef.parse(named).isPresent()) {
            return remote == null ? Optional.empty() : Optional.of(remote.apply(named));
        }
        try {
            return guard.confine(Path.of(named)).map(WeightSource::path);
        } catch (InvalidPathException e) {
            return Optional.empty();
        }
    }

    private static boolean existsAsPath(String text) {
        try {
            return Files.exists(Path.of(text), LinkOption.NOFOLLOW_LINKS);
        } catch (InvalidPathException e) {
            return false;
        }
    }
}
