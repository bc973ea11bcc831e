package io.stload.s3;

import io.stload.ErrorKind;
import io.stload.StloadException;
import io.stload.checkpoint.RemoteFolder;
import io.stload.format.RangeSource;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentHashMap;
import software.amazon.awssdk.services.s3.model.ListObjectsV2Response;

/**
 * A checkpoint folder in a bucket: the objects directly under a prefix. Each object is HEADed once; every
 * later read of it is of that version.
 */
final class S3Folder implements RemoteFolder {
    /** {@code Path} collapses {@code //}: the paths this folder hands out print as {@code s3:/bucket/key}. */
    private static final String PATH_PREFIX = "s3:/";
    /**
     * A gap between a rank's ranges is fetched only when that costs less than a separate GET for the next range.
     * With many GETs in flight a request's round trip overlaps the others' transfers, so what it costs is its
     * bytes on the wire: a signed request and the response's headers, 1 to 2 KiB. This bound covers that and
     * padding between tensors (a whole checkpoint is still read in whole parts), while the other ranks' part of
     * any tensor over a few KiB is never fetched: a rank of W reads about 1/W of the bytes, small checkpoint or
     * large. The local files' default (128 KiB, measured for O_DIRECT, where a second read costs a seek) would
     * fetch most of a small checkpoint's tensors for every rank.
     */
    private static final long MAX_GAP_BYTES = 4096;
    /** A folder's listing is read for at most this many pages (of up to 1,000 keys each): a checkpoint holds far fewer. */
    static final int MAX_LIST_PAGES = 100;

    private final S3Storage storage;
    private final String bucket;
    private final String prefix;
    private final Map<String, S3Object> opened = new ConcurrentHashMap<>();

    S3Folder(S3Storage storage, String bucket, String prefix) {
        this.storage = storage;
        this.bucket = bucket;
        this.prefix = prefix;
    }

    @Override
    public String location() {
        return S3Location.SCHEME + bucket + "/" + prefix;
    }

    @Override
    public Path pathOf(String name) {
        return Path.of(PATH_PREFIX + bucket + "/" + prefix + name);
    }

    /**
     * Lists the objects directly under the prefix, page by page. A server whose pages never end (the same continuation
     * token again, or more than {@link #MAX_LIST_PAGES} pages) or that lists a key outside the prefix is an error, not a
     * loop or a crash.
     */
    @Override
    public List<String> list(String suffix) {
        TreeSet<String> names = new TreeSet<>();
        Set<String> tokens = new HashSet<>();
        String token = null;
        int pages = 0;
        do {
            if (++pages > MAX_LIST_PAGES) {
                throw new StloadException(ErrorKind.Io, null, location() + ": the listing did not end after "
                        + MAX_LIST_PAGES + " pages (" + MAX_LIST_PAGES * 1000 + " objects at most are read for one folder)");
            }
            String continuation = token;
            ListObjectsV2Response page;
            try {
                page = storage.retrying(location() + ": LIST", () -> storage.client().listObjectsV2(b -> b.bucket(bucket)
                        .prefix(prefix).delimiter("/").continuationToken(continuation)));
            } catch (Exception e) {
                throw S3Storage.openError(location(), S3Failure.unwrap(e));
            }
            for (var o : page.contents()) {
                if (o.key() == null || !o.key().startsWith(prefix)) {
                    throw new StloadException(ErrorKind.Io, null, location() + ": the server listed the key `"
                            + o.key() + "`, which is not under the prefix `" + prefix + "`");
                }
                String name = o.key().substring(prefix.length());
                if (name.endsWith(suffix) && !name.isEmpty()) {
                    names.add(name);
                }
            }
            token = Boolean.TRUE.equals(page.isTruncated()) ? page.nextContinuationToken() : null;
            if (token != null && !tokens.add(token)) {
                throw new StloadException(ErrorKind.Io, null, location() + ": the listing repeats its continuation"
                        + " token (a server that never ends the listing)");
            }
        } while (token != null);
        return new ArrayList<>(names);
    }

    @Override
    public boolean exists(String name) {
        return headed(name) != null;
    }

    @Override
    public byte[] readAll(String name, long maxBytes) {
        RangeSource object = open(name);
        if (object.size() > maxBytes) {
            throw new StloadException(ErrorKind.InvalidIndex, null, object.name() + ": " + object.size()
                    + " bytes, larger than any real index");
        }
        byte[] bytes = new byte[(int) object.size()];
        try {
            object.read(0, MemorySegment.ofArray(bytes));
        } catch (IOException e) {
            throw new StloadException(ErrorKind.Io, null, object.name() + ": " + e.getMessage(), e);
        }
        return bytes;
    }

    @Override
    public RangeSource open(String name) {
        S3Object object = headed(name);
        if (object == null) {
            throw new StloadException(ErrorKind.Io, null, location() + name + ": no such object (404)");
        }
        return object;
    }

    private S3Object headed(String name) {
        S3Object known = opened.get(name);
        if (known != null) {
            return known;
        }
        S3Object object = S3Object.headOrNull(storage, bucket, prefix + name);
        return object == null ? null : opened.merge(name, object, (first, second) -> first);
    }

    @Override
    public List<String> readReasons() {
        S3Settings s = storage.settings();
        Duration t = s.progressTimeout();
        String timeout = t.toMillis() % 1000 == 0 ? t.toSeconds() + " s" : t.toMillis() + " ms";
        return List.of("object storage (" + location() + ")", "ranged GETs of " + human(s.partBytes()),
                s.concurrency() + " in flight", "read memory <= " + human(s.partBytes() * s.concurrency()),
                "a GET cut past " + timeout + " + its bytes at " + human(s.minBytesPerSecond()) + "/s");
    }

    private static String human(long bytes) {
        return bytes % (1L << 20) == 0 ? (bytes >> 20) + " MiB" : bytes % 1024 == 0 ? (bytes >> 10) + " KiB" : bytes + " B";
    }

    @Override
    public int concurrency() {
        return storage.settings().concurrency();
    }

    @Override
    public long partBytes() {
        return storage.settings().partBytes();
    }

    @Override
    public long maxGapBytes() {
        return MAX_GAP_BYTES;
    }
}
