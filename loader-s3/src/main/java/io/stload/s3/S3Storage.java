package io.stload.s3;

import io.stload.ErrorKind;
import io.stload.StloadException;
import io.stload.checkpoint.Checkpoint;
import java.net.URI;
import java.time.Duration;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.Supplier;
import java.util.function.UnaryOperator;
import software.amazon.awssdk.auth.credentials.DefaultCredentialsProvider;
import software.amazon.awssdk.core.exception.SdkClientException;
import software.amazon.awssdk.crt.CrtRuntimeException;
import software.amazon.awssdk.profiles.Profile;
import software.amazon.awssdk.profiles.ProfileFile;
import software.amazon.awssdk.regions.Region;
import software.amazon.awssdk.regions.providers.AwsProfileRegionProvider;
import software.amazon.awssdk.regions.providers.AwsRegionProvider;
import software.amazon.awssdk.regions.providers.AwsRegionProviderChain;
import software.amazon.awssdk.regions.providers.InstanceProfileRegionProvider;
import software.amazon.awssdk.regions.providers.SystemSettingsRegionProvider;
import software.amazon.awssdk.services.s3.S3AsyncClient;
import software.amazon.awssdk.services.s3.S3CrtAsyncClientBuilder;

/**
 * A connection to S3 or an S3-compatible store: the SDK's CRT-based asynchronous client for listings and HEADs, and
 * the Common Runtime's S3 client itself for the ranged GETs that read tensors ({@link ObjectGets}), with credentials
 * from the SDK's default chain (environment, profile, instance role), the region from {@link S3Settings} or the
 * default chain, and path-style addressing for a custom endpoint. It owns the clients: close it after the loads
 * that read through it. At most {@code concurrency} GETs are in flight across all reads, and every request has a
 * deadline ({@link S3Settings}). Thread-safe: checkpoints opened through it may be read and loaded from any thread.
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

    private final S3Settings settings;
    private final DefaultCredentialsProvider credentials;
    private final S3AsyncClient client;
    private final ObjectGets gets;
    private final Semaphore inFlight;

    private S3Storage(S3Settings settings, DefaultCredentialsProvider credentials, S3AsyncClient client, ObjectGets gets) {
        this.settings = settings;
        this.credentials = credentials;
        this.client = client;
        this.gets = gets;
        this.inFlight = new Semaphore(settings.concurrency());
    }

    /**
     * Starts the clients; no object is read yet.
     *
     * @param settings where the store is and how to read from it
     * @return the connection; the caller closes it
     * @throws StloadException {@link ErrorKind#Usage} when no region is configured for AWS, or {@code settings} is
     *         null; {@link ErrorKind#Io} when a client cannot start
     */
    public static S3Storage connect(S3Settings settings) {
        StloadException.requireNonNull(settings,
                "an S3 connection is made with settings (S3Settings.DEFAULTS), not null");
        return connect(settings, lentBuffersQuietly());
    }

    /** Starts the clients; bodies in the CRT's lent direct buffers, or in the Java arrays its binding makes. */
    static S3Storage connect(S3Settings given, boolean lentBuffers) {
        S3Settings settings = given.endpoint() != null ? given
                : given.withEndpoint(configuredEndpoint(System::getProperty, System::getenv, profiles()));
        Region region = region(settings);
        DefaultCredentialsProvider credentials = DefaultCredentialsProvider.builder().build();
        S3AsyncClient client = null;
        try {
            S3CrtAsyncClientBuilder b = S3AsyncClient.crtBuilder()
                    .region(region)
                    .credentialsProvider(credentials)
                    .maxConcurrency(settings.concurrency())
                    // Retries are ours: they are bounded and logged. (The CRT reads 0 as its default, several retries
                    // with backoffs of seconds: one is the fewest it makes.)
                    .retryConfiguration(r -> r.numRetries(1))
                    .httpConfiguration(h -> h.connectionTimeout(settings.progressTimeout()));
            if (settings.endpoint() != null) {
                b.endpointOverride(settings.endpoint()).forcePathStyle(true);
            }
            client = b.build();
            ObjectGets gets = ObjectGets.start(settings, region, credentials, lentBuffers);
            return new S3Storage(settings, credentials, client, gets);
        } catch (SdkClientException | CrtRuntimeException e) {
            if (client != null) {
                client.close();
            }
            credentials.close();
            throw new StloadException(ErrorKind.Io, null, "cannot start the S3 client: " + S3Failure.describe(e), e);
        }
    }

    /**
     * Whether bodies may land in the CRT's pool of direct buffers (lent, so no Java array is made for each, about a
     * third less CPU per GB) without the JVM printing a warning: the pool frees its buffers through
     * {@code sun.misc.Unsafe::invokeCleaner}, which JDK 24 and later warn about on stderr unless run with
     * {@code --sun-misc-unsafe-memory-access=allow} (as the {@code stload} launcher does). Without it, each body
     * comes as the Java array the CRT's binding makes.
     */
    static boolean lentBuffersQuietly() {
        return Runtime.version().feature() < 24 || "allow".equals(System.getProperty("sun.misc.unsafe.memory.access"));
    }

    /**
     * The endpoint the AWS SDKs and CLI take from their configuration where none is given, in their order: for S3,
     * then for every service, from the system properties ({@code aws.endpointUrlS3}, {@code aws.endpointUrl}), the
     * environment ({@code AWS_ENDPOINT_URL_S3}, {@code AWS_ENDPOINT_URL}), then the profile ({@code endpoint_url} of
     * its {@code services} section's {@code s3}, then its own); none where {@code ignore_configured_endpoint_urls}
     * says so. Read here, once, it is addressed path-style as a given one is: left to the SDK, a store named by host
     * was asked for each bucket as a host of its own ({@code bucket.minio}), which no such store's name resolves.
     *
     * @param profiles the AWS config and credentials files
     * @return the endpoint, or null for AWS
     * @throws StloadException {@link ErrorKind#Usage} naming the setting, for a value that is no http(s) URL
     */
    static URI configuredEndpoint(UnaryOperator<String> properties, UnaryOperator<String> environment,
                                  ProfileFile profiles) {
        String name = first(properties.apply("aws.profile"), environment.apply("AWS_PROFILE"), "default");
        Optional<Profile> profile = profiles.profile(name);
        Optional<String> services = profile.flatMap(p -> p.property("services"));
        String ignore = first(properties.apply("aws.ignoreConfiguredEndpointUrls"),
                environment.apply("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS"),
                profile.flatMap(p -> p.property("ignore_configured_endpoint_urls")).orElse(null));
        if ("true".equalsIgnoreCase(ignore)) {
            return null;
        }
        String[][] settings = {{"aws.endpointUrlS3", properties.apply("aws.endpointUrlS3")},
            {"AWS_ENDPOINT_URL_S3", environment.apply("AWS_ENDPOINT_URL_S3")},
            {"aws.endpointUrl", properties.apply("aws.endpointUrl")},
            {"AWS_ENDPOINT_URL", environment.apply("AWS_ENDPOINT_URL")},
            {"s3 endpoint_url of [services " + services.orElse("") + "]", services.flatMap(s -> profiles
                    .getSection("services", s)).flatMap(p -> p.property("s3.endpoint_url")).orElse(null)},
            {"endpoint_url of AWS profile " + name, profile.flatMap(p -> p.property("endpoint_url")).orElse(null)}};
        for (String[] setting : settings) {
            if (setting[1] != null && !setting[1].isBlank()) {
                try {
                    return S3Settings.DEFAULTS.withEndpoint(URI.create(setting[1].strip())).endpoint();
                } catch (IllegalArgumentException | StloadException e) {
                    throw new StloadException(ErrorKind.Usage, null, setting[0] + " `" + setting[1]
                            + "` is not an http(s)://host[:port] URL (the S3 endpoint where no --s3-endpoint is given)");
                }
            }
        }
        return null;
    }

    /** The AWS config and credentials files, as the SDK reads them; none where they cannot be read. */
    private static ProfileFile profiles() {
        try {
            return ProfileFile.defaultProfileFile();
        } catch (RuntimeException e) {
            return ProfileFile.aggregator().build(); // the SDK says what is wrong with them when it reads its own
        }
    }

    private static String first(String... values) {
        for (String v : values) {
            if (v != null) {
                return v;
            }
        }
        return null;
    }

    /**
     * The region asked for; else for AWS the default chain's (environment, profile, instance metadata); for a custom
     * endpoint the environment's or profile's, else us-east-1 (such servers ignore it): never the instance metadata,
     * whose probe costs a second off EC2 and would name AWS's region, not the server's. The environment's is
     * {@code AWS_REGION}, else {@code AWS_DEFAULT_REGION}, which the AWS CLI and boto3 read and the Java SDK does not.
     */
    private static Region region(S3Settings settings) {
        if (settings.region() != null) {
            return Region.of(settings.region());
        }
        AwsRegionProvider cliDefault = () -> {
            String region = System.getenv("AWS_DEFAULT_REGION");
            if (region == null || region.isBlank()) {
                throw SdkClientException.create("AWS_DEFAULT_REGION is not set");
            }
            return Region.of(region.strip());
        };
        try {
            return settings.endpoint() == null
                    ? new AwsRegionProviderChain(new SystemSettingsRegionProvider(), cliDefault,
                            new AwsProfileRegionProvider(), new InstanceProfileRegionProvider()).getRegion()
                    : new AwsRegionProviderChain(new SystemSettingsRegionProvider(), cliDefault,
                            new AwsProfileRegionProvider()).getRegion();
        } catch (SdkClientException e) {
            if (settings.endpoint() != null) {
                return Region.US_EAST_1;
            }
            throw new StloadException(ErrorKind.Usage, null, "no AWS region configured: set AWS_REGION or pass "
                    + "--s3-region");
        }
    }

    /**
     * Opens a checkpoint folder (with or without an index) or one {@code .safetensors} object: headers only.
     *
     * @param location the folder or object
     * @return the checkpoint, readable while this connection is open
     * @throws StloadException {@link ErrorKind#Io} when the store cannot be read or an object is missing, or the kinds
     *         {@link Checkpoint#open(io.stload.checkpoint.RemoteFolder, String)} throws for an inconsistent checkpoint;
     *         {@link ErrorKind#Usage} if {@code location} is null
     */
    public Checkpoint open(S3Location location) {
        StloadException.requireNonNull(location, "a checkpoint in S3 is opened at a location, not null");
        // An error naming one of its objects names it by its URL (StloadException prints s3:/ paths so).
        return Checkpoint.open(new S3Folder(this, location.bucket(), location.folder()), location.objectName());
    }

    /** {@return the settings this connection was made with, the endpoint the AWS configuration names among them} */
    public S3Settings settings() {
        return settings;
    }

    S3AsyncClient client() {
        return client;
    }

    ObjectGets gets() {
        return gets;
    }

    /** Waits for a GET permit. */
    boolean acquire() throws InterruptedException {
        inFlight.acquire();
        return true;
    }

    /** Takes a GET permit if one is free. */
    boolean tryAcquire() {
        return inFlight.tryAcquire();
    }

    void release() {
        inFlight.release();
    }

    /**
     * A request of the open phase (HEAD, LIST), retried like a GET on throttling, 5xx and resets, and cut (and
     * retried) when it has not finished within the progress timeout.
     */
    <T> T retrying(String what, Supplier<CompletableFuture<T>> request) throws Exception {
        Duration timeout = settings.progressTimeout();
        for (int attempt = 1; ; attempt++) {
            CompletableFuture<T> pending = request.get();
            Throwable cause;
            try {
                return pending.get(timeout.toNanos(), TimeUnit.NANOSECONDS);
            } catch (TimeoutException e) {
                pending.cancel(true);
                cause = new S3Failure.CutException("no answer within " + timeout.toMillis() + " ms (--s3-progress-timeout)"
                        + (overTls() ? "; over https, a certificate this client does not trust ends so too (its CA "
                        + "goes in AWS_CA_BUNDLE)" : ""));
            } catch (ExecutionException e) {
                cause = S3Failure.unwrap(e);
            }
            if (!S3Failure.retryable(cause) || attempt >= settings.maxAttempts()) {
                if (cause instanceof Exception e) {
                    throw attempt > 1 && S3Failure.retryable(cause) ? new GaveUpException(attempt, e) : e;
                }
                throw new IllegalStateException(cause);
            }
            long delayMillis = settings.backoff().toMillis() << (attempt - 1);
            LOG.log(System.Logger.Level.DEBUG, "{0}: {1}; retrying in {2,number,#} ms (attempt {3} of {4})", what,
                    S3Failure.describe(cause), delayMillis, attempt + 1, settings.maxAttempts());
            Thread.sleep(delayMillis); // backoff between attempts, not a wait for an event
        }
    }

    /**
     * Whether requests go over TLS, where the Common Runtime tells no failed handshake from a server that does not
     * answer: both end at the progress timeout.
     */
    private boolean overTls() {
        return settings.endpoint() == null || "https".equals(settings.endpoint().getScheme());
    }

    /** A request of the open phase that failed on every attempt. */
    static final class GaveUpException extends Exception {
        GaveUpException(int attempts, Exception last) {
            super("gave up after " + attempts + " attempts; last: " + S3Failure.describe(last), last);
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

    /**
     * Closes the clients, waiting until the CRT has let go of what it held; reads through checkpoints opened here fail
     * afterwards.
     */
    @Override
    public synchronized void close() {
        try {
            gets.close();
        } finally {
            client.close();
            credentials.close();
        }
    }
}
