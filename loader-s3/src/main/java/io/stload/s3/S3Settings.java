package io.stload.s3;

import io.stload.ErrorKind;
import io.stload.StloadException;
import java.net.URI;
import java.time.Duration;

/**
 * How to reach the object store and how to read from it. Immutable: each {@code with} method returns a changed copy.
 *
 * @param endpoint    an S3-compatible endpoint (MinIO, Ceph RGW, S3Proxy), addressed path-style; null for AWS
 * @param region      the region; null for the SDK's default chain (environment, profile, instance metadata)
 * @param partBytes   bytes per ranged GET
 * @param concurrency ranged GETs in flight; with the part size, the bound on read memory
 * @param maxAttempts tries per request before a retryable failure (throttling, 5xx, reset) is given up
 * @param backoff     the first retry's delay; each further one doubles it
 */
public record S3Settings(URI endpoint, String region, long partBytes, int concurrency, int maxAttempts,
                         Duration backoff) {
    /** AWS with the default region chain, 8 MiB parts, 16 in flight, 6 attempts from a 200 ms backoff. */
    public static final S3Settings DEFAULTS = new S3Settings(null, null, 8L << 20, 16, 6, Duration.ofMillis(200));

    /**
     * Checks the values.
     *
     * @throws StloadException {@link ErrorKind#Usage} for a part size outside 4 KiB..1 GiB, a concurrency outside 1..1024,
     *         or an endpoint that is not an http(s) URL with a host
     * @throws IllegalArgumentException if {@code maxAttempts} is below 1
     */
    public S3Settings {
        if (partBytes < 4096 || partBytes > (1L << 30)) {
            throw new StloadException(ErrorKind.Usage, null, "--s3-part-size must be between 4 KiB and 1 GiB");
        }
        if (concurrency < 1 || concurrency > 1024) {
            throw new StloadException(ErrorKind.Usage, null, "--s3-concurrency must be between 1 and 1024");
        }
        if (maxAttempts < 1) {
            throw new IllegalArgumentException("maxAttempts < 1");
        }
        if (endpoint != null && (endpoint.getScheme() == null || endpoint.getHost() == null
                || !(endpoint.getScheme().equals("http") || endpoint.getScheme().equals("https")))) {
            throw new StloadException(ErrorKind.Usage, null, "--s3-endpoint `" + endpoint
                    + "` is not an http(s)://host[:port] URL");
        }
    }

    /**
     * Returns a copy for another endpoint.
     *
     * @param endpoint an S3-compatible endpoint, or null for AWS
     * @return the changed copy
     */
    public S3Settings withEndpoint(URI endpoint) {
        return new S3Settings(endpoint, region, partBytes, concurrency, maxAttempts, backoff);
    }

    /**
     * Returns a copy for another region.
     *
     * @param region the region, or null for the default chain
     * @return the changed copy
     */
    public S3Settings withRegion(String region) {
        return new S3Settings(endpoint, region, partBytes, concurrency, maxAttempts, backoff);
    }

    /**
     * Returns a copy with another read shape.
     *
     * @param partBytes   bytes per ranged GET
     * @param concurrency ranged GETs in flight
     * @return the changed copy
     */
    public S3Settings withParts(long partBytes, int concurrency) {
        return new S3Settings(endpoint, region, partBytes, concurrency, maxAttempts, backoff);
    }

    /**
     * Returns a copy with another retry policy.
     *
     * @param maxAttempts tries per request
     * @param backoff     the first retry's delay
     * @return the changed copy
     */
    public S3Settings withRetries(int maxAttempts, Duration backoff) {
        return new S3Settings(endpoint, region, partBytes, concurrency, maxAttempts, backoff);
    }
}
