package io.stload.s3;

import io.stload.ErrorKind;
import io.stload.StloadException;
import java.net.URI;
import java.time.Duration;

/**
 * How to reach the object store and how to read from it.
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
    public static final S3Settings DEFAULTS = new S3Settings(null, null, 8L << 20, 16, 6, Duration.ofMillis(200));

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

    public S3Settings withEndpoint(URI endpoint) {
        return new S3Settings(endpoint, region, partBytes, concurrency, maxAttempts, backoff);
    }

    public S3Settings withRegion(String region) {
        return new S3Settings(endpoint, region, partBytes, concurrency, maxAttempts, backoff);
    }

    public S3Settings withParts(long partBytes, int concurrency) {
        return new S3Settings(endpoint, region, partBytes, concurrency, maxAttempts, backoff);
    }

    public S3Settings withRetries(int maxAttempts, Duration backoff) {
        return new S3Settings(endpoint, region, partBytes, concurrency, maxAttempts, backoff);
    }
}
