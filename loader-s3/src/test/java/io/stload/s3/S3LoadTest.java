package io.stload.s3;

import static org.junit.jupiter.api.Assertions.assertEquals;
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
import io.stload.load.LoadListener;
import io.stload.load.LoadedWeights;
import io.stload.load.Loader;
import io.stload.io.Engine;
import io.stload.nativeio.NativeAccess;
import io.stload.plan.PartitionSpec;
import io.stload.plan.Partitioning;
import io.stload.report.LoadReport;
import io.stload.sink.CallerBuffers;
import java.lang.foreign.Arena;
import io.stload.plan.LoadOptions;
import io.stload.plan.LoadPlan;
import io.stload.plan.DecisionRule;
import io.stload.plan.ReadStrategy;
import io.stload.plan.Planner;
import io.stload.plan.ReadRanges;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URI;
import java.nio.file.StandardOpenOption;
import java.util.List;
import java.util.Set;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Function;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import software.amazon.awssdk.crt.CrtResource;

/** Whole loads from a real S3 server (S3Proxy on loopback), directly and through a faulty proxy. */
class S3LoadTest {
    private static final String BUCKET = "models";
    /** Small parts so that a small checkpoint takes many GETs. */
    private static final S3Settings SETTINGS = S3Settings.DEFAULTS.withParts(64 << 10, 8)
            .withRetries(4, Duration.ofMillis(5));

    @TempDir
    static Path tmp;
    static Path local;
    static S3ProxyServer server;
    static Map<String, String> expected;
    static long crtBaseline;

    static {
        System.setProperty("aws.crt.debugnative", "true"); // the CRT tracks each native object it allocates
    }

    @BeforeAll
    static void start() throws Exception {
        local = tmp.resolve("ckpt");
        CheckpointGenerator.generate(CheckpointSpec.of(ShapeKind.LLAMA, 3L << 20).withShardBytes(1L << 20), local);
        server = new S3ProxyServer(tmp.resolve("s3"));
        Path folder = Files.createDirectories(server.bucket(BUCKET).resolve("ckpt"));
        try (Stream<Path> files = Files.list(local)) {
            for (Path f : files.toList()) {
                Files.copy(f, folder.resolve(f.getFileName()));
            }
        }
        expected = Digests.ofFiles(Checkpoint.open(local));
        // Process-wide singletons (the CRT's default event loops, the SDK's schedulers) start with the first
        // client; start them here, so that what a test sees left after it is its own.
        assertEquals(expected, load(server.endpoint(), "s3://models/ckpt"));
        crtBaseline = crtResources();
        assertTrue(crtBaseline > 0, "the CRT tracks its native objects");
    }

    @AfterAll
    static void stop() throws Exception {
        server.close();
    }

    private static Map<String, String> load(URI endpoint, String url) {
        try (S3Storage s3 = S3Storage.connect(SETTINGS.withEndpoint(endpoint))) {
            Checkpoint ckpt = s3.open(S3Location.parse(url));
            LoadPlan plan = new Planner().plan(ckpt, LoadOptions.DEFAULTS);
            plan.files().forEach(f -> {
                assertEquals(ReadStrategy.S3, f.strategy());
                assertEquals(DecisionRule.REMOTE, f.decision().rule());
            });
            try (LoadedWeights w = new Loader().execute(plan, LoadListener.NONE)) {
                Map<String, String> digests = new LinkedHashMap<>();
                for (Tensor t : w.tensors().values()) {
                    digests.put(t.name(), Digests.crc32(t.data()));
                }
                return digests;
            }
        }
    }

    /**
     * The first attempts at each part get these faults in turn; the next attempt passes. A part is known by its
     * last byte, which a GET resuming it after a short response asks for too.
     */
    private static Function<FaultProxy.Request, FaultProxy.Fault> perRange(FaultProxy.Fault... faults) {
        Map<String, AtomicInteger> attempts = new ConcurrentHashMap<>();
        return r -> {
            if (r.range() == null) {
                return FaultProxy.Fault.PASS;
            }
            String part = r.target() + " " + r.range().substring(r.range().indexOf('-'));
            int k = attempts.computeIfAbsent(part, x -> new AtomicInteger()).getAndIncrement();
            return k < faults.length ? faults[k] : FaultProxy.Fault.PASS;
        };
    }

    @Test
    void loadsAnIndexedFolderWithTheLocalDigests() {
        assertEquals(expected, load(server.endpoint(), "s3://models/ckpt"));
    }

    @Test
    void streamsEachTensorToAConsumerThroughTheSameEngine() {
        try (S3Storage s3 = S3Storage.connect(SETTINGS.withEndpoint(server.endpoint()))) {
            LoadPlan plan = new Planner().plan(s3.open(S3Location.parse("s3://models/ckpt")), LoadOptions.DEFAULTS);
            Map<String, String> digests = new ConcurrentHashMap<>();
            // A budget of a few parts: the consumer gets every tensor while the sink holds little at a time.
            LoadReport report = new Loader().stream(plan, (slice, bytes) -> digests.put(slice.name(),
                    Digests.crc32(bytes)), 1L << 20, LoadListener.NONE);
            assertEquals(expected, digests);
            assertEquals(plan.bytes(), report.bytes());
        }
    }

    @Test
    void landsInTheCallersBuffers() {
        try (S3Storage s3 = S3Storage.connect(SETTINGS.withEndpoint(server.endpoint()));
             Arena arena = Arena.ofShared()) {
            LoadPlan plan = new Planner().plan(s3.open(S3Location.parse("s3://models/ckpt")), LoadOptions.DEFAULTS);
            CallerBuffers mine = new CallerBuffers(slice -> arena.allocate(Math.max(1, slice.byteSize()), 64));
            new Engine(NativeAccess.get()).execute(plan, mine, LoadListener.NONE);
            Map<String, String> digests = new LinkedHashMap<>();
            expected.keySet().forEach(n -> digests.put(n, Digests.crc32(mine.segment(n))));
            assertEquals(expected, digests);
        }
    }

    @Test
    void aRankReadsExactlyItsPlannedRanges() {
        try (S3Storage s3 = S3Storage.connect(SETTINGS.withEndpoint(server.endpoint()))) {
            Checkpoint ckpt = s3.open(S3Location.parse("s3://models/ckpt"));
            LoadPlan plan = new Planner().plan(ckpt,
                    LoadOptions.DEFAULTS.withPartitioning(new Partitioning(0, 2, PartitionSpec.defaults())));
            long planned = plan.files().stream().mapToLong(f -> ReadRanges.bytes(f.reads())).sum();
            try (LoadedWeights w = new Loader().execute(plan, LoadListener.NONE)) {
                assertEquals(plan.slices().size(), w.tensors().size());
                assertEquals(planned, w.report().bytesRead(), "no byte beyond the rank's ranges");
                assertTrue(planned < ckpt.totalBytes(), planned + " of " + ckpt.totalBytes());
            }
        }
    }

    @Test
    void lazyAccessFetchesOneTensorOrASliceOfIt() {
        try (S3Storage s3 = S3Storage.connect(SETTINGS.withEndpoint(server.endpoint()));
             Checkpoint remote = s3.open(S3Location.parse("s3://models/ckpt"));
             Checkpoint here = Checkpoint.open(local)) {
            String name = "model.embed_tokens.weight";
            assertEquals(Digests.crc32(here.view(name)), Digests.crc32(remote.view(name)));
            assertEquals(Digests.crc32(here.slice(name, "1:3,:").data()),
                    Digests.crc32(remote.slice(name, "1:3,:").data()));
        }
    }

    @Test
    void opensOneObject() throws Exception {
        String shard;
        try (Stream<Path> files = Files.list(local)) {
            shard = files.map(p -> p.getFileName().toString()).filter(n -> n.endsWith(".safetensors")).sorted()
                    .findFirst().orElseThrow();
        }
        try (S3Storage s3 = S3Storage.connect(SETTINGS.withEndpoint(server.endpoint()))) {
            Checkpoint ckpt = s3.open(S3Location.parse("s3://models/ckpt/" + shard));
            assertEquals(1, ckpt.files().size());
            assertEquals(Checkpoint.open(local.resolve(shard)).tensors().keySet(), ckpt.tensors().keySet());
        }
    }

    @Test
    void throttlingAndServerErrorsAreRetried() throws Exception {
        try (FaultProxy proxy = new FaultProxy(server.endpoint())) {
            proxy.rule(perRange(FaultProxy.Fault.SLOW_DOWN, FaultProxy.Fault.INTERNAL_ERROR));
            assertEquals(expected, load(proxy.endpoint(), "s3://models/ckpt/"));
            assertTrue(proxy.faultsInjected() > 10, "faults injected: " + proxy.faultsInjected());
        }
    }

    @Test
    void shortRangesAreCompletedNotAccepted() throws Exception {
        try (FaultProxy proxy = new FaultProxy(server.endpoint())) {
            proxy.rule(perRange(FaultProxy.Fault.SHORT_RANGE));
            assertEquals(expected, load(proxy.endpoint(), "s3://models/ckpt/"));
            assertTrue(proxy.faultsInjected() > 10);
        }
    }

    @Test
    void truncatedBodiesAndResetsAreResumed() throws Exception {
        try (FaultProxy proxy = new FaultProxy(server.endpoint())) {
            proxy.rule(r -> r.n() % 2 == 1 || r.n() == 0 ? FaultProxy.Fault.PASS : r.n() % 4 == 0 ? FaultProxy.Fault.TRUNCATE
                    : FaultProxy.Fault.RESET);
            assertEquals(expected, load(proxy.endpoint(), "s3://models/ckpt/"));
            assertTrue(proxy.faultsInjected() > 10);
        }
    }

    @Test
    void objectsWithAnETagLoadThroughTheCrtClientDespiteFaults() throws Exception {
        try (Stream<Path> files = Files.list(local)) {
            for (Path f : files.toList()) {
                server.put(BUCKET, "etagged/" + f.getFileName(), f);
            }
        }
        try (FaultProxy proxy = new FaultProxy(server.endpoint())) {
            proxy.rule(perRange(FaultProxy.Fault.SLOW_DOWN, FaultProxy.Fault.TRUNCATE, FaultProxy.Fault.SHORT_RANGE));
            assertEquals(expected, load(proxy.endpoint(), "s3://models/etagged/"));
            assertTrue(proxy.faultsInjected() > 10, "faults injected: " + proxy.faultsInjected());
        }
    }

    @Test
    void aServerThatKeepsFailingIsOneClearErrorAndLeavesNoThreadBehind() throws Exception {
        Set<Thread> before = Thread.getAllStackTraces().keySet();
        try (FaultProxy proxy = new FaultProxy(server.endpoint())) {
            proxy.rule(r -> r.n() > 2 ? FaultProxy.Fault.SLOW_DOWN : FaultProxy.Fault.PASS);
            StloadException e = assertThrows(StloadException.class, () -> load(proxy.endpoint(), "s3://models/ckpt/"));
            assertEquals(ErrorKind.Io, e.kind());
            assertTrue(e.getMessage().contains("gave up after 4 attempts"), e.getMessage());
        }
        assertNoThreadLeftBesides(before);
    }

    @Test
    void anObjectReplacedDuringALoadFailsItWithOneClearError() throws Exception {
        Set<Thread> before = Thread.getAllStackTraces().keySet();
        Path shard = firstShard();
        server.put(BUCKET, "tagged/" + shard.getFileName(), shard);
        Path other = tmp.resolve("other.safetensors");
        CheckpointGenerator.generate(CheckpointSpec.of(ShapeKind.LLAMA, 1L << 20).withSeed(7), tmp.resolve("other"));
        try (Stream<Path> files = Files.list(tmp.resolve("other"))) {
            Files.copy(files.filter(p -> p.toString().endsWith(".safetensors")).findFirst().orElseThrow(), other);
        }
        try (FaultProxy proxy = new FaultProxy(server.endpoint())) {
            proxy.rule(r -> {
                if (r.n() == 3) { // the third ranged GET: header prefix, header, then the first tensor part
                    try {
                        server.put(BUCKET, "tagged/" + shard.getFileName(), other);
                    } catch (IOException e) {
                        throw new UncheckedIOException(e);
                    }
                }
                return FaultProxy.Fault.PASS;
            });
            StloadException e = assertThrows(StloadException.class,
                    () -> load(proxy.endpoint(), "s3://models/tagged/" + shard.getFileName()));
            assertEquals(ErrorKind.Io, e.kind());
            assertTrue(e.getMessage().startsWith("Io: s3://models/tagged/" + shard.getFileName()
                    + ": object replaced during the load"), e.getMessage());
        }
        assertNoThreadLeftBesides(before);
    }

    @Test
    void withoutAnETagAReplacedObjectIsCaughtByItsSize() throws Exception {
        Path shard = firstShard();
        Path folder = Files.createDirectories(server.bucket(BUCKET).resolve("untagged"));
        Path served = Files.copy(shard, folder.resolve(shard.getFileName()));
        try (FaultProxy proxy = new FaultProxy(server.endpoint())) {
            proxy.rule(r -> {
                if (r.n() == 3) {
                    try {
                        Files.write(served, new byte[] {1}, StandardOpenOption.APPEND);
                    } catch (IOException e) {
                        throw new UncheckedIOException(e);
                    }
                }
                return FaultProxy.Fault.PASS;
            });
            StloadException e = assertThrows(StloadException.class,
                    () -> load(proxy.endpoint(), "s3://models/untagged/" + shard.getFileName()));
            assertTrue(e.getMessage().contains("object replaced during the load (its size is now "), e.getMessage());
        }
    }

    /** The CRT's native objects (connections, requests, clients) are back to the process-wide ones. */
    private static void assertNoNativeResourceLeft() throws InterruptedException {
        long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
        while (crtResources() > crtBaseline && System.nanoTime() < deadline) {
            Thread.sleep(50); // released on the CRT's own threads; polled under a deadline
        }
        assertEquals(crtBaseline, crtResources(), "CRT native resources left");
    }

    private static int crtResources() {
        AtomicInteger n = new AtomicInteger();
        CrtResource.collectNativeResource(r -> n.incrementAndGet());
        return n.get();
    }

    private static Path firstShard() throws IOException {
        try (Stream<Path> files = Files.list(local)) {
            return files.filter(p -> p.toString().endsWith(".safetensors")).sorted().findFirst().orElseThrow();
        }
    }

    /**
     * Every thread started since {@code before} ends (the clients' event loops take a moment after close),
     * except the JDK's shared schedulers that back retry delays.
     */
    private static void assertNoThreadLeftBesides(Set<Thread> before) throws InterruptedException {
        assertNoNativeResourceLeft();
        long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
        List<String> left;
        do {
            left = Thread.getAllStackTraces().keySet().stream().filter(t -> !before.contains(t) && t.isAlive())
                    .map(Thread::getName)
                    .filter(n -> !n.startsWith("CompletableFutureDelayScheduler") && !n.startsWith("ForkJoinPool")
                            && !n.startsWith("S3Proxy-Jetty"))
                    .toList();
            if (left.isEmpty()) {
                return;
            }
            Thread.sleep(50); // thread exit has no event to await across libraries; polled under a deadline
        } while (System.nanoTime() < deadline);
        throw new AssertionError("threads left behind: " + left);
    }

    @Test
    void forbiddenIsOneLineNamingBucketAndKey() throws Exception {
        try (FaultProxy proxy = new FaultProxy(server.endpoint())) {
            proxy.rule(r -> r.method().equals("HEAD") ? FaultProxy.Fault.FORBIDDEN : FaultProxy.Fault.PASS);
            StloadException e = assertThrows(StloadException.class, () -> load(proxy.endpoint(), "s3://models/ckpt/"));
            assertEquals(ErrorKind.Io, e.kind());
            assertTrue(e.getMessage().startsWith("Io: s3://models/ckpt/") && e.getMessage().contains("access denied (403)"),
                    e.getMessage());
        }
    }

    @Test
    void aMissingObjectIsOneLineNamingBucketAndKey() {
        StloadException e = assertThrows(StloadException.class,
                () -> load(server.endpoint(), "s3://models/ckpt/nothing-here.safetensors"));
        assertEquals(ErrorKind.Io, e.kind());
        assertEquals("Io: s3://models/ckpt/nothing-here.safetensors: no such object (404)", e.getMessage());
    }

    @Test
    void noCredentialsIsOneLineWithoutRetries() {
        Assumptions.assumeTrue(System.getenv("AWS_ACCESS_KEY_ID") == null && System.getenv("AWS_PROFILE") == null
                && !Files.exists(Path.of(System.getProperty("user.home"), ".aws")), "credentials configured here");
        String key = System.clearProperty("aws.accessKeyId");
        String disabled = System.setProperty("aws.disableEc2Metadata", "true");
        try {
            StloadException e = assertThrows(StloadException.class, () -> load(server.endpoint(), "s3://models/ckpt/"));
            assertEquals("Io: s3://models/ckpt/: no AWS credentials found (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY,"
                    + " a profile, or an instance role)", e.getMessage());
        } finally {
            System.setProperty("aws.accessKeyId", key);
            if (disabled == null) {
                System.clearProperty("aws.disableEc2Metadata");
            } else {
                System.setProperty("aws.disableEc2Metadata", disabled);
            }
        }
    }

    @Test
    void aShardNamedByTheIndexButMissingIsMissingShardBeforeAnyTensorIsRead() throws Exception {
        Path folder = Files.createDirectories(server.bucket(BUCKET).resolve("partial"));
        String missing = null;
        try (Stream<Path> files = Files.list(local)) {
            for (Path f : files.sorted().toList()) {
                if (missing == null && f.getFileName().toString().endsWith(".safetensors")) {
                    missing = f.getFileName().toString();
                    continue;
                }
                Files.copy(f, folder.resolve(f.getFileName()));
            }
        }
        try (FaultProxy proxy = new FaultProxy(server.endpoint())) {
            StloadException e = assertThrows(StloadException.class, () -> load(proxy.endpoint(), "s3://models/partial/"));
            assertEquals(ErrorKind.MissingShard, e.kind());
            assertTrue(e.getMessage().contains("s3://models/partial/" + missing), e.getMessage());
            assertEquals(1, proxy.rangedGets(), "only the index was read");
        }
    }
}
