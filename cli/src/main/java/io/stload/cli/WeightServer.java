package io.stload.cli;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import io.stload.format.Tensor;
import io.stload.load.Digests;
import io.stload.store.Lease;
import io.stload.store.ReloadOptions;
import io.stload.store.ReloadResult;
import io.stload.store.WeightStore;
import java.io.IOException;
import java.io.StringWriter;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Locale;
import java.util.Optional;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.function.Consumer;
import tools.jackson.core.JsonGenerator;

/**
 * A serving engine's data and admin plane over a {@link WeightStore}, on the JDK's HTTP server:
 * <ul>
 * <li>{@code GET /tensors/{name}}: name, dtype, shape, CRC-32 of the bytes, and the version that served them</li>
 * <li>{@code POST /update_weights_from_disk} {@code {"path": ..., "quiesce": ...}}: reload; the old version
 * serves until the new one is published, and stays current if the reload fails. Only with the token, and
 * only a path under the reload root ({@link ReloadGuard})</li>
 * <li>{@code GET /health}: current version, memory held, live leases</li>
 * </ul>
 * Every reply is JSON. Bad input gets a 4xx status; 5xx is kept for failures of the server itself.
 */
final class WeightServer implements AutoCloseable {
    private static final int MAX_BODY_BYTES = 16 * 1024;
    private static final String TENSORS = "/tensors/";

    static {
        // The JDK's server waits forever for a request and accepts every connection unless told otherwise. It
        // reads these once, when its first server is created; a value the operator set on the command line wins.
        limitByDefault("sun.net.httpserver.maxReqTime", "10"); // seconds to receive a request, body included
        limitByDefault("sun.net.httpserver.idleInterval", "30"); // seconds an idle keep-alive connection is kept
        limitByDefault("sun.net.httpserver.clockTick", "1000"); // ms between checks of idle and new connections
        limitByDefault("jdk.httpserver.maxConnections", "256"); // more are closed as soon as they are accepted
        limitByDefault("sun.net.httpserver.maxReqHeaders", "64");
        limitByDefault("sun.net.httpserver.maxReqHeaderSize", "16384");
    }

    private static void limitByDefault(String property, String value) {
        if (System.getProperty(property) == null) {
            System.setProperty(property, value);
        }
    }

    /** How a reload is carried out; the store's own reload, or a stand-in that fails on purpose in tests. */
    @FunctionalInterface
    interface Reloader {
        ReloadResult reload(Path checkpoint, ReloadOptions how);
    }

    private final WeightStore<Tensor> store;
    private final Reloader reloader;
    private final ReloadGuard guard;
    private final Duration quiesceTimeout;
    private final HttpServer http;
    private final ExecutorService handlers;
    private final CountDownLatch closed = new CountDownLatch(1);

    private record Reply(int status, String json) {
    }

    @FunctionalInterface
    private interface Handler {
        Reply handle(HttpExchange exchange) throws IOException;
    }

    private WeightServer(WeightStore<Tensor> store, Reloader reloader, ReloadGuard guard, Duration quiesceTimeout,
                         HttpServer http) {
        this.store = store;
        this.reloader = reloader;
        this.guard = guard;
        this.quiesceTimeout = quiesceTimeout;
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
        WeightServer server = new WeightServer(store, reloader, guard, quiesceTimeout, HttpServer.create(address, 0));
        server.route(TENSORS, "GET", server::tensor);
        server.route("/update_weights_from_disk", "POST", server::update);
        server.route("/health", "GET", server::health);
        server.http.createContext("/", ex -> send(ex, error(404, "not_found", "no endpoint " + ex.getRequestURI().getPath())));
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
                    reply = error(404, "not_found", "no endpoint " + requested);
                } else if (!ex.getRequestMethod().equals(method)) {
                    ex.getResponseHeaders().set("Allow", method);
                    reply = error(405, "method_not_allowed", path + " takes " + method);
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
        try (Lease<Tensor> lease = store.lease()) {
            Optional<Tensor> found = lease.find(name);
            if (found.isEmpty()) {
                return error(404, "unknown_tensor", "no tensor `" + name + "` in version " + lease.version());
            }
            Tensor t = found.get();
            String crc = Digests.crc32(t.data());
            return json(200, g -> {
                g.writeStringProperty("name", t.name());
                g.writeStringProperty("dtype", t.dtype().name());
                g.writeName("shape");
                g.writeArray(t.shape(), 0, t.shape().length);
                g.writeStringProperty("crc32", crc);
                g.writeNumberProperty("version", lease.version());
            });
        }
    }

    private Reply update(HttpExchange ex) throws IOException {
        if (!guard.authorized(ex.getRequestHeaders().getFirst("Authorization"))) {
            ex.getResponseHeaders().set("WWW-Authenticate", "Bearer");
            return error(401, "unauthorized", "a reload needs the server's token: Authorization: Bearer TOKEN");
        }
        byte[] body = ex.getRequestBody().readNBytes(MAX_BODY_BYTES + 1);
        if (body.length > MAX_BODY_BYTES) {
            throw new BadRequest("request body is over " + MAX_BODY_BYTES + " bytes");
        }
        UpdateRequest request = UpdateRequest.parse(body);
        Optional<Path> target = guard.confine(request.path());
        if (target.isEmpty()) {
            // One answer for missing, unreadable, outside and special files: nothing to learn about any of them.
            return error(403, "forbidden", "not a checkpoint under the reload root " + guard.root());
        }
        ReloadResult r = reloader.reload(target.get(),
                request.quiesce() ? ReloadOptions.quiesced(quiesceTimeout) : ReloadOptions.IMMEDIATE);
        int status = switch (r.outcome()) {
            case RELOADED -> 200;
            case LOAD_FAILED, LAYOUT_CHANGED -> 400; // missing, unreadable or invalid checkpoint, or another table
            case ALREADY_RUNNING, OVER_BUDGET -> 409; // the store's state forbids it now; may succeed later
            case QUIESCE_TIMED_OUT -> 503; // readers kept their leases; try again
            case FLUSH_FAILED, STORE_FAILED -> 500;
        };
        return json(status, g -> {
            if (status != 200) {
                g.writeStringProperty("error", r.outcome().name().toLowerCase(Locale.ROOT));
                g.writeStringProperty("message", r.message().orElse(""));
            }
            g.writeNumberProperty("version", r.version());
            g.writeNumberProperty("load_seconds", r.loadSeconds());
            g.writeNumberProperty("quiesce_seconds", r.quiesceSeconds());
            g.writeNumberProperty("memory_bytes", store.memoryBytes());
        });
    }

    private Reply health(HttpExchange ex) {
        return json(200, g -> {
            g.writeNumberProperty("version", store.version());
            g.writeNumberProperty("memory_bytes", store.memoryBytes());
            if (store.memoryBudgetBytes() != Long.MAX_VALUE) {
                g.writeNumberProperty("memory_budget_bytes", store.memoryBudgetBytes());
            }
            g.writeNumberProperty("live_leases", store.liveLeases());
            g.writeBooleanProperty("quiescing", store.quiescing());
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
        byte[] body = reply.json().getBytes(StandardCharsets.UTF_8);
        ex.getResponseHeaders().set("Content-Type", "application/json");
        ex.sendResponseHeaders(reply.status(), body.length);
        try (var out = ex.getResponseBody()) {
            out.write(body);
        }
        ex.close();
    }
}
