package io.stload.cli;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import io.stload.ErrorKind;
import io.stload.Printable;
import io.stload.format.Tensor;
import io.stload.load.Digests;
import io.stload.store.Lease;
import io.stload.StloadException;
import io.stload.store.ReloadDelta;
import io.stload.store.ReloadOptions;
import io.stload.store.ReloadResult;
import io.stload.store.SourceVersion;
import io.stload.store.WeightSource;
import io.stload.store.WeightStore;
import java.io.IOException;
import java.io.StringWriter;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.TreeSet;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.function.Consumer;
import java.util.function.Function;
import java.util.function.UnaryOperator;
import tools.jackson.core.JsonGenerator;

/**
 * A serving engine's data and admin plane over a {@link WeightStore}, on the JDK's HTTP server:
 * <ul>
 * <li>{@code GET /tensors/{name}}: name, dtype, shape, CRC-32 of the bytes, and the version that served them</li>
 * <li>{@code POST /reload} {@code {"source": ..., "mode": "beside"|"in_place", ...}} ({@link ReloadRequest}):
 * reload from a path under the reload root, a hub revision in the server's cache, or an S3 prefix under the
 * server's ({@link ReloadSources}), beside the serving version or in place, reading only the tensors that changed;
 * the reply says what was carried over and read. Only with the token</li>
 * <li>{@code POST /update_weights_from_disk} {@code {"path": ..., "quiesce": ...}}: the same, beside, from a path
 * under the reload root, as other engines' endpoints of that name take it</li>
 * <li>{@code GET /health}: current version and source, memory held, live leases, and why reads are refused after a
 * reload in place failed part way</li>
 * </ul>
 * Every reply is JSON. Bad input gets a 4xx status; 5xx is kept for failures of the server itself.
 */
final class WeightServer implements AutoCloseable {
    private static final int MAX_BODY_BYTES = 16 * 1024;
    private static final String TENSORS = "/tensors/";
    /** How much of a request's path a reply repeats: a 16 KiB path need not come back whole. */
    private static final int ECHOED = 200;

    /**
     * The JDK server's limits and their defaults here: it waits forever for a request and accepts every connection
     * unless told otherwise. It reads them once, when its first server is created; a value the operator set on the
     * command line wins.
     */
    private static final Map<String, String> LIMITS = Map.of(
            "sun.net.httpserver.maxReqTime", "10", // seconds to receive a request, body included
            "sun.net.httpserver.idleInterval", "30", // seconds an idle keep-alive connection is kept
            "sun.net.httpserver.clockTick", "1000", // ms between checks of idle and new connections
            "jdk.httpserver.maxConnections", "256", // more are closed as soon as they are accepted
            "sun.net.httpserver.maxReqHeaders", "64",
            "sun.net.httpserver.maxReqHeaderSize", "16384");

    static {
        LIMITS.forEach((property, value) -> {
            if (System.getProperty(property) == null) {
                System.setProperty(property, value);
            }
        });
    }

    /**
     * Refuses an operator's limit that is not a whole number from 1 to {@code Integer.MAX_VALUE}: the JDK would drop
     * it, for no limit at all (a request that never ends, connections without bound) or its own.
     */
    static void requireLimits(UnaryOperator<String> properties) {
        for (String property : new TreeSet<>(LIMITS.keySet())) {
            String value = properties.apply(property);
            if (value == null) {
                continue; // not set: the JDK's own default
            }
            int n;
            try {
                n = Integer.decode(value); // as the JDK reads the narrowest of them (Integer.getInteger)
            } catch (NumberFormatException e) {
                n = 0;
            }
            if (n < 1) {
                throw new StloadException(ErrorKind.Usage, null, "-D" + property + "=" + Printable.start(value, 40)
                        + ": not a whole number from 1 to " + Integer.MAX_VALUE + ", so the JDK's server would drop"
                        + " the limit");
            }
        }
    }

    /** How a reload is carried out; the store's own reload, or a stand-in that fails on purpose in tests. */
    @FunctionalInterface
    interface Reloader {
        ReloadResult reload(WeightSource source, ReloadOptions how);
    }

    private final WeightStore<Tensor> store;
    private final Reloader reloader;
    private final ReloadGuard guard;
    private final ReloadSources sources;
    private final Duration quiesceTimeout;
    private final long stagingBytes;
    private final HttpServer http;
    private final ExecutorService handlers;
    private final CountDownLatch closed = new CountDownLatch(1);

    private record Reply(int status, String json) {
    }

    @FunctionalInterface
    private interface Handler {
        Reply handle(HttpExchange exchange) throws IOException;
    }

    private WeightServer(WeightStore<Tensor> store, Reloader reloader, ReloadGuard guard, ReloadSources sources,
                         Duration quiesceTimeout, long stagingBytes, HttpServer http) {
        this.store = store;
        this.reloader = reloader;
        this.guard = guard;
        this.sources = sources;
        this.quiesceTimeout = quiesceTimeout;
        this.stagingBytes = stagingBytes;
        this.http = http;
        // One thread per exchange: a reload (or a quiesced wait) must not hold up reads on other connections.
        this.handlers = Executors.newVirtualThreadPerTaskExecutor();
    }

    /** Listens on {@code address} (port 0 picks a free port; see {@link #address()}). */
    static WeightServer start(WeightStore<Tensor> store, ReloadGuard guard, InetSocketAddress address, Duration quiesceTimeout)
            throws IOException {
        return start(store, store::reload, guard, address, quiesceTimeout);
    }

    static WeightServer start(WeightStore<Tensor> store, Reloader reloader, ReloadGuard guard, InetSocketAddress address,
                              Duration quiesceTimeout) throws IOException {
        return start(store, reloader, ReloadSources.localOnly(guard), address, quiesceTimeout,
                ReloadOptions.DEFAULT_STAGING_BYTES);
    }

    /**
     * Listens on {@code address}; reloads may name what {@code sources} allows, and stage at most
     * {@code stagingBytes} in place unless a request says otherwise.
     */
    static WeightServer start(WeightStore<Tensor> store, Reloader reloader, ReloadSources sources,
                              InetSocketAddress address, Duration quiesceTimeout, long stagingBytes) throws IOException {
        WeightServer server = new WeightServer(store, reloader, sources.guard(), sources, quiesceTimeout, stagingBytes,
                HttpServer.create(address, 0));
        server.route(TENSORS, "GET", server::tensor);
        server.route("/reload", "POST", server::reload);
        server.route("/update_weights_from_disk", "POST", server::update);
        server.route("/health", "GET", server::health);
        server.http.createContext("/", ex -> send(ex, error(404, "not_found",
                "no endpoint " + Printable.start(ex.getRequestURI().getPath(), ECHOED))));
        server.http.setExecutor(server.handlers);
        server.http.start();
        return server;
    }

    Path reloadRoot() {
        return guard.root();
    }

    InetSocketAddress address() {
        return http.getAddress();
    }

    /** Blocks until {@link #close()}. */
    void awaitClose() throws InterruptedException {
        closed.await();
    }

    @Override
    public void close() {
        http.stop(0);
        handlers.shutdown();
        closed.countDown();
    }

    /** A path ending in '/' takes everything below it; any other path only itself. */
    private void route(String path, String method, Handler handler) {
        http.createContext(path, ex -> {
            Reply reply;
            String requested = ex.getRequestURI().getPath();
            try {
                if (!path.endsWith("/") && !requested.equals(path)) {
                    reply = error(404, "not_found", "no endpoint " + Printable.start(requested, ECHOED));
                } else if (!ex.getRequestMethod().equals(method)) {
                    ex.getResponseHeaders().set("Allow", method);
                    reply = error(405, "method_not_allowed", path + " takes " + method);
                } else if (ex.getRequestURI().getRawQuery() != null) {
                    // No endpoint reads a query: ?version=... or ?slice=... would be answered as if not asked.
                    reply = error(400, "bad_request", path + " takes no query parameters");
                } else {
                    reply = handler.handle(ex);
                }
            } catch (BadRequest e) {
                reply = error(400, "bad_request", e.getMessage());
            } catch (OutOfMemoryError e) {
                // What failed to fit is garbage now; the version serving before keeps serving.
                reply = error(507, "out_of_memory", "the server ran out of Java heap; nothing was changed");
            } catch (RuntimeException e) {
                reply = error(500, "internal", e.toString());
            }
            send(ex, reply);
        });
    }

    private Reply tensor(HttpExchange ex) {
        String name = ex.getRequestURI().getPath().substring(TENSORS.length()); // getPath() has decoded it
        // The lease covers reading the bytes; the reply is sent after it closes, so a slow client cannot
        // hold up a quiesced reload.
        Lease<Tensor> leased;
        try {
            leased = store.lease();
        } catch (StloadException e) {
            // Decided from the refusal itself: asking the store again could find the failure cleared by then.
            if (!(e.getCause() instanceof StloadException)) {
                throw e; // closed: the server is stopping
            }
            // A reload in place failed part way: the weights are neither version until a reload succeeds.
            return json(503, g -> {
                g.writeStringProperty("error", "store_failed");
                g.writeStringProperty("kind", e.kind().name());
                g.writeStringProperty("message", e.detail());
            });
        }
        try (Lease<Tensor> lease = leased) {
            Optional<Tensor> found = lease.find(name);
            if (found.isEmpty()) {
                return error(404, "unknown_tensor", "no tensor `" + Printable.start(name, ECHOED) + "` in version "
                        + lease.version());
            }
            Tensor t = found.get();
            String crc = Digests.crc32(t.data());
            return json(200, g -> {
                g.writeStringProperty("name", t.name());
                g.writeStringProperty("dtype", t.info().dtypeName());
                g.writeName("shape");
                long[] shape = t.shape().toArray();
                g.writeArray(shape, 0, shape.length);
                g.writeStringProperty("crc32", crc);
                g.writeNumberProperty("version", lease.version());
            });
        }
    }

    /**
     * A reload endpoint: the reply {@code handle} makes of the request's body, if the request carries the token and
     * its body fits the limit; else why not.
     */
    private Reply authorized(HttpExchange ex, Function<byte[], Reply> handle) throws IOException {
        if (!guard.authorized(ex.getRequestHeaders().getFirst("Authorization"))) {
            ex.getResponseHeaders().set("WWW-Authenticate", "Bearer");
            return error(401, "unauthorized", "a reload needs the server's token: Authorization: Bearer TOKEN");
        }
        byte[] body;
        try {
            body = ex.getRequestBody().readNBytes(MAX_BODY_BYTES + 1);
        } catch (IOException e) { // a chunk size that is no number, say: answered before the connection is closed
            throw new BadRequest("the request body cannot be read: " + Printable.start(String.valueOf(e.getMessage()),
                    ECHOED));
        }
        if (body.length > MAX_BODY_BYTES) {
            throw new BadRequest("request body is over " + MAX_BODY_BYTES + " bytes");
        }
        return handle.apply(body);
    }

    /** One answer for missing, unreadable, outside and special files: nothing to learn about any of them. */
    private Reply forbidden() {
        String where = (guard.root() == null ? "not a checkpoint this server reloads from (no reload root)"
                : "not a checkpoint under the reload root " + guard.root())
                + (sources.s3Prefix() == null ? "" : " or the S3 prefix " + sources.s3Prefix());
        return error(403, "forbidden", where);
    }

    private Reply reload(HttpExchange ex) throws IOException {
        return authorized(ex, body -> {
            ReloadRequest request = ReloadRequest.parse(body);
            return sources.resolve(request.source())
                    .map(source -> replyTo(reloader.reload(source,
                            request.options(store.options(), stagingBytes, quiesceTimeout))))
                    .orElseGet(this::forbidden);
        });
    }

    private Reply update(HttpExchange ex) throws IOException {
        return authorized(ex, body -> {
            UpdateRequest request = UpdateRequest.parse(body);
            return guard.confine(request.path())
                    .map(target -> replyTo(reloader.reload(WeightSource.path(target),
                            request.quiesce() ? ReloadOptions.quiesced(quiesceTimeout) : ReloadOptions.IMMEDIATE)))
                    .orElseGet(this::forbidden);
        });
    }

    private Reply replyTo(ReloadResult r) {
        if (r.kind().orElse(null) == ErrorKind.UnsafePath) {
            return forbidden(); // a file of it resolves outside its folder: answered as a source outside would be
        }
        int status = switch (r.outcome()) {
            case RELOADED -> 200;
            case LOAD_FAILED, LAYOUT_CHANGED -> 400; // missing, unreadable or invalid checkpoint, or another table
            case ALREADY_RUNNING, OVER_BUDGET -> 409; // the store's state forbids it now; may succeed later
            case QUIESCE_TIMED_OUT -> 503; // readers kept their leases; try again
            case FLUSH_FAILED, STORE_FAILED -> 500;
        };
        ReloadDelta d = r.delta();
        return json(status, g -> {
            if (status != 200) {
                g.writeStringProperty("error", r.outcome().name().toLowerCase(Locale.ROOT));
                g.writeStringProperty("kind", r.kind().map(Enum::name).orElse(""));
                g.writeStringProperty("message", r.message().orElse(""));
            }
            g.writeNumberProperty("version", r.version());
            g.writeStringProperty("mode", r.mode().name().toLowerCase(Locale.ROOT));
            writeSource(g, r.source());
            g.writeNumberProperty("load_seconds", r.loadSeconds());
            g.writeNumberProperty("quiesce_seconds", r.quiesceSeconds());
            g.writeNumberProperty("memory_bytes", store.memoryBytes());
            g.writeObjectPropertyStart("carried_over");
            g.writeNumberProperty("tensors", d.tensorsCarried());
            g.writeNumberProperty("bytes", d.bytesCarried());
            g.writeEndObject();
            g.writeObjectPropertyStart("read");
            g.writeNumberProperty("tensors", d.tensorsRead());
            g.writeNumberProperty("bytes", d.bytesRead());
            g.writeNumberProperty("bytes_from_storage", d.bytesFromStorage());
            g.writeEndObject();
            g.writeNumberProperty("staged_bytes", d.stagedBytes());
            g.writeObjectPropertyStart("reasons");
            d.tensorsByReason().forEach((reason, n) -> g.writeNumberProperty(reason.name().toLowerCase(Locale.ROOT), n));
            g.writeEndObject();
        });
    }

    private static void writeSource(JsonGenerator g, SourceVersion source) {
        g.writeObjectPropertyStart("source");
        g.writeStringProperty("name", source.source());
        if (source.commit().isPresent()) {
            g.writeStringProperty("commit", source.commit().get());
        }
        g.writeObjectPropertyStart("files");
        source.files().forEach(g::writeStringProperty);
        g.writeEndObject();
        g.writeEndObject();
    }

    private Reply health(HttpExchange ex) {
        WeightStore.Status status = store.status(); // one moment: a reload may publish between two reads
        return json(200, g -> {
            g.writeNumberProperty("version", status.version());
            g.writeNumberProperty("memory_bytes", status.memoryBytes());
            if (store.memoryBudgetBytes() != Long.MAX_VALUE) {
                g.writeNumberProperty("memory_budget_bytes", store.memoryBudgetBytes());
            }
            g.writeNumberProperty("live_leases", status.liveLeases());
            g.writeBooleanProperty("quiescing", status.quiescing());
            writeSource(g, status.source());
            status.failure().ifPresent(f -> g.writeStringProperty("failed", f.detail()));
        });
    }

    private static Reply error(int status, String code, String message) {
        return json(status, g -> {
            g.writeStringProperty("error", code);
            g.writeStringProperty("message", message);
        });
    }

    private static Reply json(int status, Consumer<JsonGenerator> fields) {
        StringWriter out = new StringWriter();
        try (JsonGenerator g = Json.generator(out)) {
            g.writeStartObject();
            fields.accept(g);
            g.writeEndObject();
        }
        return new Reply(status, out.toString());
    }

    private static void send(HttpExchange ex, Reply reply) throws IOException {
        // A reply to HEAD has no body (-1: none), else the JDK's server logs a warning per request on stderr.
        byte[] body = ex.getRequestMethod().equals("HEAD") ? new byte[0]
                : reply.json().getBytes(StandardCharsets.UTF_8);
        ex.getResponseHeaders().set("Content-Type", "application/json");
        ex.sendResponseHeaders(reply.status(), body.length == 0 ? -1 : body.length);
        try (var out = ex.getResponseBody()) {
            out.write(body);
        }
        ex.close();
    }
}
