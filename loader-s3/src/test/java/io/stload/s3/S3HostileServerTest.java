package io.stload.s3;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.stload.ErrorKind;
import io.stload.StloadException;
import io.stload.benchdata.CheckpointGenerator;
import io.stload.benchdata.CheckpointSpec;
import io.stload.benchdata.ShapeKind;
import io.stload.checkpoint.Checkpoint;
import io.stload.format.Tensor;
import io.stload.load.Digests;
import io.stload.load.LoadedWeights;
import io.stload.load.Loader;
import io.stload.plan.LoadOptions;
import io.stload.plan.Planner;
import io.stload.report.LoadListener;
import io.stload.report.LoadReport;
import io.stload.testing.CapturedLog;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.logging.Level;
import java.util.stream.Stream;
import javax.xml.stream.XMLStreamException;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import software.amazon.awssdk.core.exception.SdkClientException;

/**
 * A server that misbehaves on purpose (S3Proxy behind a {@link FaultProxy}): listings that never end or list keys
 * outside their prefix, a HEAD without a size, bodies that stall or trickle, requests never answered, a condition
 * answered 501. Each ends in the local digests or in one line, within a bound set by the settings (milliseconds
 * here), with no connection left open.
 */
class S3HostileServerTest {
    private static final String BUCKET = "models";
    private static final S3Settings SETTINGS = S3Settings.DEFAULTS.withParts(64 << 10, 8)
            .withRetries(4, Duration.ofMillis(2)).withProgress(Duration.ofSeconds(10), 64 << 10);
    /** Deadlines of half a second: what a stalled server costs, in a test (on a warm JVM, see {@link #start}). */
    private static final S3Settings QUICK = SETTINGS.withRetries(3, Duration.ofMillis(1))
            .withProgress(Duration.ofMillis(500), 1L << 30);

    @TempDir
    static Path tmp;
    static Path local;
    static Path shard;
    static S3ProxyServer server;
    static Map<String, String> expected;
    static Map<String, String> expectedShard;

    @BeforeAll
    static void start() throws Exception {
        local = tmp.resolve("ckpt");
        CheckpointGenerator.generate(CheckpointSpec.of(ShapeKind.LLAMA, 3L << 20).withShardBytes(1L << 20), local);
        server = new S3ProxyServer(tmp.resolve("s3"));
        Path plain = Files.createDirectories(server.bucket(BUCKET).resolve("plain"));
        try (Stream<Path> files = Files.list(local)) {
            for (Path f : files.sorted().toList()) {
                Files.copy(f, plain.resolve(f.getFileName()));
                server.put(BUCKET, "tagged/" + f.getFileName(), f);
                if (shard == null && f.toString().endsWith(".safetensors")) {
                    shard = f;
                }
            }
        }
        Files.copy(shard, Files.createDirectories(server.bucket(BUCKET).resolve("single")).resolve("model.safetensors"));
        try (Checkpoint all = Checkpoint.open(local); Checkpoint one = Checkpoint.open(shard)) {
            expected = Digests.ofFiles(all);
            expectedShard = Digests.ofFiles(one);
        }
        // The clients' first requests load and compile much of the SDK: done here, so that a test's deadlines of half
        // a second time requests, not the JVM warming up.
        try (FaultProxy proxy = new FaultProxy(server.endpoint())) {
            for (int i = 0; i < 3; i++) {
                assertEquals(expectedShard, load(proxy.endpoint(), "s3://models/single/", SETTINGS));
            }
        }
    }

    @AfterAll
    static void stop() throws Exception {
        server.close();
    }

    private static Map<String, String> load(URI endpoint, String url, S3Settings settings) {
        return load(endpoint, url, settings, null);
    }

    /** Loads and digests every tensor; the report's per-file notes go to {@code notes} when given. */
    private static Map<String, String> load(URI endpoint, String url, S3Settings settings, Map<String, String> notes) {
        try (S3Storage s3 = S3Storage.connect(settings.withEndpoint(endpoint));
             Checkpoint ckpt = s3.open(S3Location.parse(url));
             LoadedWeights w = new Loader().execute(new Planner().plan(ckpt, LoadOptions.DEFAULTS), LoadListener.NONE)) {
            Map<String, String> digests = new LinkedHashMap<>();
            for (Tensor t : w.tensors().values()) {
                digests.put(t.name(), Digests.crc32(t.data()));
            }
            if (notes != null) {
                for (LoadReport.FileReport f : w.report().files()) {
                    notes.put(f.location(), f.note());
                }
            }
            return digests;
        }
    }

    private static boolean isList(FaultProxy.Request r) {
        return r.method().equals("GET") && r.target().contains("list-type=2");
    }

    private static StloadException failure(URI endpoint, String url, S3Settings settings) {
        StloadException e = assertThrows(StloadException.class, () -> load(endpoint, url, settings));
        assertFalse(e.getMessage().contains("\n"), e.getMessage());
        return e;
    }

    /**
     * An https endpoint whose TLS handshake never completes (a certificate the client does not trust ends the same way
     * in the Common Runtime): the one line says what else the silence may mean.
     */
    @Test
    void anHttpsEndpointThatNeverAnswersNamesTheCertificateAmongTheCauses() throws Exception {
        try (ServerSocket silent = new ServerSocket(0, 50, InetAddress.getLoopbackAddress())) {
            Thread accepting = Thread.ofVirtual().start(() -> {
                List<Socket> held = new ArrayList<>();
                try {
                    while (true) {
                        held.add(silent.accept()); // holds each connection open, and says nothing
                    }
                } catch (IOException e) {
                    held.forEach(h -> {
                        try {
                            h.close();
                        } catch (IOException ignored) {
                            // closing anyway
                        }
                    });
                }
            });
            StloadException e = failure(URI.create("https://127.0.0.1:" + silent.getLocalPort()),
                    "s3://models/single/model.safetensors", QUICK);
            assertTrue(e.getMessage().endsWith("no answer within 500 ms (--s3-progress-timeout); over https, a "
                    + "certificate this client does not trust ends so too (its CA goes in AWS_CA_BUNDLE)"),
                    e.getMessage());
            silent.close();
            accepting.join(10_000);
        }
    }

    /** A load of {@code s3://models/single/} where every listing gets {@code fault}: its error, and the listings. */
    private record Listed(StloadException error, int lists) {
    }

    private static Listed listingWith(FaultProxy.Fault fault) throws Exception {
        try (FaultProxy proxy = new FaultProxy(server.endpoint())) {
            AtomicInteger lists = new AtomicInteger();
            proxy.rule(r -> isList(r) && lists.incrementAndGet() > 0 ? fault : FaultProxy.Fault.PASS);
            StloadException e = failure(proxy.endpoint(), "s3://models/single/", SETTINGS);
            assertEquals(ErrorKind.Io, e.kind());
            return new Listed(e, lists.get());
        }
    }

    @Test
    void aListingThatRepeatsItsContinuationTokenIsOneLineNotALoop() throws Exception {
        Listed l = listingWith(FaultProxy.Fault.LIST_SAME_TOKEN);
        assertEquals("Io: s3://models/single/: the listing repeats its continuation token (a server that never ends"
                + " the listing)", l.error().getMessage());
        assertEquals(2, l.lists());
    }

    @Test
    void aListingThatNeverEndsIsCutAfterItsBoundOfPages() throws Exception {
        Listed l = listingWith(FaultProxy.Fault.LIST_NEW_TOKEN);
        assertEquals("Io: s3://models/single/: the listing did not end after " + S3Folder.MAX_LIST_PAGES
                + " pages (" + S3Folder.MAX_LIST_PAGES * 1000 + " objects at most are read for one folder)",
                l.error().getMessage());
        assertEquals(S3Folder.MAX_LIST_PAGES, l.lists());
    }

    @Test
    void aListedKeyOutsideThePrefixIsOneLine() throws Exception {
        assertEquals("Io: s3://models/single/: the server listed the key `x`, which is not under the prefix `single/`",
                listingWith(FaultProxy.Fault.LIST_BAD_KEY).error().getMessage());
    }

    @Test
    void aListingThatIsNotXmlIsOneLineAndNotRetried() throws Exception {
        Listed l = listingWith(FaultProxy.Fault.LIST_NOT_XML);
        assertEquals("Io: s3://models/single/: the server's answer is not S3's XML (Unexpected end of input block in"
                + " end tag)", l.error().getMessage());
        // The same answer comes on every try: one request, not the settings' four.
        assertEquals(1, l.lists());
    }

    /** A parse the connection cut part way is the read's failure, retried; XML that came whole and is not S3's is not. */
    @Test
    void aParseCutByAFailedReadIsRetriedAndOnlyThat() {
        assertTrue(S3Failure.retryable(SdkClientException.builder()
                .cause(new XMLStreamException(new IOException("Connection reset"))).build()));
        assertFalse(S3Failure.retryable(SdkClientException.builder()
                .cause(new XMLStreamException("Unexpected end of input block in end tag")).build()));
    }

    @Test
    void aHeadWithoutContentLengthIsOneLine() throws Exception {
        try (FaultProxy proxy = new FaultProxy(server.endpoint())) {
            proxy.rule(r -> r.method().equals("HEAD") ? FaultProxy.Fault.HEAD_NO_LENGTH : FaultProxy.Fault.PASS);
            StloadException e = failure(proxy.endpoint(), "s3://models/single/model.safetensors", SETTINGS);
            assertEquals(ErrorKind.Io, e.kind());
            assertEquals("Io: s3://models/single/model.safetensors: the server's HEAD response gives no size"
                    + " (Content-Length missing)", e.getMessage());
        }
    }

    @Test
    void retriesAreLoggedAtDebugLevelNotPrinted() throws Exception {
        try (FaultProxy proxy = new FaultProxy(server.endpoint()); CapturedLog log = CapturedLog.s3()) {
            // Each range throttled twice: the CRT's own retry (at most one) takes one, ours the other.
            Map<String, AtomicInteger> attempts = new ConcurrentHashMap<>();
            proxy.rule(r -> r.range() != null && attempts.computeIfAbsent(r.target() + r.range(), k -> new AtomicInteger())
                    .getAndIncrement() < 2 ? FaultProxy.Fault.SLOW_DOWN : FaultProxy.Fault.PASS);
            assertEquals(expectedShard, load(proxy.endpoint(), "s3://models/single/", SETTINGS));
            List<String> retries = log.messages().stream().filter(m -> m.contains("retrying")).toList();
            assertTrue(retries.size() >= attempts.size() && retries.size() <= proxy.faultsInjected(),
                    retries.size() + " retries logged for " + proxy.faultsInjected() + " faults on " + attempts.size()
                    + " ranges: " + log);
            assertTrue(retries.stream().allMatch(m -> m.contains("HTTP 503 SlowDown") && !m.contains("\n")), log.toString());
            // Below INFO: java.util.logging's default console handler prints none of them; --verbose shows them.
            assertTrue(log.levels().stream().allMatch(l -> l.intValue() <= Level.FINE.intValue()), log.levels().toString());
        }
    }

    @ParameterizedTest
    @EnumSource(value = FaultProxy.Fault.class, names = {"STALL", "TRICKLE"})
    void aBodyThatStallsOrTricklesIsCutAtItsDeadlineAndTheRetriesAreBounded(FaultProxy.Fault fault) throws Exception {
        try (FaultProxy proxy = new FaultProxy(server.endpoint()); CapturedLog log = CapturedLog.s3()) {
            // The open's two GETs (the header's length, then the header) pass; every tensor read stalls or trickles.
            proxy.rule(r -> r.n() > 2 ? fault : FaultProxy.Fault.PASS);
            long start = System.nanoTime();
            StloadException e = failure(proxy.endpoint(), "s3://models/single/", QUICK);
            double seconds = (System.nanoTime() - start) / 1e9;
            assertTrue(e.getMessage().matches("Io: s3://models/single/model\\.safetensors: bytes \\d+-\\d+: gave up after 3"
                    + " attempts without progress; last: no complete response within 500 ms \\(at least 1073741824"
                    + " bytes/s after a 500 ms progress timeout\\)"), e.getMessage());
            // 3 attempts of 500 ms and 3 ms of backoff; the bound leaves room for a busy machine.
            assertTrue(seconds < 10, seconds + " s");
            assertTrue(log.messages().stream().anyMatch(m -> m.contains("no complete response within 500 ms")
                    && m.contains("retrying")), log.toString());
            assertEquals(0, proxy.awaitNoOpenConnection(Duration.ofSeconds(10)), "connections left open");
        }
    }

    @Test
    void aBodyThatStallsOnceIsCutAndTheRestIsFetchedAgain() throws Exception {
        try (FaultProxy proxy = new FaultProxy(server.endpoint()); CapturedLog log = CapturedLog.s3()) {
            // The first attempts at six of the tensor's parts stall, all in flight at once (fewer than the concurrency
            // of 8): one wait of 700 ms while the other parts come.
            Map<String, AtomicInteger> attempts = new ConcurrentHashMap<>();
            AtomicInteger stalled = new AtomicInteger();
            proxy.rule(r -> r.n() > 2 && attempts.computeIfAbsent(r.range(), k -> new AtomicInteger())
                    .getAndIncrement() == 0 && stalled.incrementAndGet() <= 6
                    ? FaultProxy.Fault.STALL : FaultProxy.Fault.PASS);
            assertEquals(expectedShard, load(proxy.endpoint(), "s3://models/single/",
                    QUICK.withProgress(Duration.ofMillis(700), 1L << 30)));
            assertEquals(6, proxy.faultsInjected(), "stalls");
            assertTrue(log.messages().stream().anyMatch(m -> m.contains("no complete response within 700 ms")), log.toString());
        }
    }

    @Test
    void aHeadNeverAnsweredIsCutAtTheProgressTimeoutAndRetriedABoundedNumberOfTimes() throws Exception {
        try (FaultProxy proxy = new FaultProxy(server.endpoint()); CapturedLog log = CapturedLog.s3()) {
            AtomicInteger heads = new AtomicInteger();
            proxy.rule(r -> r.method().equals("HEAD") && heads.incrementAndGet() > 0 ? FaultProxy.Fault.NO_ANSWER
                    : FaultProxy.Fault.PASS);
            long start = System.nanoTime();
            StloadException e = failure(proxy.endpoint(), "s3://models/single/model.safetensors", QUICK);
            assertEquals("Io: s3://models/single/model.safetensors: gave up after 3 attempts; last: no answer within"
                    + " 500 ms (--s3-progress-timeout)", e.getMessage());
            assertEquals(3, heads.get());
            assertTrue((System.nanoTime() - start) / 1e9 < 10);
            assertEquals(2, log.messages().stream().filter(m -> m.contains(": HEAD: ") && m.contains("retrying"))
                    .count(), log.toString());
        }
    }

    /**
     * A server that does not implement conditional GETs (S3Proxy before it learnt {@code If-Match}, some gateways)
     * answers 501 or 400 NotImplemented: the object is read by plain ranged GETs from then on, its size and
     * Last-Modified checked on each response, with a note; the digests are the local load's.
     */
    @ParameterizedTest
    @EnumSource(value = FaultProxy.Fault.class, names = {"NOT_IMPLEMENTED", "BAD_REQUEST_NOT_IMPLEMENTED"})
    void aConditionTheServerDoesNotImplementFallsBackToPlainGetsWithANote(FaultProxy.Fault fault) throws Exception {
        try (FaultProxy proxy = new FaultProxy(server.endpoint()); CapturedLog log = CapturedLog.s3()) {
            Set<String> plainAfterRefusal = ConcurrentHashMap.newKeySet();
            proxy.rule(r -> {
                if (r.headers().containsKey("if-match")) {
                    return fault;
                }
                if (r.range() != null && r.target().endsWith(".safetensors")) {
                    plainAfterRefusal.add(r.target());
                }
                return FaultProxy.Fault.PASS;
            });
            Map<String, String> notes = new LinkedHashMap<>();
            assertEquals(expected, load(proxy.endpoint(), "s3://models/tagged/", SETTINGS, notes));
            int objects = notes.size();
            assertTrue(objects >= 3, notes.toString());
            // Refused once per object: at most the GETs already in flight carried the condition.
            assertTrue(proxy.faultsInjected() <= objects * SETTINGS.concurrency(), "refusals: " + proxy.faultsInjected());
            assertEquals(objects, plainAfterRefusal.size(), plainAfterRefusal.toString());
            String code = fault == FaultProxy.Fault.NOT_IMPLEMENTED ? "HTTP 501 NotImplemented" : "HTTP 400 NotImplemented";
            notes.forEach((file, note) -> assertEquals("the server refused a conditional GET (" + code + "): plain ranged"
                    + " GETs, Last-Modified and size checked on every response", note, file));
            assertTrue(log.messages().stream().noneMatch(m -> m.contains("retrying")), log.toString());
        }
    }

    @Test
    void a501ForAPlainGetIsFinalNotRetried() throws Exception {
        try (FaultProxy proxy = new FaultProxy(server.endpoint()); CapturedLog log = CapturedLog.s3()) {
            Map<String, AtomicInteger> asked = new ConcurrentHashMap<>();
            proxy.rule(r -> {
                if (r.n() <= 2) {
                    return FaultProxy.Fault.PASS;
                }
                asked.computeIfAbsent(r.range(), k -> new AtomicInteger()).incrementAndGet();
                return FaultProxy.Fault.NOT_IMPLEMENTED;
            });
            StloadException e = failure(proxy.endpoint(), "s3://models/single/", SETTINGS);
            assertTrue(e.getMessage().matches("Io: s3://models/single/model\\.safetensors: bytes \\d+-\\d+: HTTP 501"
                    + " NotImplemented"), e.getMessage());
            asked.forEach((range, n) -> assertEquals(1, n.get(), range + " asked more than once"));
            assertTrue(log.messages().stream().noneMatch(m -> m.contains("retrying")), log.toString());
            assertEquals(0, proxy.awaitNoOpenConnection(Duration.ofSeconds(10)), "connections left open");
        }
    }

    /** A slice into memory only the calling thread may touch: no other thread writes it. */
    @Test
    void aSliceLandsInAConfinedArena() throws Exception {
        try (S3Storage s3 = S3Storage.connect(SETTINGS.withEndpoint(server.endpoint()));
             Checkpoint remote = s3.open(S3Location.parse("s3://models/plain/"));
             Checkpoint here = Checkpoint.open(local)) {
            String name = "model.embed_tokens.weight";
            // One run, then runs far apart (fetched by reads on threads of their own), then a whole tensor.
            for (String slice : new String[] {"0:4", ":,0:4", ""}) {
                try (Arena confined = Arena.ofConfined()) {
                    Tensor got = remote.slice(name, slice, confined);
                    assertEquals(Digests.crc32(here.slice(name, slice).data()), Digests.crc32(got.data()), slice);
                }
            }
        }
    }
}
