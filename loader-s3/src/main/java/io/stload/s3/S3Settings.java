package io.stload.s3;

import io.stload.ErrorKind;
import io.stload.StloadException;
import java.net.URI;
import java.time.Duration;

/**
 * How to reach the object store and how to read from it. Immutable: each {@code with} method returns a changed copy.
 *
 * <p>Every request has a deadline. A GET of {@code n} bytes is cut when it has not finished within
 * {@code progressTimeout + n / minBytesPerSecond}, and earlier when its connection moves fewer than
 * {@code minBytesPerSecond} for {@code progressTimeout}; a HEAD or LIST is cut after {@code progressTimeout}. A cut
 * request counts as an attempt without progress, so a stalled or trickling server fails a part after
 * {@code maxAttempts} attempts: within {@code maxAttempts x (progressTimeout + partBytes / minBytesPerSecond)} plus
 * the backoffs ({@code backoff x (2^(maxAttempts-1) - 1)}).
 *
 * @param endpoint          an S3-compatible endpoint (MinIO, Ceph RGW, S3Proxy), addressed path-style; null for the
 *                          one the AWS configuration names ({@code AWS_ENDPOINT_URL_S3}, {@code AWS_ENDPOINT_URL}, a
 *                          profile's {@code endpoint_url}), else AWS
 * @param region            the region; null for the SDK's default chain (environment, profile, and for AWS
 *                          instance metadata)
 * @param partBytes         bytes per ranged GET
 * @param concurrency       ranged GETs in flight; with the part size, the bound on read memory
 * @param maxAttempts       tries per request before a retryable failure (throttling, 5xx, reset, a cut request) is
 *                          given up
 * @param backoff           the first retry's delay; each further one doubles it
 * @param progressTimeout   how long a request may go without finishing (HEAD, LIST) or moving bytes (GET)
 * @param minBytesPerSecond the slowest a GET may be: below it for {@code progressTimeout}, it is cut and retried
 */
public record S3Settings(URI endpoint, String region, long partBytes, int concurrency, int maxAttempts,
                         Duration backoff, Duration progressTimeout, long minBytesPerSecond) {
    /**
     * AWS with the default region chain, 8 MiB parts, 16 in flight, 6 attempts from a 200 ms backoff, a 10 s progress
     * timeout and a floor of 64 KiB/s per GET: a stalled or trickling server fails a part after 6 cut attempts, each
     * cut within 10 s + 128 s (an 8 MiB part at 64 KiB/s), and a connection that moves next to nothing is cut after
     * about the 10 s: so within 6 x 138 s + 6.2 s of backoff at most, about 14 minutes, and in about a minute for a
     * server that stops sending or trickles (48-53 s measured, 2 bytes/s or none).
     */
    public static final S3Settings DEFAULTS = new S3Settings(null, null, 8L << 20, 16, 6, Duration.ofMillis(200),
            Duration.ofSeconds(10), 64L << 10);

    /**
     * Checks the values.
     *
     * @throws StloadException {@link ErrorKind#Usage} for a part size outside 4 KiB..1 GiB, a concurrency outside
     *         1..1024, attempts outside 1..100, a negative backoff, a progress timeout outside 1 ms..1 h, a minimum rate
     *         below 1 byte/s, or an endpoint that is not an http(s) URL with a host
     */
    public S3Settings {
        if (partBytes < 4096 || partBytes > (1L << 30)) {
            throw usage("--s3-part-size must be between 4 KiB and 1 GiB");
        }
        if (concurrency < 1 || concurrency > 1024) {
            throw usage("--s3-concurrency must be between 1 and 1024");
        }
        if (maxAttempts < 1 || maxAttempts > 100) {
            throw usage("the number of attempts per request must be between 1 and 100, not " + maxAttempts);
        }
        if (backoff == null || backoff.isNegative() || backoff.compareTo(Duration.ofMinutes(1)) > 0) {
            throw usage("the retry backoff must be between 0 and 1 minute, not " + backoff);
        }
        if (progressTimeout == null || progressTimeout.toMillis() < 1 || progressTimeout.compareTo(Duration.ofHours(1)) > 0) {
            throw usage("--s3-progress-timeout must be between 1 ms and 1 hour, not " + progressTimeout);
        }
        if (minBytesPerSecond < 1) {
            throw usage("--s3-min-rate must be at least 1 byte/s, not " + minBytesPerSecond);
        }
        if (endpoint != null && (endpoint.getScheme() == null || endpoint.getHost() == null
                || !(endpoint.getScheme().equals("http") || endpoint.getScheme().equals("https")))) {
            throw usage("--s3-endpoint `" + endpoint + "` is not an http(s)://host[:port] URL");
        }
    }

    private static StloadException usage(String message) {
        return new StloadException(ErrorKind.Usage, null, message);
    }

    /**
     * Returns a copy for another endpoint.
     *
     * @param endpoint an S3-compatible endpoint, or null for the one the AWS configuration names, else AWS
     * @return the changed copy
     */
    public S3Settings withEndpoint(URI endpoint) {
        return new S3Settings(endpoint, region, partBytes, concurrency, maxAttempts, backoff, progressTimeout,
                minBytesPerSecond);
    }

    /**
     * Returns a copy for another region.
     *
     * @param region the region, or null for the default chain
     * @return the changed copy
     */
    public S3Settings withRegion(String region) {
        return new S3Settings(endpoint, region, partBytes, concurrency, maxAttempts, backoff, progressTimeout,
                minBytesPerSecond);
    }

    /**
     * Returns a copy with another read shape.
     *
     * @param partBytes   bytes per ranged GET
     * @param concurrency ranged GETs in flight
     * @return the changed copy
     */
    public S3Settings withParts(long partBytes, int concurrency) {
        return new S3Settings(endpoint, region, partBytes, concurrency, maxAttempts, backoff, progressTimeout,
                minBytesPerSecond);
    }

    /**
     * Returns a copy with another retry policy.
     *
     * @param maxAttempts tries per request
     * @param backoff     the first retry's delay
     * @return the changed copy
     */
    public S3Settings withRetries(int maxAttempts, Duration backoff) {
        return new S3Settings(endpoint, region, partBytes, concurrency, maxAttempts, backoff, progressTimeout,
                minBytesPerSecond);
    }

    /**
     * Returns a copy with another progress deadline.
     *
     * @param progressTimeout   how long a request may go without finishing (HEAD, LIST) or moving bytes (GET)
     * @param minBytesPerSecond the slowest a GET may be
     * @return the changed copy
     */
    public S3Settings withProgress(Duration progressTimeout, long minBytesPerSecond) {
        return new S3Settings(endpoint, region, partBytes, concurrency, maxAttempts, backoff, progressTimeout,
                minBytesPerSecond);
    }

    /** How long a GET of {@code bytes} may take before it is cut: the progress timeout plus the bytes at the floor rate. */
    Duration deadline(long bytes) {
        long millis = bytes > Long.MAX_VALUE / 1000 ? Long.MAX_VALUE : bytes * 1000 / minBytesPerSecond;
        return progressTimeout.plusMillis(Math.min(millis, Duration.ofDays(1).toMillis()));
    }
}
