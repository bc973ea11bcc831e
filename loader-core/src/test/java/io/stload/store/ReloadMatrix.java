package io.stload.store;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.stload.checkpoint.WaitPolicy;
import io.stload.format.Tensor;
import io.stload.nativeio.HeldLock;
import io.stload.nativeio.NativeAccess;
import io.stload.plan.LoadOptions;
import io.stload.store.ReloadDelta.Reason;
import io.stload.store.ReloadOptions.Mode;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.LongAdder;

/**
 * One cell of the reload matrix, mode x memory x source: a store opened on step 1 of {@link StepCheckpoints} is
 * reloaded to steps 2, 3 and 4 while readers check every tensor of every lease they take, on every read, against the
 * step the lease's version is (a read of freed memory, of the other version, or of a mix shows). Every reload must
 * succeed, read exactly the tensors the step changed (their digests differ) and carry the others over; in place, one
 * reload is staged, one written straight from the files (a staging bound of 0), one staged again. At the end, closing
 * the store lets every allocation go. Modules that add a memory or a source run the same cells with theirs.
 */
public final class ReloadMatrix {
    private static final Duration LONG = Duration.ofSeconds(30);
    private static final int READERS = 3;
    private static final int LAST_STEP = 4;

    private ReloadMatrix() {
    }

    /**
     * A memory under test, and a way to read a tensor's bytes back from it.
     *
     * @param <T> what a reader gets for a tensor
     */
    public interface MemoryUnderTest<T> {
        /** {@return a new store memory} */
        StoreMemory<T> memory();

        /** {@return the bytes of a tensor in this memory, copied out} */
        byte[] bytes(T tensor);

        /** {@return allocations not yet freed; 0 once every version let go} */
        long liveAllocations();
    }

    /** A source of the steps: it publishes step {@code k} and names it. */
    public interface SourceUnderTest {
        /** Publishes step {@code k} where this source reads (a folder, a hub revision, an S3 prefix); names it. */
        WeightSource publish(int k) throws IOException;
    }

    /** Host memory the loader owns. */
    public static MemoryUnderTest<Tensor> host() {
        return new MemoryUnderTest<>() {
            private StoreMemory<Tensor> memory;

            @Override
            public StoreMemory<Tensor> memory() {
                memory = StoreMemory.host();
                return memory;
            }

            @Override
            public byte[] bytes(Tensor t) {
                return t.data().toArray(java.lang.foreign.ValueLayout.JAVA_BYTE);
            }

            @Override
            public long liveAllocations() {
                return 0; // the loader's arenas: their freeing is checked through memoryBytes()
            }

            @Override
            public String toString() {
                return "host";
            }
        };
    }

    /** The caller's segments, from an arena per segment, each release counted. */
    public static MemoryUnderTest<Tensor> caller() {
        return new MemoryUnderTest<>() {
            private final AtomicLong live = new AtomicLong();
            private final Map<Long, Arena> arenas = new java.util.concurrent.ConcurrentHashMap<>();

            @Override
            public StoreMemory<Tensor> memory() {
                return StoreMemory.callerBuffers(slice -> {
                    Arena arena = Arena.ofShared();
                    MemorySegment m = arena.allocate(Math.max(1, slice.byteSize()), 64);
                    arenas.put(m.address(), arena);
                    live.incrementAndGet();
                    return m;
                }, m -> {
                    arenas.remove(m.address()).close();
                    live.decrementAndGet();
                });
            }

            @Override
            public byte[] bytes(Tensor t) {
                return t.data().toArray(java.lang.foreign.ValueLayout.JAVA_BYTE);
            }

            @Override
            public long liveAllocations() {
                return live.get();
            }

            @Override
            public String toString() {
                return "caller's buffers";
            }
        };
    }

    /** Step {@code k} in its own folder {@code root/step-k}. */
    public static SourceUnderTest local(Path root) {
        return new SourceUnderTest() {
            @Override
            public WeightSource publish(int k) throws IOException {
                Path dir = root.resolve("step-" + k);
                StepCheckpoints.write(dir, k);
                return WeightSource.path(dir);
            }

            @Override
            public String toString() {
                return "local";
            }
        };
    }

    /** Step {@code k} as revision {@code step-k} of a hub repo, each still downloading when first looked at. */
    public static SourceUnderTest hub(Path cache) {
        return new HubRepo(cache);
    }

    /**
     * Step {@code k} as revision {@code step-k} of {@code acme/policy} in a hub cache laid out as huggingface_hub lays
     * it out: files stored once as blobs named by their sha256 (so a shard no step rewrote is the same blob in every
     * snapshot), snapshots of relative links. Each step (after the first) is published with its last shard not yet
     * linked and a download lock held, as a download in progress leaves it; the reload finds the shard missing, waits
     * (on a test clock, never really sleeping), and the download completes during its first wait.
     */
    public static final class HubRepo implements SourceUnderTest {
        static final String REPO = "acme/policy";
        private final Path cache;
        private final Path repoDir;
        private final Path scratch;
        /** How many reloads found a download in progress and waited for it. */
        public final AtomicInteger waited = new AtomicInteger();
        /** Completes the download of the last step published, if it is still in progress. */
        private Runnable finishing = () -> {
        };

        public HubRepo(Path cache) {
            this.cache = cache;
            this.repoDir = cache.resolve("models--acme--policy");
            this.scratch = cache.resolveSibling(cache.getFileName() + "-scratch");
        }

        @Override
        public WeightSource publish(int k) throws IOException {
            Files.createDirectories(repoDir.resolve("blobs"));
            Files.createDirectories(repoDir.resolve("refs"));
            Path written = scratch.resolve("step-" + k);
            List<Path> files = StepCheckpoints.write(written, k);
            String commit = commitOf(k);
            Path snapshot = Files.createDirectories(repoDir.resolve("snapshots").resolve(commit));
            List<Runnable> pending = new ArrayList<>();
            for (int i = 0; i < files.size(); i++) {
                Path f = files.get(i);
                String blob = sha256(Files.readAllBytes(f));
                Path blobFile = repoDir.resolve("blobs").resolve(blob);
                if (!Files.exists(blobFile)) {
                    Files.copy(f, blobFile);
                }
                Path link = snapshot.resolve(f.getFileName().toString());
                Path target = Path.of("../../blobs").resolve(blob);
                Runnable linking = () -> {
                    try {
                        Files.createSymbolicLink(link, target);
                    } catch (IOException e) {
                        throw new java.io.UncheckedIOException(e);
                    }
                };
                // The last shard (before the index, which is written last) is still downloading.
                if (k > 1 && i == files.size() - 2) {
                    pending.add(linking);
                } else {
                    linking.run();
                }
            }
            Files.writeString(repoDir.resolve("refs").resolve("step-" + k), commit);
            HeldLock download = null;
            if (!pending.isEmpty()) {
                Path lock = Files.createDirectories(cache.resolve(".locks").resolve("models--acme--policy"))
                        .resolve("step-" + k + ".lock");
                Files.deleteIfExists(lock);
                Files.createFile(lock);
                download = NativeAccess.get().tryLock(lock, true);
            }
            HeldLock held = download;
            AtomicLong clock = new AtomicLong();
            AtomicBoolean done = new AtomicBoolean(pending.isEmpty());
            Runnable finish = () -> {
                if (done.compareAndSet(false, true)) {
                    pending.forEach(Runnable::run);
                    try {
                        held.close();
                    } catch (IOException e) {
                        throw new java.io.UncheckedIOException(e);
                    }
                }
            };
            finishing = finish;
            WaitPolicy wait = new WaitPolicy(Duration.ofMinutes(1), clock::get, nanos -> {
                clock.addAndGet(nanos);
                if (!done.get()) {
                    waited.incrementAndGet();
                    finish.run();
                }
            }, line -> {
            });
            return WeightSource.resolve(REPO + "@step-" + k, cache, wait);
        }

        /** Completes the download of the last step published, as if it had finished before anyone looked. */
        public void finishDownloads() {
            finishing.run();
        }

        /** {@return the commit step {@code k} is published as} */
        public static String commitOf(int k) {
            return sha256(("commit of step " + k).getBytes(StandardCharsets.UTF_8)).substring(0, 40);
        }

        @Override
        public String toString() {
            return "hub";
        }
    }

    static String sha256(byte[] bytes) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(bytes));
        } catch (NoSuchAlgorithmException e) {
            throw new AssertionError(e);
        }
    }

    /** The options of the reload to step {@code k} in {@code mode}: in place, step 3 is written straight from the files. */
    static ReloadOptions optionsFor(Mode mode, int k) {
        if (mode == Mode.BESIDE) {
            return k % 2 == 0 ? ReloadOptions.IMMEDIATE : ReloadOptions.quiesced(LONG);
        }
        ReloadOptions inPlace = ReloadOptions.inPlace(LONG);
        return k == 3 ? inPlace.withStagingBytes(0) : inPlace;
    }

    /**
     * Runs one cell: open on step 1, reload to steps 2..4 under readers, check each reload's delta, close.
     *
     * @param memory what the store keeps its versions in
     * @param source where the steps are published
     * @param mode   beside or in place
     * @param <T>    what a reader gets for a tensor
     */
    public static <T> void run(MemoryUnderTest<T> memory, SourceUnderTest source, Mode mode) throws Exception {
        ExecutorService threads = Executors.newCachedThreadPool();
        try {
            WeightSource first = source.publish(1);
            WeightStore<T> store = WeightStore.open(first, memory.memory(), LoadOptions.DEFAULTS, Long.MAX_VALUE);
            try (store) {
                assertEquals(List.of(), read(store, memory), "step 1 as loaded");
                List<String> mixed = new CopyOnWriteArrayList<>();
                AtomicBoolean stop = new AtomicBoolean();
                LongAdder reads = new LongAdder();
                CountDownLatch reading = new CountDownLatch(READERS);
                List<Future<?>> readers = new ArrayList<>();
                for (int r = 0; r < READERS; r++) {
                    readers.add(threads.submit(() -> {
                        reading.countDown();
                        while (!stop.get()) {
                            mixed.addAll(read(store, memory));
                            reads.increment();
                            Thread.yield(); // two cores: the reload, and a server in-process, need them too
                        }
                        return null;
                    }));
                }
                reading.await();
                for (int k = 2; k <= LAST_STEP; k++) {
                    WeightSource next = source.publish(k);
                    ReloadResult r = store.reload(next, optionsFor(mode, k));
                    assertTrue(r.reloaded(), r::toString);
                    assertEquals(k, r.version());
                    assertEquals(mode, r.mode());
                    ReloadDelta d = r.delta();
                    assertEquals(StepCheckpoints.changed(k).size(), d.tensorsRead(), d::toString);
                    assertEquals(StepCheckpoints.changedBytes(k), d.bytesRead(), d::toString);
                    assertEquals(StepCheckpoints.names().size() - d.tensorsRead(), d.tensorsCarried(), d::toString);
                    Map<Reason, Integer> reasons = new LinkedHashMap<>();
                    reasons.put(Reason.DIGEST_CHANGED, d.tensorsRead());
                    reasons.put(Reason.SAME_DIGEST, d.tensorsCarried());
                    assertEquals(reasons, new LinkedHashMap<>(d.tensorsByReason()), d::toString);
                    assertTrue(d.bytesFromStorage() >= d.bytesRead(), d::toString);
                    boolean staged = mode == Mode.IN_PLACE && k != 3;
                    assertEquals(staged, d.stagedBytes() > 0, d::toString);
                    assertEquals(next.name(), r.source().source());
                }
                stop.set(true);
                for (Future<?> f : readers) {
                    f.get();
                }
                assertEquals(List.of(), mixed, "every read was of its lease's version");
                assertTrue(reads.sum() >= READERS, "readers read: " + reads.sum());
                assertEquals(List.of(), read(store, memory), "step " + LAST_STEP + " as served");
                assertEquals(0, store.liveLeases());
            }
            assertEquals(0, store.memoryBytes(), "every allocation freed");
            assertEquals(0, memory.liveAllocations(), "every allocation freed");
        } finally {
            threads.shutdownNow();
        }
    }

    /** Reads every tensor of one lease twice; returns what was not the lease's step. */
    static <T> List<String> read(WeightStore<T> store, MemoryUnderTest<T> memory) {
        try (Lease<T> lease = store.lease()) {
            int step = (int) lease.version();
            Map<String, byte[]> bytes = new LinkedHashMap<>();
            lease.tensors().forEach((name, t) -> bytes.put(name, memory.bytes(t)));
            List<String> wrong = new ArrayList<>(StepCheckpoints.mismatches(bytes, step));
            // A second pass: the version must not change under a live lease.
            Map<String, byte[]> again = new LinkedHashMap<>();
            lease.tensors().forEach((name, t) -> again.put(name, memory.bytes(t)));
            wrong.addAll(StepCheckpoints.mismatches(again, step));
            return wrong.stream().map(w -> "version " + step + ": " + w).toList();
        }
    }
}
