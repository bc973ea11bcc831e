package io.stload.s3;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.stload.ErrorKind;
import io.stload.StloadException;
import io.stload.benchdata.CheckpointGenerator;
import io.stload.benchdata.CheckpointSpec;
import io.stload.benchdata.HubCheckpointGenerator;
import io.stload.benchdata.HubFamily;
import io.stload.benchdata.HubModel;
import io.stload.benchdata.ShapeKind;
import io.stload.checkpoint.Checkpoint;
import io.stload.format.DType;
import io.stload.format.SafetensorsWriter;
import io.stload.format.Tensor;
import io.stload.io.Engine;
import io.stload.load.Digests;
import io.stload.load.LoadedWeights;
import io.stload.load.Loader;
import io.stload.nativeio.NativeAccess;
import io.stload.plan.DecisionRule;
import io.stload.plan.FilePlan;
import io.stload.plan.LoadOptions;
import io.stload.plan.LoadPlan;
import io.stload.plan.LoadStrategy;
import io.stload.plan.PartitionRule;
import io.stload.plan.PartitionSpec;
import io.stload.plan.Partitioning;
import io.stload.plan.Planner;
import io.stload.plan.ReadRanges;
import io.stload.plan.TensorSlice;
import io.stload.report.LoadListener;
import io.stload.report.LoadReport;
import io.stload.sink.CallerBuffers;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.foreign.Arena;
import java.net.URI;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Function;
import java.util.regex.Pattern;
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
            .withRetries(4, Duration.ofMillis(5)).withProgress(Duration.ofSeconds(10), 64 << 10);

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
        crtBaseline = processWideCrtResources();
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
                assertEquals(LoadStrategy.S3, f.strategy());
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

    /** Executes the plan and digests each tensor the rank holds. */
    private static Map<String, String> digests(LoadPlan plan) {
        try (LoadedWeights w = new Loader().execute(plan, LoadListener.NONE)) {
            Map<String, String> digests = new LinkedHashMap<>();
            for (Tensor t : w.tensors().values()) {
                digests.put(t.name(), Digests.crc32(t.data()));
            }
            return digests;
        }
    }

    /** Copies a local checkpoint's files into the bucket's folder, where they are served without an ETag. */
    private static void serve(Path dir, String folder) throws IOException {
        Path into = Files.createDirectories(server.bucket(BUCKET).resolve(folder));
        try (Stream<Path> files = Files.list(dir)) {
            for (Path f : files.toList()) {
                Files.copy(f, into.resolve(f.getFileName()));
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

    /** Bodies in the Java arrays the CRT's binding makes, as where the JVM would warn about its lent buffers. */
    @Test
    void loadsWithBodiesInJavaArraysToo() throws Exception {
        Set<Thread> before = Thread.getAllStackTraces().keySet();
        try (S3Storage s3 = S3Storage.connect(SETTINGS.withEndpoint(server.endpoint()), false);
             Checkpoint ckpt = s3.open(S3Location.parse("s3://models/ckpt/"))) {
            assertEquals(expected, digests(new Planner().plan(ckpt, LoadOptions.DEFAULTS)));
        }
        assertNoThreadLeftBesides(before);
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

    /**
     * The target, counted at the server: with every matrix split on dim 0, the tensor bytes a rank of W
     * fetches (every response body byte the proxy sends during the load; the open's listing, index and headers
     * are counted apart and not in the bound) are at most 1.05/W of the checkpoint's tensor bytes, and its
     * digests are the local load's. W=1 fetches each byte once, in whole parts.
     */
    @Test
    void aRankOfWFetchesItsShareOfTheBytesCountedAtTheServer() throws Exception {
        // Four Llama layers in three shards: the other ranks' rows between two of a rank's matrix ranges (16 KiB or
        // more) are wider than the gap a remote read spans (4 KiB), as in a full-size model; the bounds hold per
        // tensor, and more layers would add only requests.
        Path rows = tmp.resolve("rows");
        HubCheckpointGenerator.generate(HubModel.of(HubFamily.LLAMA).withLayers(4).withAttention(256, 8, 2, 0)
                .withSizes(1024, 1000, 0, 0).withShardBytes(4L << 20), rows);
        serve(rows, "rows");
        PartitionSpec byRows = new PartitionSpec("rows", List.of(PartitionRule.regex(".*\\.weight", 0, false)));
        long part = 256L << 10;
        try (FaultProxy counting = new FaultProxy(server.endpoint()); Checkpoint here = Checkpoint.open(rows)) {
            long tensorBytes = here.totalBytes();
            for (int w : new int[] {1, 2, 4}) {
                for (int r = 0; r < w; r++) {
                    LoadOptions options = LoadOptions.DEFAULTS.withPartitioning(new Partitioning(r, w, byRows));
                    Map<String, String> local = digests(new Planner().plan(here, options));
                    try (S3Storage s3 = S3Storage.connect(SETTINGS.withParts(part, 8).withEndpoint(counting.endpoint()));
                         Checkpoint remote = s3.open(S3Location.parse("s3://models/rows/"))) {
                        long opening = counting.takeBodyBytes();
                        int getsBefore = counting.rangedGets();
                        LoadPlan plan = new Planner().plan(remote, options);
                        assertEquals(local, digests(plan), "W=" + w + " rank " + r);
                        long fetched = counting.takeBodyBytes();
                        String what = "W=" + w + " rank " + r + ": " + fetched + " bytes of " + tensorBytes
                                + " (open: " + opening + ")";
                        assertTrue(fetched <= 1.05 * tensorBytes / w, what);
                        assertTrue(fetched >= tensorBytes / w - 64L * here.tensors().size(), what);
                        if (w == 1) {
                            assertEquals(tensorBytes, fetched, what);
                            long parts = 0;
                            for (FilePlan f : plan.files()) {
                                assertEquals(1, f.reads().size(), "one range per file: " + f.reads());
                                parts += (ReadRanges.bytes(f.reads()) + part - 1) / part;
                            }
                            assertEquals(parts, counting.rangedGets() - getsBefore, "whole parts");
                        }
                    }
                }
            }
        }
    }

    /**
     * {@code auto} from a folder in object storage: the rules come from its config.json, and each rank (replicated KV
     * heads, fused qkv and gate_up parts, a padded vocabulary) lands the local load's bytes, in owned memory and in the
     * caller's (which held other bytes: pad rows are written), fetching at the server only its planned ranges, at most
     * 1.05 times its file bytes.
     */
    @Test
    void autoPartitionsFromTheFoldersConfigAndFetchesOnlyTheRanksBytes() throws Exception {
        for (HubFamily family : List.of(HubFamily.LLAMA, HubFamily.PHI3)) {
            Path dir = tmp.resolve("hub-" + family.label());
            // A KV head (32 rows of 512 bytes) is wider than the gap a remote read spans (4 KiB): a rank reads
            // through no other head's rows, as in a full-size model.
            HubCheckpointGenerator.generate(HubModel.of(family).withAttention(256, 8, 2, 0).withSizes(512, 1000, 0, 0)
                    .withShardBytes(1L << 20), dir);
            serve(dir, "hub-" + family.label());
            try (FaultProxy counting = new FaultProxy(server.endpoint()); Checkpoint here = Checkpoint.open(dir);
                 S3Storage s3 = S3Storage.connect(SETTINGS.withEndpoint(counting.endpoint()));
                 Checkpoint remote = s3.open(S3Location.parse("s3://models/hub-" + family.label() + "/"))) {
                PartitionSpec fromS3 = PartitionSpec.fromConfig(remote, false);
                assertEquals(PartitionSpec.fromConfig(here, false).toJson(), fromS3.toJson());
                // The first rank, one holding a replicated KV head, and the last, with the vocabulary's pad rows.
                for (int r : new int[] {0, 5, 7}) {
                    Partitioning p = new Partitioning(r, 8, fromS3);
                    Map<String, String> local = digests(new Planner().plan(here, LoadOptions.DEFAULTS.withPartitioning(p)));
                    counting.takeBodyBytes();
                    LoadPlan plan = new Planner().plan(remote, LoadOptions.DEFAULTS.withPartitioning(p));
                    assertEquals(local, digests(plan), family + " rank " + r);
                    assertEquals(plan.readBytes(), counting.takeBodyBytes(), family + " rank " + r + ": only its ranges");
                    // Replicated KV heads, fused parts and the padded vocabulary (row-parallel o/down, whose rows
                    // interleave every rank's columns, have a floor of their own): at most 1.05 x the rank's bytes.
                    LoadPlan rows = new Planner().plan(remote, LoadOptions.DEFAULTS.withPartitioning(p).withTensors(
                            "re:.*\\.(q|k|v|qkv|gate_up|gate|up)_proj\\.weight|.*embed_tokens\\.weight|lm_head\\.weight"));
                    digests(rows);
                    long fetched = counting.takeBodyBytes();
                    long fileBytes = rows.slices().values().stream().mapToLong(TensorSlice::fileBytes).sum();
                    assertTrue(fetched <= 1.05 * fileBytes, family + " rank " + r + ": " + fetched + " for " + fileBytes);
                    try (Arena arena = Arena.ofShared()) {
                        CallerBuffers mine = new CallerBuffers(s -> arena.allocate(Math.max(1, s.byteSize()), 64)
                                .fill((byte) 0x3C));
                        new Loader().execute(plan, mine, LoadListener.NONE);
                        Map<String, String> theirs = new LinkedHashMap<>();
                        plan.slices().keySet().forEach(n -> theirs.put(n, Digests.crc32(mine.segment(n))));
                        assertEquals(local, theirs, family + " rank " + r + " into the caller's buffers");
                    }
                }
            }
        }
    }

    @Test
    void aLazySliceFromS3FetchesOnlyItsRuns() throws Exception {
        // 8 rows of 16 KiB: a slice of columns is 8 runs, a row's gap to the next wider than the remote bound.
        byte[] data = new byte[8 * 4096 * 4];
        new Random(3).nextBytes(data);
        Path dir = Files.createDirectories(tmp.resolve("wide"));
        SafetensorsWriter.write(dir.resolve("wide.safetensors"), Map.of(),
                List.of(new SafetensorsWriter.TensorData("wide", DType.F32, new long[] {8, 4096}, data)));
        serve(dir, "wide");
        String[] slices = {"2:5,:", ":,0:4", "1:7,100:2148", ":,0:3500", "3,:", ""};
        long[] fetchedBytes = {3 * 16384, 8 * 16, 6 * 8192, 7 * 16384 + 3500 * 4, 16384, 8 * 16384};
        try (FaultProxy counting = new FaultProxy(server.endpoint());
             Checkpoint here = Checkpoint.open(dir);
             S3Storage s3 = S3Storage.connect(SETTINGS.withEndpoint(counting.endpoint()));
             Checkpoint remote = s3.open(S3Location.parse("s3://models/wide/"))) {
            for (int i = 0; i < slices.length; i++) {
                counting.takeBodyBytes();
                Tensor got = remote.slice("wide", slices[i]);
                assertEquals(fetchedBytes[i], counting.takeBodyBytes(), "slice `" + slices[i] + "`");
                Tensor want = here.slice("wide", slices[i]);
                assertEquals(Digests.crc32(want.data()), Digests.crc32(got.data()), "slice `" + slices[i] + "`");
                assertEquals(want.info().shapeString(), got.info().shapeString());
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
        Set<Thread> before = Thread.getAllStackTraces().keySet();
        try (FaultProxy proxy = new FaultProxy(server.endpoint())) {
            proxy.rule(perRange(FaultProxy.Fault.SLOW_DOWN, FaultProxy.Fault.INTERNAL_ERROR));
            assertEquals(expected, load(proxy.endpoint(), "s3://models/ckpt/"));
            assertTrue(proxy.faultsInjected() > 10, "faults injected: " + proxy.faultsInjected());
            assertEquals(0, proxy.awaitNoOpenConnection(Duration.ofSeconds(30)), "connections left open");
        }
        assertNoThreadLeftBesides(before);
    }

    @Test
    void shortRangesAreCompletedNotAccepted() throws Exception {
        Set<Thread> before = Thread.getAllStackTraces().keySet();
        try (FaultProxy proxy = new FaultProxy(server.endpoint())) {
            proxy.rule(perRange(FaultProxy.Fault.SHORT_RANGE));
            assertEquals(expected, load(proxy.endpoint(), "s3://models/ckpt/"));
            assertTrue(proxy.faultsInjected() > 10);
            assertEquals(0, proxy.awaitNoOpenConnection(Duration.ofSeconds(30)), "connections left open");
        }
        assertNoThreadLeftBesides(before);
    }

    @Test
    void truncatedBodiesAndResetsAreResumed() throws Exception {
        Set<Thread> before = Thread.getAllStackTraces().keySet();
        try (FaultProxy proxy = new FaultProxy(server.endpoint())) {
            // Per part, not by the proxy's request count: with GETs in flight together, a count could hand one part
            // a reset on each of its attempts, which the retry bound rightly turns into a failed load.
            proxy.rule(perRange(FaultProxy.Fault.TRUNCATE, FaultProxy.Fault.RESET));
            assertEquals(expected, load(proxy.endpoint(), "s3://models/ckpt/"));
            assertTrue(proxy.faultsInjected() > 10, "faults injected: " + proxy.faultsInjected());
            assertEquals(0, proxy.awaitNoOpenConnection(Duration.ofSeconds(30)), "connections left open");
        }
        assertNoThreadLeftBesides(before);
    }

    @Test
    void objectsWithAnETagLoadThroughTheCrtClientDespiteFaults() throws Exception {
        Set<Thread> before = Thread.getAllStackTraces().keySet();
        try (Stream<Path> files = Files.list(local)) {
            for (Path f : files.toList()) {
                server.put(BUCKET, "etagged/" + f.getFileName(), f);
            }
        }
        try (FaultProxy proxy = new FaultProxy(server.endpoint())) {
            proxy.rule(perRange(FaultProxy.Fault.SLOW_DOWN, FaultProxy.Fault.TRUNCATE, FaultProxy.Fault.SHORT_RANGE));
            assertEquals(expected, load(proxy.endpoint(), "s3://models/etagged/"));
            assertTrue(proxy.faultsInjected() > 10, "faults injected: " + proxy.faultsInjected());
            assertEquals(0, proxy.awaitNoOpenConnection(Duration.ofSeconds(30)), "connections left open");
        }
        assertNoThreadLeftBesides(before);
    }

    @Test
    void aServerThatKeepsFailingIsOneClearErrorAndLeavesNoThreadBehind() throws Exception {
        Set<Thread> before = Thread.getAllStackTraces().keySet();
        try (FaultProxy proxy = new FaultProxy(server.endpoint())) {
            // The open's 9 GETs pass (the index, each of the 4 shards' length prefix and header); every read after fails.
            proxy.rule(r -> r.n() > 9 ? FaultProxy.Fault.SLOW_DOWN : FaultProxy.Fault.PASS);
            StloadException e = assertThrows(StloadException.class, () -> load(proxy.endpoint(), "s3://models/ckpt/"));
            assertEquals(ErrorKind.Io, e.kind());
            // The SDK's Netty client (these objects have no ETag) closes a connection after a 5xx, and now and then
            // the next attempt meets that connection closing: then the last failure is the closed connection.
            assertTrue(e.getMessage().matches("Io: s3://models/ckpt/[^ :]+: bytes \\d+-\\d+: gave up after 4 attempts"
                    + " without progress; last: (HTTP 503 SlowDown|.*connection was closed during the request.*)"),
                    e.getMessage());
            assertEquals(0, proxy.awaitNoOpenConnection(Duration.ofSeconds(30)), "connections left open");
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
            assertEquals(0, proxy.awaitNoOpenConnection(Duration.ofSeconds(30)), "connections left open");
        }
        assertNoThreadLeftBesides(before);
    }

    @Test
    void withoutAnETagAReplacedObjectIsCaughtByItsSize() throws Exception {
        Set<Thread> before = Thread.getAllStackTraces().keySet();
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
            assertEquals(0, proxy.awaitNoOpenConnection(Duration.ofSeconds(30)), "connections left open");
        }
        assertNoThreadLeftBesides(before);
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

    /**
     * The CRT's process-wide objects, its default event loop group and host resolver, which every client shares and
     * none closes: what is left once every client has finished closing (a client's own objects go some moments after
     * its close returns).
     */
    private static int processWideCrtResources() {
        AtomicInteger n = new AtomicInteger();
        CrtResource.collectNativeResources(d -> {
            if (d.contains(".EventLoopGroup ") || d.contains(".HostResolver ")) {
                n.incrementAndGet();
            }
        });
        return n.get();
    }

    private static Path firstShard() throws IOException {
        try (Stream<Path> files = Files.list(local)) {
            return files.filter(p -> p.toString().endsWith(".safetensors")).sorted().findFirst().orElseThrow();
        }
    }

    /**
     * Every thread started since {@code before} ends (the clients' event loops take a moment after close),
     * except the JDK's shared schedulers, the CRT's process-wide cleaner of lent buffers, and its event loop threads: those are
     * native threads of its process-wide event loop group, seen by Java only from their first callback (which
     * may come in any test), and the CRT native objects they would belong to are counted instead.
     */
    private static void assertNoThreadLeftBesides(Set<Thread> before) throws InterruptedException {
        assertNoNativeResourceLeft();
        long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
        List<String> left;
        do {
            left = Thread.getAllStackTraces().keySet().stream().filter(t -> !before.contains(t) && t.isAlive())
                    .map(Thread::getName)
                    .filter(n -> !n.startsWith("CompletableFutureDelayScheduler") && !n.startsWith("ForkJoinPool")
                            && !n.startsWith("S3Proxy-Jetty") && !n.startsWith("AwsEventLoop")
                            && !n.startsWith("aws-crt-s3-borrowed-buffer-cleaner"))
                    .toList();
            if (left.isEmpty()) {
                return;
            }
            Thread.sleep(50); // thread exit has no event to await across libraries; polled under a deadline
        } while (System.nanoTime() < deadline);
        throw new AssertionError("threads left behind: " + left);
    }

    /** What opening {@code url} through {@code endpoint} fails with: one line naming the object once. */
    private static String openError(URI endpoint, String url) {
        try (S3Storage s3 = S3Storage.connect(SETTINGS.withEndpoint(endpoint))) {
            StloadException e = assertThrows(StloadException.class, () -> s3.open(S3Location.parse(url)));
            assertOneLineNamingOnce(e.getMessage(), url);
            return e.getMessage();
        }
    }

    private static void assertOneLineNamingOnce(String message, String url) {
        assertFalse(message.contains("\n"), message);
        assertEquals(message.indexOf(url), message.lastIndexOf(url), "named once: " + message);
        assertTrue(message.contains(url + ": "), message);
    }

    @Test
    void headerAndTensorReadErrorsAreOneLineNamingTheObjectOnce() throws Exception {
        Path shard = firstShard();
        String url = "s3://models/ckpt/" + shard.getFileName();
        byte[] head = Arrays.copyOf(Files.readAllBytes(shard), 100);
        Files.write(Files.createDirectories(server.bucket(BUCKET).resolve("cut")).resolve("cut.safetensors"), head);
        long headerLength = ByteBuffer.wrap(head, 0, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
        assertEquals("InvalidHeaderLength: s3://models/cut/cut.safetensors: header length " + headerLength
                + " runs past the end of the 100-byte file (truncated download?)",
                openError(server.endpoint(), "s3://models/cut/cut.safetensors"));
        try (FaultProxy proxy = new FaultProxy(server.endpoint())) {
            proxy.rule(r -> r.range() == null ? FaultProxy.Fault.PASS : FaultProxy.Fault.FORBIDDEN);
            assertEquals("Io: " + url + ": cannot read header: access denied (403); check the credentials"
                    + " (environment, profile, instance role) and the bucket's policy", openError(proxy.endpoint(), url));
            proxy.rule(r -> r.range() == null ? FaultProxy.Fault.PASS : FaultProxy.Fault.NOT_FOUND);
            assertEquals("Io: " + url + ": cannot read header: no such object (404): deleted since it was opened",
                    openError(proxy.endpoint(), url));
            // Every response cut short: the header's last byte never comes.
            proxy.rule(r -> r.range() == null ? FaultProxy.Fault.PASS : FaultProxy.Fault.TRUNCATE);
            String cut = openError(proxy.endpoint(), url);
            assertTrue(cut.matches("Io: " + Pattern.quote(url) + ": cannot read header: bytes \\d+-7: gave up after 4"
                    + " attempts without progress; last: [^\n]+"), cut);
            proxy.rule(r -> FaultProxy.Fault.PASS);
            try (S3Storage s3 = S3Storage.connect(SETTINGS.withEndpoint(proxy.endpoint()));
                 Checkpoint ckpt = s3.open(S3Location.parse(url))) {
                String name = ckpt.tensors().keySet().iterator().next();
                proxy.rule(r -> r.range() == null ? FaultProxy.Fault.PASS : FaultProxy.Fault.FORBIDDEN);
                StloadException e = assertThrows(StloadException.class, () -> ckpt.slice(name, ""));
                assertEquals("Io: " + url + ": access denied (403); check the credentials (environment, profile,"
                        + " instance role) and the bucket's policy", e.getMessage());
            }
        }
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
                    + " a profile, a web identity, or an instance role)", e.getMessage());
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

    @Test
    void withoutAnIndexAShardSeriesMissingOneIsMissingShardBeforeAnyTensorIsRead() throws Exception {
        Path folder = Files.createDirectories(server.bucket(BUCKET).resolve("series"));
        List<Path> shards;
        try (Stream<Path> files = Files.list(local)) {
            shards = files.filter(f -> f.getFileName().toString().endsWith(".safetensors")).sorted().toList();
        }
        assertTrue(shards.size() > 1, "a series of shards: " + shards);
        for (Path f : shards.subList(1, shards.size())) { // no index, and not the first shard
            Files.copy(f, folder.resolve(f.getFileName()));
        }
        try (FaultProxy proxy = new FaultProxy(server.endpoint())) {
            StloadException e = assertThrows(StloadException.class, () -> load(proxy.endpoint(), "s3://models/series/"));
            assertEquals(ErrorKind.MissingShard, e.kind());
            assertTrue(e.getMessage().startsWith("MissingShard: s3://models/series/" + shards.getFirst().getFileName()
                    + ": 1 of the " + shards.size() + " shards"), e.getMessage());
            assertEquals(0, proxy.rangedGets(), "no file was read");
        }
    }
}
