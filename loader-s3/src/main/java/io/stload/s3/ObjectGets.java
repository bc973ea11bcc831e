package io.stload.s3;

import java.net.URI;
import java.net.URL;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import software.amazon.awssdk.auth.credentials.AwsCredentials;
import software.amazon.awssdk.auth.credentials.AwsCredentialsProvider;
import software.amazon.awssdk.auth.credentials.AwsSessionCredentials;
import software.amazon.awssdk.crt.CRT;
import software.amazon.awssdk.crt.CrtRuntimeException;
import software.amazon.awssdk.crt.auth.credentials.Credentials;
import software.amazon.awssdk.crt.auth.credentials.CredentialsProvider;
import software.amazon.awssdk.crt.auth.credentials.DelegateCredentialsProvider;
import software.amazon.awssdk.crt.auth.signing.AwsSigningConfig;
import software.amazon.awssdk.crt.http.HttpHeader;
import software.amazon.awssdk.crt.http.HttpMonitoringOptions;
import software.amazon.awssdk.crt.http.HttpRequest;
import software.amazon.awssdk.crt.io.ClientBootstrap;
import software.amazon.awssdk.crt.io.ExponentialBackoffRetryOptions;
import software.amazon.awssdk.crt.io.StandardRetryOptions;
import software.amazon.awssdk.crt.io.TlsContext;
import software.amazon.awssdk.crt.io.TlsContextOptions;
import software.amazon.awssdk.crt.s3.S3BorrowedBuffer;
import software.amazon.awssdk.crt.s3.S3BorrowedBufferDelivery;
import software.amazon.awssdk.crt.s3.S3Client;
import software.amazon.awssdk.crt.s3.S3ClientOptions;
import software.amazon.awssdk.crt.s3.S3DirectBufferPoolOptions;
import software.amazon.awssdk.crt.s3.S3FinishedResponseContext;
import software.amazon.awssdk.crt.s3.S3MetaRequest;
import software.amazon.awssdk.crt.s3.S3MetaRequestOptions;
import software.amazon.awssdk.crt.s3.S3MetaRequestResponseHandler;
import software.amazon.awssdk.regions.Region;
import software.amazon.awssdk.services.s3.S3Configuration;
import software.amazon.awssdk.services.s3.S3Utilities;

/**
 * Ranged GETs through the AWS Common Runtime's S3 client itself, not through the SDK's request pipeline, whose
 * per-response publishers, executors and checks cost several times the CPU of the transfer on a fast link. A GET's
 * body comes as the CRT received it: with {@code pooled} on, a view of the CRT's own direct part buffer (borrowed,
 * released once copied out, so no Java array is made for it); else the Java array the CRT's binding makes. Whoever
 * receives it copies it where it belongs; nothing here writes into anyone's memory. The requests are signed with the
 * SDK's credentials, addressed as the SDK addresses them ({@link S3Utilities}), and sent with no optional header
 * (no checksum mode; a condition only when asked for); retries (the CRT makes at most one of its own, at once) and
 * deadlines are the caller's. A connection that moves next to nothing for about the progress timeout is dropped by
 * the CRT's own monitor.
 */
final class ObjectGets implements AutoCloseable {
    /** The CRT's connection monitor: a connection slower than this for its interval is dropped. */
    private static final long MONITOR_FLOOR_BYTES_PER_SECOND = 1024;

    private final S3Client client;
    private final ClientBootstrap bootstrap;
    private final TlsContext tls;
    private final CredentialsProvider credentials;
    private final AwsSigningConfig signing;
    private final S3Utilities urls;

    private ObjectGets(S3Client client, ClientBootstrap bootstrap, TlsContext tls, CredentialsProvider credentials,
                       AwsSigningConfig signing, S3Utilities urls) {
        this.client = client;
        this.bootstrap = bootstrap;
        this.tls = tls;
        this.credentials = credentials;
        this.signing = signing;
        this.urls = urls;
    }

    /**
     * Starts a client.
     *
     * @param settings    the endpoint, part size, GETs in flight and progress timeout
     * @param region      the region requests are signed for
     * @param sdk         where credentials come from, asked before each signature (it caches what it resolves)
     * @param pooled      whether bodies land in a pool of direct buffers lent to the receiver (no Java array each)
     */
    static ObjectGets start(S3Settings settings, Region region, AwsCredentialsProvider sdk, boolean pooled) {
        List<AutoCloseable> made = new ArrayList<>();
        try {
            ClientBootstrap bootstrap = add(made, new ClientBootstrap(null, null)); // the process-wide event loops
            boolean https = settings.endpoint() == null || "https".equals(settings.endpoint().getScheme());
            TlsContext tls = null;
            if (https) {
                try (TlsContextOptions options = TlsContextOptions.createDefaultClient()) {
                    tls = add(made, new TlsContext(options));
                }
            }
            CredentialsProvider credentials = add(made, new DelegateCredentialsProvider.DelegateCredentialsProviderBuilder()
                    .withHandler(() -> crtCredentials(sdk.resolveCredentials())).build());
            AwsSigningConfig signing = add(made, AwsSigningConfig.getDefaultS3SigningConfig(region.id(), credentials));
            HttpMonitoringOptions monitor = new HttpMonitoringOptions();
            monitor.setMinThroughputBytesPerSecond(Math.min(MONITOR_FLOOR_BYTES_PER_SECOND, settings.minBytesPerSecond()));
            // The monitor notices a slow connection some seconds after its interval; a fifth of the timeout brings that
            // near the timeout itself. The caller's own deadline bounds every GET in any case.
            monitor.setAllowableThroughputFailureIntervalSeconds(
                    (int) Math.max(2, Math.min(3600, settings.progressTimeout().toSeconds() / 5)));
            S3ClientOptions options = new S3ClientOptions().withRegion(region.id()).withClientBootstrap(bootstrap)
                    .withSigningConfig(signing).withPartSize(settings.partBytes()).withMaxConnections(settings.concurrency())
                    .withComputeContentMd5(false).withHttpMonitoringOptions(monitor)
                    .withConnectTimeoutMs((int) Math.min(Integer.MAX_VALUE, settings.progressTimeout().toMillis()))
                    // Retries are the caller's (bounded, logged, with its backoff): the CRT makes at most one of its
                    // own, at once (a maximum of 0 would mean its default, several retries with backoffs of seconds),
                    // and its token bucket, nearly empty, refuses most of those.
                    .withStandardRetryOptions(new StandardRetryOptions().withInitialBucketCapacity(1)
                            .withBackoffRetryOptions(new ExponentialBackoffRetryOptions().withMaxRetries(1)
                                    .withBackoffScaleFactorMS(1)));
            if (tls != null) {
                options.withTlsContext(tls);
            }
            if (pooled) {
                // Grown as GETs need buffers, up to one per GET in flight.
                options.withDirectBufferPoolOptions(S3DirectBufferPoolOptions.elastic(settings.partBytes(),
                        settings.partBytes() * settings.concurrency()));
            }
            S3Client client = new S3Client(options);
            S3Configuration addressing = S3Configuration.builder().pathStyleAccessEnabled(settings.endpoint() != null)
                    .build();
            S3Utilities.Builder urls = S3Utilities.builder().region(region).s3Configuration(addressing);
            if (settings.endpoint() != null) {
                urls.endpoint(settings.endpoint());
            }
            return new ObjectGets(client, bootstrap, tls, credentials, signing, urls.build());
        } catch (RuntimeException e) {
            for (AutoCloseable c : made.reversed()) {
                try {
                    c.close();
                } catch (Exception suppressed) {
                    e.addSuppressed(suppressed);
                }
            }
            throw e;
        }
    }

    private static <T extends AutoCloseable> T add(List<AutoCloseable> made, T resource) {
        made.add(resource);
        return resource;
    }

    private static Credentials crtCredentials(AwsCredentials c) {
        String token = c instanceof AwsSessionCredentials session ? session.sessionToken() : null;
        return new Credentials(c.accessKeyId().getBytes(StandardCharsets.UTF_8),
                c.secretAccessKey().getBytes(StandardCharsets.UTF_8),
                token == null ? null : token.getBytes(StandardCharsets.UTF_8));
    }

    /** What a GET tells its receiver, on the CRT's threads; each method is called in order, then {@link #finished}. */
    interface Receiver {
        /**
         * The response's status and headers.
         *
         * @param status  the HTTP status
         * @param headers the headers
         */
        void headers(int status, HttpHeader[] headers);

        /**
         * The next bytes of the body, lent: {@code release} gives them back once they are copied out.
         *
         * @param bytes   the bytes, from position to limit
         * @param release gives them back; called once
         */
        void body(ByteBuffer bytes, Runnable release);

        /**
         * The end: null when the whole response came, else why not.
         *
         * @param error a {@link Failure}, or null
         */
        void finished(Failure error);
    }

    /**
     * Why a GET ended early: the HTTP status and the service's error document when the server answered, else the
     * CRT's error (a dropped connection, a timeout, a cancel).
     *
     * @param status   the HTTP status, or 0 when no answer came
     * @param document the error document (XML), or null
     * @param crtError the CRT's error name, e.g. {@code AWS_ERROR_HTTP_CONNECTION_CLOSED}
     * @param message  the CRT's description of it
     */
    record Failure(int status, String document, String crtError, String message) {
        /** {@return the service's error code from the document ({@code <Code>...</Code>}), or null} */
        String code() {
            return element("Code");
        }

        /** {@return the service's message from the document, or null} */
        String serviceMessage() {
            return element("Message");
        }

        private String element(String name) {
            if (document == null) {
                return null;
            }
            int from = document.indexOf("<" + name + ">");
            int to = document.indexOf("</" + name + ">");
            return from < 0 || to < from ? null : document.substring(from + name.length() + 2, to).strip();
        }
    }

    /** A GET in flight; {@link #cancel} ends it early (its receiver still hears {@code finished}). */
    static final class Get {
        private S3MetaRequest request;
        private boolean finished;

        private synchronized void started(S3MetaRequest request) {
            this.request = request;
            if (finished) {
                request.close();
            }
        }

        private synchronized void finish() {
            finished = true;
            if (request != null) {
                request.close();
            }
        }

        /** Asks the CRT to end the GET; its receiver hears {@code finished} with a cancel when it has. */
        synchronized void cancel() {
            if (!finished && request != null) {
                request.cancel();
            }
        }
    }

    /**
     * Starts a GET of bytes {@code first..last} of an object.
     *
     * @param bucket   the bucket
     * @param key      the key
     * @param first    the first byte
     * @param last     the last byte
     * @param ifMatch  the ETag it must still have ({@code If-Match}), or null to send no condition
     * @param receiver who gets the response
     * @return the GET, to cancel it
     */
    Get get(String bucket, String key, long first, long last, String ifMatch, Receiver receiver) {
        URL url = urls.getUrl(b -> b.bucket(bucket).key(key));
        String host = url.getPort() < 0 ? url.getHost() : url.getHost() + ":" + url.getPort();
        List<HttpHeader> headers = new ArrayList<>(3);
        headers.add(new HttpHeader("Host", host));
        headers.add(new HttpHeader("Range", "bytes=" + first + "-" + last));
        if (ifMatch != null) {
            headers.add(new HttpHeader("If-Match", ifMatch));
        }
        HttpRequest request = new HttpRequest("GET", url.getFile(), headers.toArray(HttpHeader[]::new), null);
        Get get = new Get();
        // With an ETag, the CRT's ranged GET, which also checks every response has one; without, its plain request.
        S3MetaRequestOptions options = new S3MetaRequestOptions()
                .withMetaRequestType(ifMatch != null ? S3MetaRequestOptions.MetaRequestType.GET_OBJECT
                        : S3MetaRequestOptions.MetaRequestType.DEFAULT)
                .withOperationName("GetObject").withHttpRequest(request)
                .withEndpoint(URI.create(url.getProtocol() + "://" + host))
                .withResponseHandler(new Handler(receiver, get));
        try {
            get.started(client.makeMetaRequest(options));
        } catch (CrtRuntimeException | IllegalArgumentException | IllegalStateException e) {
            get.finish();
            receiver.finished(new Failure(0, null, "AWS_ERROR_UNKNOWN", "cannot start the GET: " + e.getMessage()));
        }
        return get;
    }

    /** The CRT's callbacks, passed on to a receiver. */
    private record Handler(Receiver receiver, Get get)
            implements S3MetaRequestResponseHandler, S3BorrowedBufferDelivery {
        @Override
        public void onResponseHeaders(int status, HttpHeader[] headers) {
            receiver.headers(status, headers);
        }

        @Override
        public int onResponseBody(ByteBuffer body, long objectRangeStart, long objectRangeEnd) {
            receiver.body(body, () -> {
            });
            return 0;
        }

        @Override
        public int onResponseBodyBorrowed(S3BorrowedBuffer body, long objectRangeStart, long objectRangeEnd) {
            receiver.body(body.asByteBuffer(), body::close);
            return 0;
        }

        @Override
        public void onFinished(S3FinishedResponseContext context) {
            get.finish();
            int code = context.getErrorCode();
            if (code == CRT.AWS_CRT_SUCCESS) {
                receiver.finished(null);
                return;
            }
            byte[] payload = context.getErrorPayload();
            String document = payload == null || payload.length == 0 ? null : new String(payload, StandardCharsets.UTF_8);
            receiver.finished(new Failure(context.getResponseStatus(), document, CRT.awsErrorName(code),
                    CRT.awsErrorString(code)));
        }
    }

    /** Ends every GET, and waits (a bounded while) until the CRT has released what it holds. */
    @Override
    public void close() {
        client.close();
        await(client.getShutdownCompleteFuture());
        signing.close();
        credentials.close();
        if (tls != null) {
            tls.close();
        }
        bootstrap.close();
        await(bootstrap.getShutdownCompleteFuture());
    }

    private static void await(Future<?> shutdown) {
        try {
            shutdown.get(30, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (ExecutionException | TimeoutException e) {
            // Released later, or never: nothing more to do about it here.
        }
    }
}
