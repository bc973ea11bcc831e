package io.stload.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.stload.format.DType;
import io.stload.format.SafetensorsWriter;
import io.stload.format.SafetensorsWriter.TensorData;
import io.stload.load.Digests;
import io.stload.format.Tensor;
import io.stload.plan.LoadOptions;
import io.stload.store.Lease;
import io.stload.store.WeightStore;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.logging.Handler;
import java.util.logging.Level;
import java.util.logging.LogRecord;
import java.util.logging.Logger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** The reference host through real sockets on 127.0.0.1: replies, statuses, and reads racing reloads. */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class WeightServerTest {
    /** A name that must be URL-encoded: the server decodes it. */
    static final String ODD_NAME = "model.layers.0/attn weight";
    static final String NORM = "model.norm";
    static final byte A = 0x11;
    static final byte B = 0x22;
    static final String TOKEN = "0123456789abcdef-test-token";

    @TempDir
    Path dir;
    Path a;
    Path b;
    WeightStore<Tensor> store;
    WeightServer server;
    final HttpClient client = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
            .connectTimeout(Duration.ofSeconds(10)).build();
    final ExecutorService threads = Executors.newCachedThreadPool();

    @BeforeEach
    void serve() throws IOException {
        a = write(dir, "a.safetensors", A);
        b = write(dir, "b.safetensors", B);
        store = WeightStore.open(a, LoadOptions.DEFAULTS, Long.MAX_VALUE);
        server = WeightServer.start(store, new ReloadGuard(TOKEN, dir),
                new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), Duration.ofSeconds(30));
    }

    @AfterEach
    void stop() {
        threads.shutdownNow();
        server.close();
        store.close();
        client.close();
    }

    /** Two tensors, every byte {@code fill}. */
    static Path write(Path dir, String fileName, byte fill) throws IOException {
        Path file = dir.resolve(fileName);
        SafetensorsWriter.write(file, null, List.of(
                new TensorData(ODD_NAME, DType.F32, new long[] {8, 16}, filled(512, fill)),
                new TensorData(NORM, DType.BF16, new long[] {16}, filled(32, fill))));
        return file;
    }

    static byte[] filled(int n, byte fill) {
        byte[] bytes = new byte[n];
        Arrays.fill(bytes, fill);
        return bytes;
    }

    static String crcOf(int n, byte fill) {
        return Digests.crc32(MemorySegment.ofArray(filled(n, fill)));
    }

    HttpResponse<String> get(String path) throws IOException, InterruptedException {
        return send(HttpRequest.newBuilder(uri(path)).GET());
    }

    HttpResponse<String> post(String path, String body) throws IOException, InterruptedException {
        return send(HttpRequest.newBuilder(uri(path)).header("Authorization", "Bearer " + TOKEN)
                .POST(HttpRequest.BodyPublishers.ofString(body)));
    }

    HttpResponse<String> send(HttpRequest.Builder request) throws IOException, InterruptedException {
        return client.send(request.timeout(Duration.ofSeconds(30)).build(), HttpResponse.BodyHandlers.ofString());
    }

    URI uri(String path) {
        return URI.create("http://127.0.0.1:" + server.address().getPort() + path);
    }

    static String tensorPath(String name) {
        return "/tensors/" + URLEncoder.encode(name, StandardCharsets.UTF_8).replace("+", "%20");
    }

    static String reloadBody(Path path, boolean quiesce) {
        return "{\"path\": \"" + path.toString().replace("\\", "\\\\") + "\", \"quiesce\": " + quiesce + "}";
    }

    private static Map<String, Object> ok(HttpResponse<String> r) {
        assertEquals(200, r.statusCode(), r.body());
        assertEquals("application/json", r.headers().firstValue("Content-Type").orElse(""));
        return JsonReplies.parse(r.body());
    }

    static void assertError(int status, String error, HttpResponse<String> r) {
        assertEquals(status, r.statusCode(), r.body());
        assertEquals(error, JsonReplies.parse(r.body()).get("error"), r.body());
    }

    @Test
    void tensorReplyNamesTheVersionThatServedIt() throws Exception {
        Map<String, Object> t = ok(get(tensorPath(ODD_NAME)));
        assertEquals(Map.of("name", ODD_NAME, "dtype", "F32", "shape", List.of(8L, 16L), "crc32", crcOf(512, A),
                "version", 1L), t);

        Map<String, Object> reloaded = ok(post("/update_weights_from_disk", reloadBody(b, true)));
        assertEquals(2L, reloaded.get("version"));
        assertTrue(reloaded.containsKey("load_seconds") && reloaded.containsKey("quiesce_seconds"), reloaded.toString());
        assertEquals(Map.of("name", NORM, "dtype", "BF16", "shape", List.of(16L), "crc32", crcOf(32, B),
                "version", 2L), ok(get(tensorPath(NORM))));

        Map<String, Object> health = ok(get("/health"));
        assertEquals(2L, health.get("version"));
        assertEquals(store.memoryBytes(), health.get("memory_bytes"));
        assertEquals(0L, health.get("live_leases"));
    }

    /** No endpoint reads a query: one is refused rather than answered as if it had not been asked. */
    @Test
    void aQueryIsABadRequest() throws Exception {
        HttpResponse<String> r = get(tensorPath(NORM) + "?version=99&slice=0:4");
        assertError(400, "bad_request", r);
        assertEquals("/tensors/ takes no query parameters", JsonReplies.parse(r.body()).get("message"));
        assertError(400, "bad_request", get("/health?verbose"));
    }

    /** A HEAD is refused like any other method, with no body: the JDK's server would warn of a body on stderr. */
    @Test
    void aHeadRequestIsRefusedWithoutABodyOrAServerWarning() throws Exception {
        Logger jdkServer = Logger.getLogger("com.sun.net.httpserver");
        List<String> headWarnings = new CopyOnWriteArrayList<>();
        Handler capture = new Handler() {
            @Override
            public void publish(LogRecord r) {
                if (r.getLevel().intValue() >= Level.WARNING.intValue()
                        && String.valueOf(r.getMessage()).contains("HEAD")) {
                    headWarnings.add(r.getMessage());
                }
            }

            @Override
            public void flush() {
            }

            @Override
            public void close() {
            }
        };
        jdkServer.addHandler(capture);
        try {
            HttpResponse<String> head = send(HttpRequest.newBuilder(uri("/health"))
                    .method("HEAD", HttpRequest.BodyPublishers.noBody()));
            assertEquals(405, head.statusCode());
            assertEquals("GET", head.headers().firstValue("Allow").orElse(""));
            assertEquals("", head.body());
            assertEquals(List.of(), headWarnings);
        } finally {
            jdkServer.removeHandler(capture);
        }
    }

    @Test
    void badInputGetsAJsonErrorAndTheOldVersionKeepsServing() throws Exception {
        assertError(404, "unknown_tensor", get(tensorPath("no.such.tensor")));
        assertError(404, "not_found", get("/nope"));
        assertError(404, "not_found", get("/healthz"));
        HttpResponse<String> longName = get(tensorPath("x".repeat(8000)));
        assertError(404, "unknown_tensor", longName);
        assertTrue(longName.body().length() < 400 && longName.body().contains("(8000 characters)"), longName.body());
        HttpResponse<String> wrongMethod = post("/health", "");
        assertError(405, "method_not_allowed", wrongMethod);
        assertEquals("GET", wrongMethod.headers().firstValue("Allow").orElse(""));
        assertError(405, "method_not_allowed", get("/update_weights_from_disk"));
        assertError(405, "method_not_allowed", post(tensorPath(NORM), ""));

        for (String body : List.of("", "{", "[]", "{\"quiesce\": true}", "{\"path\": 3}", "{\"path\": \"x\"} 1",
                "{\"path\": \"x\", \"quiesce\": \"yes\"}", "{\"path\": \"nul\\u0000\"}")) {
            assertError(400, "bad_request", post("/update_weights_from_disk", body));
        }
        Path corrupt = dir.resolve("corrupt.safetensors");
        Files.write(corrupt, new byte[] {1, 2, 3});
        Path nulShard = Files.createDirectory(dir.resolve("nul"));
        write(nulShard, "a.safetensors", A);
        Files.writeString(nulShard.resolve("model.safetensors.index.json"),
                "{\"weight_map\": {\"" + NORM + "\": \"a\\u0000.safetensors\"}}");
        for (Path bad : List.of(corrupt, dir, nulShard)) {
            HttpResponse<String> r = post("/update_weights_from_disk", reloadBody(bad, false));
            assertError(400, "load_failed", r);
            assertEquals(1L, JsonReplies.parse(r.body()).get("version"), r.body());
        }
        assertEquals(crcOf(512, A), ok(get(tensorPath(ODD_NAME))).get("crc32"));
        assertEquals(1L, ok(get("/health")).get("version"));
        assertEquals(store.memoryBytes(), ok(get("/health")).get("memory_bytes"));
    }

    @Test
    void aReloadAskedForWhileOneRunsGets409() throws Exception {
        CompletableFuture<HttpResponse<String>> first;
        try (Lease<Tensor> reading = store.lease()) {
            first = CompletableFuture.supplyAsync(() -> {
                try {
                    return post("/update_weights_from_disk", reloadBody(b, true));
                } catch (IOException | InterruptedException e) {
                    throw new IllegalStateException(e);
                }
            }, threads);
            long deadline = System.nanoTime() + 30_000_000_000L;
            while (!store.quiescing()) {
                assertTrue(System.nanoTime() < deadline, "the reload never started quiescing");
                Thread.onSpinWait();
            }
            HttpResponse<String> second = post("/update_weights_from_disk", reloadBody(a, false));
            assertError(409, "already_running", second);
            assertEquals(1L, JsonReplies.parse(second.body()).get("version"));
            assertEquals(1, reading.version());
        }
        assertEquals(2L, ok(first.get()).get("version"));
    }

    @Test
    void concurrentReadsAndReloadsEachSeeOneConsistentVersion() throws Exception {
        long one = store.memoryBytes();
        int readers = 6;
        int readsEach = 40;
        int reloaders = 2;
        int reloadsEach = 6;
        // Which checkpoint each version was loaded from, as the successful POSTs report it.
        Map<Long, Byte> fillOfVersion = new ConcurrentHashMap<>(Map.of(1L, A));
        List<Map<String, Object>> reads = Collections.synchronizedList(new ArrayList<>());
        CountDownLatch start = new CountDownLatch(1);
        List<Future<?>> clients = new ArrayList<>();
        for (int r = 0; r < readers; r++) {
            String name = r % 2 == 0 ? ODD_NAME : NORM;
            clients.add(threads.submit(() -> {
                start.await();
                for (int i = 0; i < readsEach; i++) {
                    reads.add(ok(get(tensorPath(name))));
                }
                return null;
            }));
        }
        for (int w = 0; w < reloaders; w++) {
            boolean quiesce = w % 2 == 0;
            clients.add(threads.submit(() -> {
                start.await();
                for (int i = 0; i < reloadsEach; i++) {
                    byte fill = i % 2 == 0 ? B : A;
                    HttpResponse<String> r = post("/update_weights_from_disk", reloadBody(fill == A ? a : b, quiesce));
                    Map<String, Object> reply = JsonReplies.parse(r.body());
                    if (r.statusCode() == 200) {
                        fillOfVersion.put((Long) reply.get("version"), fill);
                    } else {
                        assertEquals(409, r.statusCode(), r.body()); // the other reloader was running
                        assertEquals("already_running", reply.get("error"));
                    }
                }
                return null;
            }));
        }
        start.countDown();
        for (Future<?> f : clients) {
            f.get();
        }
        assertEquals(readers * readsEach, reads.size());
        for (Map<String, Object> read : reads) {
            Byte fill = fillOfVersion.get((Long) read.get("version"));
            int bytes = read.get("name").equals(ODD_NAME) ? 512 : 32;
            assertEquals(crcOf(bytes, fill), read.get("crc32"), read.toString());
        }
        long current = (Long) ok(get("/health")).get("version");
        assertEquals(fillOfVersion.size(), current, "every published version was reported by a 200");
        assertEquals(0, store.liveLeases());
        assertEquals(one, store.memoryBytes(), "one version's memory once the requests are answered");
    }
}
