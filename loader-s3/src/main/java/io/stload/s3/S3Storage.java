package io.stload.s3;

import io.stload.ErrorKind;
import io.stload.StloadException;
import io.stload.checkpoint.Checkpoint;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Semaphore;
import java.util.function.Supplier;
import software.amazon.awssdk.awscore.retry.AwsRetryStrategy;
import software.amazon.awssdk.core.exception.SdkClientException;
import software.amazon.awssdk.http.nio.netty.NettyNioAsyncHttpClient;
import software.amazon.awssdk.regions.Region;
import software.amazon.awssdk.regions.providers.DefaultAwsRegionProviderChain;
import software.amazon.awssdk.services.s3.S3AsyncClient;
import software.amazon.awssdk.services.s3.S3AsyncClientBuilder;
import software.amazon.awssdk.services.s3.S3CrtAsyncClientBuilder;

/**
 * A connection to S3 or an S3-compatible store: the SDK's CRT-based asynchronous client, with credentials from
 * the SDK's default chain (environment, profile, instance role), the region from {@link S3Settings} or the
 * default chain, and path-style addressing for a custom endpoint. It owns the client: close it after the loads
 * that read through it. At most {@code concurrency} GETs are in flight across all reads. Thread-safe: checkpoints
 * opened through it may be read and loaded from any thread.
 *
 * <pre>{@code
 * try (S3Storage s3 = S3Storage.connect(S3Settings.DEFAULTS.withEndpoint(URI.create("http://127.0.0.1:9000")))) {
 *     Checkpoint ckpt = s3.open(S3Location.parse("s3://models/llama/"));
 *     try (LoadedWeights w = new Loader().execute(new Planner().plan(ckpt, LoadOptions.DEFAULTS), LoadListener.NONE)) { ... }
 * }
 * }</pre>
 */
public final class S3Storage implements AutoCloseable {
    private static final System.Logger LOG = System.getLogger(S3Storage.class.getName());
    private static final Duration CONNECT_TIMEOUT = Duration.ofSeconds(10);
    /** No byte for this long: the connection is taken for dead. */
    private static final Duration STALL_TIMEOUT = Duration.ofSeconds(30);

    private final S3Settings settings;
    private final S3AsyncClient client;
    private final Semaphore inFlight;
    /** Built on first need: for objects served without an ETag, which the CRT client refuses to GET. */
    private S3AsyncClient plainClient;

    private S3Storage(S3Settings settings, S3AsyncClient client) {
        this.settings = settings;
        this.client = client;
        this.inFlight = new Semaphore(settings.concurrency());
    }

    /**
     * Starts a client; no object is read yet.
     *
     * @param settings where the store is and how to read from it
     * @return the connection; the caller closes it
     * @throws StloadException {@link ErrorKind#Usage} when no region is configured for AWS; {@link ErrorKind#Io} when
     *         the client cannot start
     */
    public static S3Storage connect(S3Settings settings) {
        S3CrtAsyncClientBuilder b = S3AsyncClient.crtBuilder()
                .region(region(settings))
                .minimumPartSizeInBytes(settings.partBytes())
                .maxConcurrency(settings.concurrency())
                // Retries are ours: they resume a part from its last byte and are logged.
                .retryConfiguration(r -> r.numRetries(0))
                // A connection that stalls is dropped (and the rest of its part retried) instead of hanging a load.
                .httpConfiguration(h -> h.connectionTimeout(CONNECT_TIMEOUT).connectionHealthConfiguration(c -> c
                        .minimumThroughputInBps(1L).minimumThroughputTimeout(STALL_TIMEOUT)));
        if (settings.endpoint() != null) {
            b.endpointOverride(settings.endpoint()).forcePathStyle(true);
        }
        try {
            return new S3Storage(settings, b.build());
        } catch (SdkClientException e) {
            throw new StloadException(ErrorKind.Io, null, "cannot start the S3 client: " + S3Failure.describe(e), e);
        }
    }

    /** The region asked for; else the default chain's; else, for a custom endpoint that ignores it, us-east-1. */
    private static Region region(S3Settings settings) {
        if (settings.region() != null) {
            return Region.of(settings.region());
        }
        try {
            return new DefaultAwsRegionProviderChain().getRegion();
        } catch (SdkClientException e) {
            if (settings.endpoint() != null) {
                return Region.US_EAST_1;
            }
            throw new StloadException(ErrorKind.Usage, null, "no AWS region configured: set AWS_REGION or pass --s3-region");
        }
    }

    /**
     * Opens a checkpoint folder (with or without an index) or one {@code .safetensors} object: headers only.
     *
     * @param location the folder or object
     * @return the checkpoint, readable while this connection is open
     * @throws StloadException {@link ErrorKind#Io} when the store cannot be read or an object is missing, or the kinds
     *         {@link Checkpoint#open(io.stload.checkpoint.RemoteFolder, String)} throws for an inconsistent checkpoint
     */
    public Checkpoint open(S3Location location) {
        S3Folder folder = new S3Folder(this, location.bucket(), location.folder());
        try {
            return Checkpoint.open(folder, location.objectName());
        } catch (StloadException e) {
            throw S3Folder.named(e);
        }
    }

    /** {@return the settings this connection was made with} */
    public S3Settings settings() {
        return settings;
    }

    S3AsyncClient client() {
        return client;
    }

    /**
     * The client for a GET of an object served without an ETag: the CRT client fails such responses ("missing
     * required ETag header"), so these go through the SDK's own asynchronous HTTP client, its retries off too.
     */
    synchronized S3AsyncClient plainClient() {
        if (plainClient == null) {
            S3AsyncClientBuilder b = S3AsyncClient.builder()
                    .region(region(settings))
                    .overrideConfiguration(o -> o.retryStrategy(AwsRetryStrategy.doNotRetry()))
                    .httpClientBuilder(NettyNioAsyncHttpClient.builder().maxConcurrency(settings.concurrency())
                            .connectionTimeout(CONNECT_TIMEOUT).readTimeout(STALL_TIMEOUT));
            if (settings.endpoint() != null) {
                b.endpointOverride(settings.endpoint()).forcePathStyle(true);
            }
            plainClient = b.build();
        }
        return plainClient;
    }

    void acquire() throws InterruptedException {
        inFlight.acquire();
    }

    void release() {
        inFlight.release();
    }

    /** A request of the open phase (HEAD, LIST), retried like a GET on throttling, 5xx and resets. */
    <T> T retrying(String what, Supplier<CompletableFuture<T>> request) throws Exception {
        for (int attempt = 1; ; attempt++) {
            try {
                return request.get().get();
            } catch (Exception e) {
                Throwable cause = S3Failure.unwrap(e);
                if (!S3Failure.retryable(cause) || attempt >= settings.maxAttempts()) {
                    throw e;
                }
                long delayMillis = settings.backoff().toMillis() << (attempt - 1);
                LOG.log(System.Logger.Level.WARNING, "{0}: {1}; retrying in {2} ms (attempt {3} of {4})", what,
                        S3Failure.describe(cause), delayMillis, attempt + 1, settings.maxAttempts());
                Thread.sleep(delayMillis); // backoff between attempts, not a wait for an event
            }
        }
    }

    /** A failure of the open phase as one line naming the object: 403, 404, or what the request ended with. */
    static StloadException openError(String name, Throwable cause) {
        int status = S3Failure.status(cause);
        if (status == 403) {
            return S3Object.denied(name);
        }
        if (status == 404) {
            String code = S3Failure.code(cause);
            return new StloadException(ErrorKind.Io, null, name + ": " + ("NoSuchBucket".equals(code)
                    ? "no such bucket (404)" : "no such object (404)"));
        }
        if (cause instanceof InterruptedException) {
            Thread.currentThread().interrupt();
        }
        return new StloadException(ErrorKind.Io, null, name + ": " + S3Failure.describe(cause), cause);
    }

    /** Closes the client; reads through checkpoints opened here fail afterwards. */
    @Override
    public synchronized void close() {
        client.close();
        if (plainClient != null) {
            plainClient.close();
        }
    }
}
