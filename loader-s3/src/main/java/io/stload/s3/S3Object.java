package io.stload.s3;

import io.stload.ErrorKind;
import io.stload.StloadException;
import io.stload.format.RangeSource;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.time.Instant;
import java.time.ZonedDateTime;
import java.time.format.DateTimeFormatter;
import java.time.format.DateTimeParseException;
import java.util.Optional;
import software.amazon.awssdk.services.s3.model.HeadObjectResponse;

/**
 * One object, read by ranged GETs. Its size, ETag and Last-Modified are read once, at open (HEAD); every GET after
 * that is conditional on that ETag ({@code If-Match}), and each response's ETag, Last-Modified and total size are
 * checked against them: an object replaced during a load fails it instead of mixing two versions. Where the server
 * gives no ETag, or refuses the condition as not implemented (501, or 400 NotImplemented: then once, with a note),
 * the GETs are plain and the checks of each response are what remains. A read is cut into part-sized GETs, all in
 * flight at once (the storage bounds how many across all reads), each landing in its slice of the destination from
 * the reading thread ({@link ObjectRead}). A read's error does not name the object: whoever reports it does, once.
 */
final class S3Object implements RangeSource {
    private static final System.Logger LOG = System.getLogger(S3Object.class.getName());

    private final S3Storage storage;
    private final String bucket;
    private final String key;
    private final long size;
    private final String etag;
    private final Instant lastModified;
    /** Why the server refused a conditional GET, once it has: every GET after is plain. */
    private volatile String conditionsRefused;

    private S3Object(S3Storage storage, String bucket, String key, long size, String etag, Instant lastModified) {
        this.storage = storage;
        this.bucket = bucket;
        this.key = key;
        this.size = size;
        this.etag = etag;
        this.lastModified = lastModified;
    }

    /** HEADs the object; null when it does not exist. 403 and other final failures are one-line errors. */
    static S3Object headOrNull(S3Storage storage, String bucket, String key) {
        String name = S3Location.SCHEME + bucket + "/" + key;
        HeadObjectResponse head;
        try {
            head = storage.retrying(name + ": HEAD", () -> storage.client().headObject(b -> b.bucket(bucket).key(key)));
        } catch (StloadException e) {
            throw e;
        } catch (Exception e) {
            Throwable cause = S3Failure.unwrap(e);
            if (S3Failure.status(cause) == 404) {
                return null;
            }
            throw S3Storage.openError(name, cause);
        }
        if (head.contentLength() == null || head.contentLength() < 0) {
            throw new StloadException(ErrorKind.Io, null, name + ": the server's HEAD response gives no size"
                    + " (Content-Length " + (head.contentLength() == null ? "missing" : head.contentLength()) + ")");
        }
        String etag = head.eTag() == null || head.eTag().isBlank() ? null : head.eTag();
        return new S3Object(storage, bucket, key, head.contentLength(), etag, head.lastModified());
    }

    @Override
    public String name() {
        return S3Location.SCHEME + bucket + "/" + key;
    }

    @Override
    public long size() {
        return size;
    }

    String bucket() {
        return bucket;
    }

    String key() {
        return key;
    }

    String etag() {
        return etag;
    }

    /** {@return why the server refused a conditional GET, or null while it has not} */
    String conditionsRefused() {
        return conditionsRefused;
    }

    /** From now on the GETs of this object are plain; said once (a note, and the debug log). */
    synchronized void refuseConditions(String why) {
        if (conditionsRefused == null) {
            conditionsRefused = why;
            LOG.log(System.Logger.Level.DEBUG, "{0}: the server refused a conditional GET ({1}); plain ranged GETs"
                    + " from now on, the size and Last-Modified of every response checked", name(), why);
        }
    }

    /** The ETag read at open, which every GET is conditional on: the version a reload compares. */
    @Override
    public Optional<String> version() {
        return Optional.ofNullable(etag);
    }

    @Override
    public void read(long offset, MemorySegment destination) throws IOException {
        if (offset < 0 || destination.byteSize() > size - offset) {
            throw new IllegalArgumentException(name() + ": bytes [" + offset + ", " + (offset + destination.byteSize())
                    + ") lie outside the " + size + "-byte object");
        }
        if (destination.byteSize() > 0) {
            new ObjectRead(this, storage, offset, destination).run();
        }
    }

    /**
     * Why a response is not from the version opened, or null when it is: a different total size, ETag or
     * Last-Modified (each checked where both sides have it).
     */
    String changedBy(String contentRange, String responseEtag, String responseLastModified) {
        long total = totalSize(contentRange);
        if (total >= 0 && total != size) {
            return "its size is now " + total + " bytes, was " + size;
        }
        if (etag != null && responseEtag != null && !responseEtag.equals(etag)) {
            return "its ETag is now " + responseEtag + ", was " + etag;
        }
        Instant modified = httpDate(responseLastModified);
        if (lastModified != null && modified != null && !modified.equals(lastModified)) {
            return "it was modified at " + modified + ", opened as of " + lastModified;
        }
        return null;
    }

    private static Instant httpDate(String value) {
        try {
            return value == null ? null : ZonedDateTime.parse(value, DateTimeFormatter.RFC_1123_DATE_TIME).toInstant();
        } catch (DateTimeParseException e) {
            return null;
        }
    }

    S3Failure.ObjectChangedException changed(String how) {
        return new S3Failure.ObjectChangedException("object replaced during the load (" + how
                + "); refusing to mix two versions of it: load again");
    }

    /** {@code bytes a-b/total} -> total, or -1 when absent or unknown. */
    static long totalSize(String contentRange) {
        if (contentRange == null) {
            return -1;
        }
        int slash = contentRange.lastIndexOf('/');
        try {
            return slash < 0 ? -1 : Long.parseLong(contentRange.substring(slash + 1).trim());
        } catch (NumberFormatException e) {
            return -1;
        }
    }

    /** {@code bytes a-b/total} -> a, or -1. */
    static long firstByte(String contentRange) {
        if (contentRange == null || !contentRange.startsWith("bytes ")) {
            return -1;
        }
        int dash = contentRange.indexOf('-');
        try {
            return dash < 0 ? -1 : Long.parseLong(contentRange.substring(6, dash).trim());
        } catch (NumberFormatException e) {
            return -1;
        }
    }

    @Override
    public String note() {
        String refused = conditionsRefused;
        if (refused != null) {
            return "the server refused a conditional GET (" + refused + "): plain ranged GETs, Last-Modified and size"
                    + " checked on every response";
        }
        return etag == null ? "no ETag from the server: Last-Modified and size checked on every response" : null;
    }

    /** The storage owns the connections; an object holds none. */
    @Override
    public void close() {
    }

    static final String DENIED = "access denied (403); check the credentials (environment, profile, instance role)"
            + " and the bucket's policy";

    static StloadException denied(String name) {
        return new StloadException(ErrorKind.Io, null, name + ": " + DENIED);
    }
}
