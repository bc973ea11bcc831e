package io.stload.s3;

import io.stload.ErrorKind;
import io.stload.StloadException;
import io.stload.format.RangeSource;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import software.amazon.awssdk.services.s3.model.GetObjectResponse;
import software.amazon.awssdk.services.s3.model.HeadObjectResponse;

/**
 * One object, read by ranged GETs. Its size and ETag are read once, at open (HEAD); every GET after that is
 * conditional on that ETag ({@code If-Match}), and where the server gives no ETag, each response's
 * Last-Modified and total size are checked instead: an object replaced during a load fails it instead of
 * mixing two versions. A read is cut into part-sized GETs, all in flight at once (the storage bounds how many
 * across all reads), each landing straight in its slice of the destination. A read's error does not name the
 * object: whoever reports it does, once.
 */
final class S3Object implements RangeSource {
    private final S3Storage storage;
    private final String bucket;
    private final String key;
    private final long size;
    private final String etag;
    private final Instant lastModified;

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
        try {
            HeadObjectResponse head = storage.retrying(name + ": HEAD",
                    () -> storage.client().headObject(b -> b.bucket(bucket).key(key)));
            String etag = head.eTag() == null || head.eTag().isBlank() ? null : head.eTag();
            return new S3Object(storage, bucket, key, head.contentLength(), etag, head.lastModified());
        } catch (StloadException e) {
            throw e;
        } catch (Exception e) {
            Throwable cause = S3Failure.unwrap(e);
            if (S3Failure.status(cause) == 404) {
                return null;
            }
            throw S3Storage.openError(name, cause);
        }
    }

    @Override
    public String name() {
        return S3Location.SCHEME + bucket + "/" + key;
    }

    @Override
    public long size() {
        return size;
    }

    @Override
    public long alignment() {
        return 1;
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

    /** The ETag read at open, which every GET is conditional on: the version a reload compares. */
    @Override
    public java.util.Optional<String> version() {
        return java.util.Optional.ofNullable(etag);
    }

    @Override
    public void read(long offset, MemorySegment destination) throws IOException {
        long length = destination.byteSize();
        if (offset < 0 || length > size - offset) {
            throw new IllegalArgumentException(name() + ": bytes [" + offset + ", " + (offset + length)
                    + ") lie outside the " + size + "-byte object");
        }
        long part = storage.settings().partBytes();
        List<RangedGet> gets = new ArrayList<>();
        List<CompletableFuture<Void>> done = new ArrayList<>();
        try {
            for (long at = 0; at < length; at += part) {
                RangedGet get = new RangedGet(this, storage, offset + at, destination.asSlice(at, Math.min(part, length - at)));
                gets.add(get);
                done.add(get.start());
            }
            for (CompletableFuture<Void> f : done) {
                f.get();
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("read interrupted", e);
        } catch (ExecutionException e) {
            Throwable cause = S3Failure.unwrap(e);
            throw cause instanceof IOException io ? io : new IOException(S3Failure.describe(cause), cause);
        } finally {
            // Nothing may land in the destination once this returns: stop every GET still running, and wait.
            gets.forEach(RangedGet::abandon);
            for (CompletableFuture<Void> f : done) {
                f.exceptionally(t -> null).join();
            }
        }
    }

    /**
     * Why a response is not from the version opened, or null when it is: a different ETag, or without one, a
     * different Last-Modified or total size.
     */
    String changedBy(GetObjectResponse r) {
        long total = totalSize(r.contentRange());
        if (total >= 0 && total != size) {
            return "its size is now " + total + " bytes, was " + size;
        }
        if (etag != null) {
            return r.eTag() != null && !r.eTag().equals(etag) ? "its ETag is now " + r.eTag() + ", was " + etag : null;
        }
        if (lastModified != null && r.lastModified() != null && !r.lastModified().equals(lastModified)) {
            return "it was modified at " + r.lastModified() + ", opened as of " + lastModified;
        }
        return null;
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
