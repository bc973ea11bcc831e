package io.stload.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

import io.stload.format.Tensor;
import io.stload.plan.LoadOptions;
import io.stload.store.WeightStore;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** Who may reload what, through real sockets on 127.0.0.1: the token, the reload root, and running out of heap. */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class ReloadGuardServerTest {
    private static final String TOKEN = WeightServerTest.TOKEN;
    private static final String UPDATE = "/update_weights_from_disk";

    @TempDir
    Path tmp;
    WeightStore<Tensor> store;
    WeightServer server;
    final HttpClient client = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
            .connectTimeout(Duration.ofSeconds(10)).build();

    @AfterEach
    void stop() {
        if (server != null) {
            server.close();
        }
        if (store != null) {
            store.close();
        }
        client.close();
    }

    private Path root() throws IOException {
        return Files.createDirectories(tmp.resolve("models"));
    }

    private void serve(WeightServer.Reloader reloader) throws IOException {
        Path a = WeightServerTest.write(root(), "a.safetensors", WeightServerTest.A);
        WeightServerTest.write(root(), "b.safetensors", WeightServerTest.B);
        store = WeightStore.open(a, LoadOptions.DEFAULTS, Long.MAX_VALUE);
        server = WeightServer.start(store, reloader == null ? store::reload : reloader, new ReloadGuard(TOKEN, root()),
                new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), Duration.ofSeconds(30));
    }

    private HttpResponse<String> reload(Path path, String authorization) throws IOException, InterruptedException {
        HttpRequest.Builder r = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + server.address().getPort() + UPDATE))
                .timeout(Duration.ofSeconds(30))
                .POST(HttpRequest.BodyPublishers.ofString(WeightServerTest.reloadBody(path, false)));
        if (authorization != null) {
            r.header("Authorization", authorization);
        }
        return client.send(r.build(), HttpResponse.BodyHandlers.ofString());
    }

    private long version() throws IOException, InterruptedException {
        HttpResponse<String> r = client.send(HttpRequest.newBuilder(
                URI.create("http://127.0.0.1:" + server.address().getPort() + "/health")).timeout(Duration.ofSeconds(30))
                .build(), HttpResponse.BodyHandlers.ofString());
        assertEquals(200, r.statusCode(), r.body());
        return (Long) JsonReplies.parse(r.body()).get("version");
    }

    @Test
    void aReloadWithoutTheTokenIs401AndChangesNothing() throws Exception {
        serve(null);
        Path b = root().resolve("b.safetensors");
        for (String auth : new String[] {null, "", "Bearer", "Bearer " + TOKEN + "x", "Bearer " + TOKEN.substring(1),
                "Basic " + TOKEN, TOKEN}) {
            HttpResponse<String> r = reload(b, auth);
            WeightServerTest.assertError(401, "unauthorized", r);
            assertEquals("Bearer", r.headers().firstValue("WWW-Authenticate").orElse(""), r.toString());
        }
        assertEquals(1, version());
        assertEquals(200, reload(b, "Bearer " + TOKEN).statusCode());
        assertEquals(2, version());
    }

    @Test
    void pathsOutsideTheRootOrNotPlainFilesAreRefusedAlikeAndNothingIsEchoed() throws Exception {
        serve(null);
        // A secret outside the root whose first 8 bytes, read as a header length, would leak into an error.
        Path secret = Files.writeString(tmp.resolve("shadow"), "root:*:20000:0:99999:7:::\n");
        Path link = Files.createSymbolicLink(root().resolve("link.safetensors"), secret);
        Path linkedDir = Files.createSymbolicLink(root().resolve("elsewhere"), tmp);
        // A checkpoint folder inside the root whose file resolves outside it: refused as the file itself would be.
        Path escaping = Files.createDirectories(root().resolve("escaping"));
        Files.createSymbolicLink(escaping.resolve("model.safetensors"), secret);
        Path fifo = root().resolve("pipe.safetensors");
        assertEquals(0, new ProcessBuilder("mkfifo", fifo.toString()).start().waitFor());
        String leaked = Long.toUnsignedString(java.nio.ByteBuffer.wrap(Files.readAllBytes(secret), 0, 8)
                .order(java.nio.ByteOrder.LITTLE_ENDIAN).getLong());

        List<String> bodies = new ArrayList<>();
        for (Path p : List.of(secret, link, linkedDir.resolve("shadow"), root().resolve("../shadow"), fifo,
                tmp.resolve("no-such-file"), root().resolve("missing.safetensors"), Path.of("/etc/shadow"), escaping)) {
            HttpResponse<String> r = reload(p, "Bearer " + TOKEN);
            WeightServerTest.assertError(403, "forbidden", r);
            assertFalse(r.body().contains(leaked) || r.body().contains("root:") || r.body().contains("bytes"), r.body());
            bodies.add(r.body());
        }
        assertEquals(1, bodies.stream().distinct().count(), "every refusal reads the same: " + bodies);
        assertEquals(1, version());
        // The FIFO was never opened: a reload of a real checkpoint still gets the slot at once.
        assertEquals(200, reload(root().resolve("b.safetensors"), "Bearer " + TOKEN).statusCode());
    }

    @Test
    void runningOutOfHeapInAReloadAnswers507AndKeepsServing() throws Exception {
        AtomicBoolean fail = new AtomicBoolean(true);
        WeightServer.Reloader[] real = new WeightServer.Reloader[1];
        serve((path, how) -> {
            if (fail.getAndSet(false)) {
                throw new OutOfMemoryError("Java heap space");
            }
            return real[0].reload(path, how);
        });
        real[0] = store::reload;
        Path b = root().resolve("b.safetensors");
        HttpResponse<String> r = reload(b, "Bearer " + TOKEN);
        WeightServerTest.assertError(507, "out_of_memory", r);
        assertEquals(1, version());
        Map<String, Object> ok = JsonReplies.parse(reload(b, "Bearer " + TOKEN).body());
        assertEquals(2L, ok.get("version"), ok.toString());
    }
}
