package io.stload.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.stload.checkpoint.WaitPolicy;
import io.stload.format.Tensor;
import io.stload.plan.LoadOptions;
import io.stload.s3.S3Location;
import io.stload.s3.S3ProxyServer;
import io.stload.s3.S3Settings;
import io.stload.s3.S3Storage;
import io.stload.store.ReloadMatrix;
import io.stload.store.StepCheckpoints;
import io.stload.store.StoreMemory;
import io.stload.store.WeightSource;
import io.stload.store.WeightStore;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.Function;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code POST /reload} through real sockets on 127.0.0.1: a source and options in either mode, carried-over bytes in
 * the reply, and the same token, root confinement and limits as {@code /update_weights_from_disk}, now also for hub
 * repo ids (the server's cache) and S3 prefixes (the server's prefix, on S3Proxy).
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class ReloadEndpointTest {
    private static final String TOKEN = WeightServerTest.TOKEN;
    private static final int N = StepCheckpoints.names().size();

    @TempDir
    Path tmp;
    Path root;
    WeightStore<Tensor> store;
    WeightServer server;
    S3ProxyServer s3Server;
    S3Storage s3;
    final HttpClient client = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
            .connectTimeout(Duration.ofSeconds(10)).build();

    @AfterEach
    void stop() throws Exception {
        if (server != null) {
            server.close();
        }
        if (store != null) {
            store.close();
        }
        if (s3 != null) {
            s3.close();
        }
        if (s3Server != null) {
            s3Server.close();
        }
        client.close();
    }

    /** Serves step 1 from the reload root; {@code remote} opens repo ids and S3 URLs, as serve's flags would. */
    private void serve(Function<String, WeightSource> remote, String s3Prefix, StoreMemory<Tensor> memory)
            throws IOException {
        root = Files.createDirectories(tmp.resolve("models"));
        for (int k = 1; k <= 3; k++) {
            StepCheckpoints.write(root.resolve("step-" + k), k);
        }
        store = WeightStore.open(WeightSource.path(root.resolve("step-1")),
                memory == null ? StoreMemory.host() : memory, LoadOptions.DEFAULTS, Long.MAX_VALUE);
        ReloadSources sources = new ReloadSources(new ReloadGuard(TOKEN, root), remote, s3Prefix);
        server = WeightServer.start(store, store::reload, sources,
                new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), Duration.ofSeconds(30), 1L << 30);
    }

    private HttpResponse<String> post(String path, String body, String token) throws IOException, InterruptedException {
        HttpRequest.Builder r = HttpRequest.newBuilder(uri(path)).timeout(Duration.ofSeconds(60))
                .POST(HttpRequest.BodyPublishers.ofString(body));
        if (token != null) {
            r.header("Authorization", "Bearer " + token);
        }
        return client.send(r.build(), HttpResponse.BodyHandlers.ofString());
    }

    private HttpResponse<String> get(String path) throws IOException, InterruptedException {
        return client.send(HttpRequest.newBuilder(uri(path)).timeout(Duration.ofSeconds(30)).build(),
                HttpResponse.BodyHandlers.ofString());
    }

    private URI uri(String path) {
        return URI.create("http://127.0.0.1:" + server.address().getPort() + path);
    }

    private Map<String, Object> reloaded(String body) throws IOException, InterruptedException {
        HttpResponse<String> r = post("/reload", body, TOKEN);
        assertEquals(200, r.statusCode(), r.body());
        return JsonReplies.parse(r.body());
    }

    private static String source(Object s) {
        return "\"" + s.toString().replace("\\", "\\\\") + "\"";
    }

    @SuppressWarnings("unchecked")
    private static Map<String, Object> object(Map<String, Object> reply, String field) {
        return (Map<String, Object>) reply.get(field);
    }

    @Test
    void reloadsALocalStepEitherWayAndReportsWhatItCarriedOver() throws Exception {
        serve(null, null, null);
        Map<String, Object> beside = reloaded("{\"source\": " + source(root.resolve("step-2")) + "}");
        assertEquals(2L, beside.get("version"));
        assertEquals("beside", beside.get("mode"));
        long changed = StepCheckpoints.changed(2).size();
        long total = StepCheckpoints.TENSORS.stream().mapToLong(e -> e.byteSize()).sum();
        assertEquals(Map.of("tensors", N - changed, "bytes", total - StepCheckpoints.changedBytes(2)),
                object(beside, "carried_over"), beside.toString());
        assertEquals(changed, object(beside, "read").get("tensors"));
        assertEquals(Map.of("digest_changed", changed, "same_digest", N - changed), object(beside, "reasons"));
        assertEquals(root.resolve("step-2").toRealPath().toString(), object(beside, "source").get("name"));

        Map<String, Object> inPlace = reloaded("{\"source\": " + source(root.resolve("step-3"))
                + ", \"mode\": \"in_place\", \"staging_bytes\": 0}");
        assertEquals(3L, inPlace.get("version"));
        assertEquals("in_place", inPlace.get("mode"));
        assertEquals(0L, inPlace.get("staged_bytes"), "a bound of 0: written straight from the files");
        assertEquals((long) StepCheckpoints.changed(3).size(), object(inPlace, "read").get("tensors"));
        Map<String, Object> staged = reloaded("{\"source\": " + source(root.resolve("step-2"))
                + ", \"mode\": \"in_place\"}");
        assertTrue((Long) staged.get("staged_bytes") > 0, staged.toString());

        Map<String, Object> health = JsonReplies.parse(get("/health").body());
        assertEquals(4L, health.get("version"));
        assertEquals(root.resolve("step-2").toRealPath().toString(), object(health, "source").get("name"));
        assertTrue(!health.containsKey("failed"));
    }

    @Test
    void optionsChangePerReload() throws Exception {
        serve(null, null, null);
        Map<String, Object> all = reloaded("{\"source\": " + source(root.resolve("step-1"))
                + ", \"load_strategy\": \"direct\", \"threads\": 2, \"carry_over\": false}");
        assertEquals(Map.of("carry_over_off", (long) N), object(all, "reasons"));
        assertEquals(LoadOptions.DEFAULTS.withStrategy(io.stload.plan.LoadStrategy.DIRECT).withThreads(2),
                store.options(), "the next reloads keep them");
        // Two ranks hold half of each split tensor: another table than the one served, refused before reading.
        HttpResponse<String> ranks = post("/reload", "{\"source\": " + source(root.resolve("step-2"))
                + ", \"world_size\": 2, \"rank\": 1}", TOKEN);
        WeightServerTest.assertError(400, "layout_changed", ranks);
        WeightServerTest.assertError(400, "bad_request", post("/reload", "{\"source\": " + source(root.resolve("step-2"))
                + ", \"world_size\": 2, \"rank\": 2}", TOKEN));
        // A staging bound beside would not act: the new version is read whole.
        WeightServerTest.assertError(400, "bad_request", post("/reload", "{\"source\": "
                + source(root.resolve("step-2")) + ", \"staging_bytes\": 1048576}", TOKEN));
    }

    @Test
    void theTokenTheRootAndTheBodyAreCheckedAsForEveryReload() throws Exception {
        serve(null, null, null);
        String body = "{\"source\": " + source(root.resolve("step-2")) + "}";
        WeightServerTest.assertError(401, "unauthorized", post("/reload", body, null));
        WeightServerTest.assertError(401, "unauthorized", post("/reload", body, "wrong-token-of-enough-length"));
        Path outside = tmp.resolve("outside");
        StepCheckpoints.write(outside, 2);
        for (String s : List.of(outside.toString(), root.resolve("missing").toString(), "acme/policy@step-2",
                "s3://models/policy/step-2/")) {
            HttpResponse<String> r = post("/reload", "{\"source\": " + source(s) + "}", TOKEN);
            WeightServerTest.assertError(403, "forbidden", r);
            assertEquals("not a checkpoint under the reload root " + root.toRealPath(),
                    JsonReplies.parse(r.body()).get("message"), s);
        }
        for (String bad : List.of("{}", "{\"source\": 3}", "{\"source\": \"x\", \"mode\": \"sideways\"}",
                "{\"source\": \"x\", \"world_size\": 0}", "{\"source\": \"x\", \"partition\": \"/etc/rules.json\"}",
                "{\"source\": \"x\", \"staging_bytes\": -1}", "[]",
                "{\"source\": " + source(root.resolve("step-2")) + ", \"source\": \"/etc\"}")) {
            WeightServerTest.assertError(400, "bad_request", post("/reload", bad, TOKEN));
        }
        WeightServerTest.assertError(400, "bad_request", post("/reload",
                "{\"source\": \"" + "x".repeat(20_000) + "\"}", TOKEN));
        // A misspelt field would leave its setting at the default: refused, naming it and what /reload takes.
        HttpResponse<String> misspelt = post("/reload", "{\"source\": " + source(root.resolve("step-2"))
                + ", \"quiesced\": true}", TOKEN);
        WeightServerTest.assertError(400, "bad_request", misspelt);
        assertEquals("unknown field `quiesced`; /reload takes " + ReloadRequest.FIELDS,
                JsonReplies.parse(misspelt.body()).get("message"));
        // Another engine's fields pass on /update_weights_from_disk; /reload's would not do there what they say.
        HttpResponse<String> misdirected = post("/update_weights_from_disk", "{\"path\": "
                + source(root.resolve("step-2")) + ", \"mode\": \"in_place\"}", TOKEN);
        WeightServerTest.assertError(400, "bad_request", misdirected);
        assertEquals("`mode` is a field of /reload; /update_weights_from_disk takes path and quiesce",
                JsonReplies.parse(misdirected.body()).get("message"));
        assertEquals(1L, JsonReplies.parse(get("/health").body()).get("version"), "nothing was reloaded");
        HttpResponse<String> foreign = post("/update_weights_from_disk", "{\"path\": " + source(root.resolve("step-2"))
                + ", \"load_format\": \"auto\"}", TOKEN);
        assertEquals(200, foreign.statusCode(), foreign.body());
    }

    /** A body whose chunk framing is broken, past the token: answered 400, not a connection closed without a word. */
    @Test
    void aBodyThatCannotBeReadIsABadRequest() throws Exception {
        serve(null, null, null);
        try (Socket s = new Socket(InetAddress.getLoopbackAddress(), server.address().getPort())) {
            s.setSoTimeout(30_000);
            s.getOutputStream().write(("POST /reload HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + TOKEN
                    + "\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n")
                    .getBytes(StandardCharsets.US_ASCII));
            String reply = new String(s.getInputStream().readAllBytes(), StandardCharsets.US_ASCII);
            assertTrue(reply.startsWith("HTTP/1.1 400"), reply);
            assertTrue(reply.contains("the request body cannot be read"), reply);
        }
        assertEquals(200, get("/health").statusCode(), "the server goes on serving");
    }

    @Test
    void aLayoutChangeAndAMissingPathAreToldApartByKind() throws Exception {
        serve(null, null, null);
        Path wide = root.resolve("wide");
        Files.createDirectories(wide);
        WeightServerTest.write(wide, "model.safetensors", WeightServerTest.A);
        HttpResponse<String> r = post("/reload", "{\"source\": " + source(wide) + "}", TOKEN);
        WeightServerTest.assertError(400, "layout_changed", r);
        assertEquals("Unsupported", JsonReplies.parse(r.body()).get("kind"));
        Files.writeString(root.resolve("broken.safetensors"), "not a checkpoint");
        HttpResponse<String> broken = post("/reload", "{\"source\": " + source(root.resolve("broken.safetensors"))
                + "}", TOKEN);
        WeightServerTest.assertError(400, "load_failed", broken);
    }

    @Test
    void aReloadInPlaceThatFailsPartWayRefusesReadsUntilAReloadSucceeds() throws Exception {
        // The store is real; only its memory fails, part way through the copy, once.
        serve(null, null, new FailingOnce(StoreMemory.host(), new AtomicBoolean(true)));
        HttpResponse<String> r = post("/reload", "{\"source\": " + source(root.resolve("step-2"))
                + ", \"mode\": \"in_place\"}", TOKEN);
        WeightServerTest.assertError(500, "store_failed", r);
        assertEquals("Io", JsonReplies.parse(r.body()).get("kind"));
        HttpResponse<String> read = get(WeightServerTest.tensorPath("model.norm.weight"));
        WeightServerTest.assertError(503, "store_failed", read);
        assertTrue(JsonReplies.parse(get("/health").body()).get("failed").toString().contains("neither version"));
        Map<String, Object> again = reloaded("{\"source\": " + source(root.resolve("step-2"))
                + ", \"mode\": \"in_place\"}");
        assertEquals(Map.of("store_failed", (long) N), object(again, "reasons"));
        assertEquals(200, get(WeightServerTest.tensorPath("model.norm.weight")).statusCode());
    }

    /** Host memory whose first staged write copies one tensor, then fails. */
    private static final class FailingOnce implements StoreMemory<Tensor> {
        private final StoreMemory<Tensor> real;
        private final AtomicBoolean fail;

        FailingOnce(StoreMemory<Tensor> real, AtomicBoolean fail) {
            this.real = real;
            this.fail = fail;
        }

        @Override
        public String describe() {
            return real.describe();
        }

        @Override
        public io.stload.plan.DestinationProfile profile() {
            return real.profile();
        }

        @Override
        public long bytesFor(io.stload.plan.LoadPlan plan) {
            return real.bytesFor(plan);
        }

        @Override
        public Buffers<Tensor> load(io.stload.plan.LoadPlan plan) {
            return real.load(plan);
        }

        @Override
        public io.stload.report.LoadReport overwrite(io.stload.plan.LoadPlan plan, Map<String, Tensor> live,
                                                     Runnable overwriting) {
            return real.overwrite(plan, live, overwriting);
        }

        @Override
        public void write(List<Write<Tensor>> writes, Runnable overwriting) {
            if (fail.getAndSet(false)) {
                real.write(writes.subList(0, 1), overwriting);
                throw new io.stload.StloadException(io.stload.ErrorKind.Io, null, "injected copy failure");
            }
            real.write(writes, overwriting);
        }
    }

    @Test
    void aHubRevisionIsReloadedFromTheServersCacheWaitingForItsDownload() throws Exception {
        Path cache = tmp.resolve("hub");
        ReloadMatrix.HubRepo hub = new ReloadMatrix.HubRepo(cache);
        hub.publish(1);
        WeightSource step2 = hub.publish(2); // still downloading: its wait policy completes it
        serve(named -> named.equals("acme/policy@step-2") ? step2
                : WeightSource.resolve(named, cache, WaitPolicy.of(Duration.ofSeconds(5))), null, null);
        Map<String, Object> r = reloaded("{\"source\": \"acme/policy@step-2\", \"mode\": \"in_place\"}");
        assertEquals(2L, r.get("version"));
        assertEquals("acme/policy@step-2", object(r, "source").get("name"));
        assertEquals(40, object(r, "source").get("commit").toString().length());
        assertEquals(1, hub.waited.get(), "the reload waited for the download in progress");
        WeightServerTest.assertError(400, "load_failed", post("/reload", "{\"source\": \"acme/policy@step-9\"}", TOKEN));
    }

    @Test
    void anS3PrefixIsReloadedOnlyUnderTheServersPrefix() throws Exception {
        s3Server = new S3ProxyServer(tmp.resolve("s3"));
        s3 = S3Storage.connect(S3Settings.DEFAULTS.withParts(64 << 10, 4).withEndpoint(s3Server.endpoint()));
        Path written = tmp.resolve("s3-step-2");
        StepCheckpoints.write(written, 2);
        try (var files = Files.list(written)) {
            for (Path f : files.toList()) {
                s3Server.put("models", "policy/step-2/" + f.getFileName(), f);
                s3Server.put("models", "other/step-2/" + f.getFileName(), f);
            }
        }
        serve(url -> WeightSource.of(url, () -> s3.open(S3Location.parse(url))), "s3://models/policy/", null);
        Map<String, Object> r = reloaded("{\"source\": \"s3://models/policy/step-2/\"}");
        assertEquals(2L, r.get("version"));
        assertEquals((long) StepCheckpoints.changed(2).size(), object(r, "read").get("tensors"));
        assertEquals(3, object(object(r, "source"), "files").size(), "each shard's ETag: " + r);
        HttpResponse<String> outside = post("/reload", "{\"source\": \"s3://models/other/step-2/\"}", TOKEN);
        WeightServerTest.assertError(403, "forbidden", outside);
        assertTrue(JsonReplies.parse(outside.body()).get("message").toString().endsWith(" or the S3 prefix "
                + "s3://models/policy/"), outside.body());
    }
}
