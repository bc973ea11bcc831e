package io.stload.store;

import static io.stload.store.FilledCheckpoints.A;
import static io.stload.store.FilledCheckpoints.B;
import static io.stload.store.FilledCheckpoints.assertFilled;
import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.stload.ErrorKind;
import io.stload.StloadException;
import io.stload.format.Tensor;
import io.stload.plan.LoadOptions;
import io.stload.plan.LoadStrategy;
import io.stload.store.ReloadResult.Outcome;
import java.lang.foreign.Arena;
import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** Versions, leases and reload outcomes, one behaviour at a time. */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class WeightStoreTest {
    private static final Duration LONG = Duration.ofSeconds(30);

    private final ExecutorService threads = Executors.newCachedThreadPool();

    @TempDir
    Path dir;
    Path a;
    Path b;

    @BeforeEach
    void writeCheckpoints() throws IOException {
        a = FilledCheckpoints.write(dir, "a.safetensors", A);
        b = FilledCheckpoints.write(dir, "b.safetensors", B);
    }

    @AfterEach
    void stopThreads() {
        threads.shutdownNow();
    }

    private WeightStore<Tensor> open(long budget) {
        return WeightStore.open(a, LoadOptions.DEFAULTS, budget);
    }

    private static void assertAll(Lease<Tensor> lease, byte fill) {
        assertEquals(FilledCheckpoints.NAMES, List.copyOf(lease.tensors().keySet()));
        for (Tensor t : lease.tensors().values()) {
            assertFilled(t, fill);
        }
    }

    /**
     * Spins until the condition holds, for states with no event to await, such as "a reload is quiescing"; fails
     * after 30 s rather than hanging the build.
     */
    static void awaitTrue(BooleanSupplier condition) {
        long deadline = System.nanoTime() + 30_000_000_000L;
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("condition not reached within 30 s");
            }
            Thread.onSpinWait();
        }
    }

    @Test
    void leaseKeepsItsVersionAcrossAReloadAndTheOldMemoryGoesWithTheLastLease() {
        try (WeightStore<Tensor> store = open(Long.MAX_VALUE)) {
            long one = store.memoryBytes();
            assertTrue(one > 0);
            Lease<Tensor> old = store.lease();
            assertEquals(1, old.version());

            ReloadResult r = store.reload(b, ReloadOptions.IMMEDIATE);
            assertEquals(Outcome.RELOADED, r.outcome(), r::toString);
            assertEquals(2, r.version());
            assertEquals(2, store.version());
            assertEquals(2 * one, store.memoryBytes(), "old version still leased");
            assertAll(old, A);
            try (Lease<Tensor> fresh = store.lease()) {
                assertEquals(2, fresh.version());
                assertAll(fresh, B);
            }
            old.close();
            old.close(); // a second close releases nothing more
            // Its version's memory is gone: a look-up through the closed lease is refused, not a read of freed memory.
            for (Runnable lookUp : List.<Runnable>of(old::tensors, () -> old.tensor(FilledCheckpoints.NAMES.getFirst()),
                    () -> old.find(FilledCheckpoints.NAMES.getFirst()))) {
                assertEquals(ErrorKind.Usage, assertThrows(StloadException.class, lookUp::run).kind());
            }
            assertEquals(one, store.memoryBytes());
            assertEquals(0, store.liveLeases());
        }
    }

    @Test
    void quiescedReloadRunsHooksWithNoLeaseLiveAndNoneGranted() {
        try (WeightStore<Tensor> store = open(Long.MAX_VALUE)) {
            List<String> seen = new CopyOnWriteArrayList<>();
            ReloadResult r = store.reload(b, ReloadOptions.quiesced(LONG,
                    (from, to) -> seen.add(from + "->" + to + " live=" + store.liveLeases() + " quiescing=" + store.quiescing())));
            assertTrue(r.reloaded(), r::toString);
            assertEquals(List.of("1->2 live=0 quiescing=true"), seen);
            assertFalse(store.quiescing());
            try (Lease<Tensor> lease = store.lease()) {
                assertAll(lease, B);
            }
        }
    }

    @Test
    void missingOrCorruptCheckpointLeavesTheOldVersionServingAndNothingHeld() throws IOException {
        Path corrupt = FilledCheckpoints.write(dir, "corrupt.safetensors", B);
        try (FileChannel ch = FileChannel.open(corrupt, StandardOpenOption.WRITE)) {
            ch.truncate(ch.size() - 100); // the header now promises more data than the file holds
        }
        Path otherLayout = FilledCheckpoints.write(dir, "wide.safetensors", B, 128);
        try (WeightStore<Tensor> store = open(Long.MAX_VALUE)) {
            long one = store.memoryBytes();
            Map<Path, Outcome> outcomes = Map.of(dir.resolve("missing.safetensors"), Outcome.LOAD_FAILED,
                    corrupt, Outcome.LOAD_FAILED, otherLayout, Outcome.LAYOUT_CHANGED);
            Map<Path, ErrorKind> kinds = Map.of(dir.resolve("missing.safetensors"), ErrorKind.Io,
                    corrupt, ErrorKind.MetadataIncompleteBuffer, otherLayout, ErrorKind.Unsupported);
            for (Path bad : outcomes.keySet()) {
                for (ReloadOptions how : List.of(ReloadOptions.IMMEDIATE, ReloadOptions.quiesced(LONG),
                        ReloadOptions.inPlace(LONG))) {
                    ReloadResult r = store.reload(bad, how);
                    assertEquals(outcomes.get(bad), r.outcome(), r::toString);
                    assertEquals(kinds.get(bad), r.kind().orElseThrow(), r::toString);
                    StloadException cause = assertInstanceOf(StloadException.class, r.cause().orElseThrow());
                    assertEquals(kinds.get(bad), cause.kind());
                    assertTrue(r.message().orElseThrow().contains(bad.getFileName().toString()), r::toString);
                    assertEquals(1, r.version());
                    assertEquals(one, store.memoryBytes());
                    assertTrue(store.failure().isEmpty(), "nothing was overwritten");
                    try (Lease<Tensor> lease = store.lease()) {
                        assertEquals(1, lease.version());
                        assertAll(lease, A);
                    }
                }
            }
            assertTrue(store.reload(otherLayout, ReloadOptions.IMMEDIATE).message().orElseThrow()
                    .contains("tensor `embed.weight` is BF16 [128, 32], but the serving version has BF16 [64, 32]"));
            assertTrue(store.reload(b, ReloadOptions.IMMEDIATE).reloaded(), "a good reload still works afterwards");
        }
    }

    @Test
    void aStrategyForObjectStorageIsRefusedForLocalFilesEvenWhenNothingChanged() throws IOException {
        try (WeightStore<Tensor> store = open(Long.MAX_VALUE)) {
            // The same file again: every tensor is carried over and nothing is planned, yet the options are checked.
            ReloadResult r = store.reload(a, ReloadOptions.IMMEDIATE.withLoadOptions(
                    LoadOptions.DEFAULTS.withStrategy(LoadStrategy.S3)));
            assertEquals(Outcome.LOAD_FAILED, r.outcome(), r::toString);
            assertEquals(ErrorKind.Usage, r.kind().orElseThrow(), r::toString);
            assertTrue(r.message().orElseThrow().contains("strategy s3 reads object storage"), r::toString);
            assertEquals(1, store.version());
        }
    }

    @Test
    void quiesceTimeoutRollsBackAndTheWaitingLeaseResumesOnTheOldVersion() throws Exception {
        try (WeightStore<Tensor> store = open(Long.MAX_VALUE)) {
            long one = store.memoryBytes();
            try (Lease<Tensor> stuck = store.lease()) {
                CompletableFuture<ReloadResult> reload = CompletableFuture.supplyAsync(
                        () -> store.reload(b, ReloadOptions.quiesced(Duration.ofMillis(200))), threads);
                awaitTrue(store::quiescing);
                AtomicReference<Thread> waiting = new AtomicReference<>();
                CompletableFuture<Long> waiter = CompletableFuture.supplyAsync(() -> {
                    waiting.set(Thread.currentThread());
                    try (Lease<Tensor> lease = store.lease()) {
                        assertAll(lease, A);
                        return lease.version();
                    }
                }, threads);
                // The lease asked for while quiescing blocks: granted at once, it would finish before parking.
                awaitTrue(() -> waiting.get() != null);
                awaitTrue(() -> {
                    Thread.State state = waiting.get().getState();
                    assertFalse(waiter.isDone(), "a lease was granted during the quiesce");
                    return state == Thread.State.WAITING || state == Thread.State.TIMED_WAITING;
                });
                assertFalse(waiter.isDone(), "a lease was granted during the quiesce");
                ReloadResult r = reload.get();
                assertEquals(Outcome.QUIESCE_TIMED_OUT, r.outcome());
                assertEquals("1 lease(s) still open after the quiesce timeout of 200 ms; version 1 stays current",
                        r.message().orElseThrow());
                assertEquals(ErrorKind.WaitTimeout, r.kind().orElseThrow());
                assertEquals(1, waiter.get(), "the lease asked for during the quiesce was granted after it");
                assertAll(stuck, A);
                assertEquals(one, store.memoryBytes(), "the new version was freed");
            }
            assertFalse(store.quiescing());
        }
    }

    @Test
    void failingFlushHookRollsBackWhateverItThrows() {
        try (WeightStore<Tensor> store = open(Long.MAX_VALUE)) {
            long one = store.memoryBytes();
            List<Throwable> thrown = List.of(new IOException("cache device gone"),
                    new AssertionError("batch still in flight"),
                    new IllegalStateException() {
                        @Override
                        public String getMessage() {
                            throw new UnsupportedOperationException("a message that cannot be read");
                        }
                    });
            for (Throwable t : thrown) {
                FlushHook hook = (from, to) -> {
                    if (t instanceof Error err) {
                        throw err;
                    }
                    throw (Exception) t;
                };
                ReloadResult r = store.reload(b, ReloadOptions.quiesced(LONG, hook));
                assertEquals(Outcome.FLUSH_FAILED, r.outcome());
                assertTrue(r.message().orElseThrow().startsWith("flush hook failed: "), r::toString);
                assertTrue(r.message().orElseThrow().endsWith("; version 1 stays current"), r::toString);
                assertEquals(ErrorKind.Callback, r.kind().orElseThrow());
                assertSame(t, r.cause().orElseThrow(), "the hook's own exception comes back");
                assertEquals(1, r.version());
                assertEquals(one, store.memoryBytes());
                assertFalse(store.quiescing());
                try (Lease<Tensor> lease = store.lease()) {
                    assertAll(lease, A);
                }
            }
        }
    }

    @Test
    void reloadOverTheBudgetIsRefusedBeforeLoading() {
        long one;
        try (WeightStore<Tensor> probe = open(Long.MAX_VALUE)) {
            one = probe.memoryBytes();
        }
        try (WeightStore<Tensor> tight = open(one * 3 / 2)) {
            ReloadResult r = tight.reload(b, ReloadOptions.IMMEDIATE);
            assertEquals(Outcome.OVER_BUDGET, r.outcome());
            assertEquals(0, r.loadSeconds(), "refused before loading");
            assertEquals(one, tight.memoryBytes());
        }
        try (WeightStore<Tensor> two = open(2 * one)) {
            Lease<Tensor> old = two.lease();
            assertTrue(two.reload(b, ReloadOptions.IMMEDIATE).reloaded(), "two versions fit");
            assertEquals(2 * one, two.memoryBytes());
            ReloadResult third = two.reload(a, ReloadOptions.IMMEDIATE);
            assertEquals(Outcome.OVER_BUDGET, third.outcome());
            assertEquals("the new version needs " + one + " bytes while " + 2 * one
                    + " are held by the versions in use (an allocation is held whole while any tensor in it is"
                    + " served; a reload without carry-over packs them again); the memory budget is " + 2 * one,
                    third.message().orElseThrow());
            assertEquals(ErrorKind.OutOfMemory, third.kind().orElseThrow());
            old.close();
            assertTrue(two.reload(a, ReloadOptions.IMMEDIATE).reloaded(), "fits once the old version is freed");
        }
        StloadException e = assertThrows(StloadException.class, () -> open(one - 1));
        assertEquals(ErrorKind.OutOfMemory, e.kind());
    }

    @Test
    void aSecondReloadWhileOneRunsIsRefusedAtOnce() throws Exception {
        try (WeightStore<Tensor> store = open(Long.MAX_VALUE)) {
            CompletableFuture<ReloadResult> first;
            try (Lease<Tensor> held = store.lease()) {
                first = CompletableFuture.supplyAsync(() -> store.reload(b, ReloadOptions.quiesced(LONG)), threads);
                awaitTrue(store::quiescing);
                ReloadResult second = store.reload(a, ReloadOptions.IMMEDIATE);
                assertEquals(Outcome.ALREADY_RUNNING, second.outcome());
                assertEquals(1, second.version());
                assertEquals(1, held.version());
            }
            assertTrue(first.get().reloaded(), first.get()::toString);
            assertEquals(2, store.version());
        }
    }

    @Test
    void closingTheStoreFreesTheCurrentVersionWithItsLastLease() {
        WeightStore<Tensor> store = open(Long.MAX_VALUE);
        long one = store.memoryBytes();
        Lease<Tensor> lease = store.lease();
        store.close();
        assertEquals(ErrorKind.Usage, assertThrows(StloadException.class, store::lease).kind());
        assertEquals(one, store.memoryBytes());
        assertAll(lease, A);
        lease.close();
        assertEquals(0, store.memoryBytes());
    }

    @Test
    void aLeaseCannotWriteTheServingWeightsAndAReloadInPlaceStillCan() {
        Arena callers = Arena.ofShared();
        List<StoreMemory<Tensor>> memories = List.of(StoreMemory.host(),
                StoreMemory.callerBuffers(slice -> callers.allocate(slice.byteSize(), 64), segment -> { }));
        for (StoreMemory<Tensor> memory : memories) {
            for (long staging : new long[] {ReloadOptions.DEFAULT_STAGING_BYTES, 0}) {
                try (WeightStore<Tensor> store = WeightStore.open(WeightSource.path(a), memory, LoadOptions.DEFAULTS,
                        Long.MAX_VALUE)) {
                    try (Lease<Tensor> lease = store.lease()) {
                        for (Tensor t : lease.tensors().values()) {
                            assertTrue(t.data().isReadOnly(), t::name);
                            assertThrows(IllegalArgumentException.class, () -> t.data().set(JAVA_BYTE, 0, B)); // the JDK's refusal
                        }
                        assertAll(lease, A);
                    }
                    ReloadResult r = store.reload(WeightSource.path(b),
                            ReloadOptions.inPlace(LONG).withStagingBytes(staging));
                    assertEquals(Outcome.RELOADED, r.outcome(), r::toString);
                    try (Lease<Tensor> lease = store.lease()) {
                        assertAll(lease, B);
                        assertTrue(lease.tensors().values().stream().allMatch(t -> t.data().isReadOnly()));
                    }
                }
            }
        }
        callers.close();
    }

    @Test
    void aStatusIsOneMomentsVersionSourceAndMemory() {
        WeightStore<Tensor> store = open(Long.MAX_VALUE);
        assertTrue(store.reload(b, ReloadOptions.IMMEDIATE).reloaded());
        try (Lease<Tensor> lease = store.lease()) {
            WeightStore.Status status = store.status();
            assertEquals(2, status.version());
            assertEquals(store.source(), status.source());
            assertEquals(store.memoryBytes(), status.memoryBytes());
            assertEquals(1, status.liveLeases());
            assertFalse(status.quiescing());
            assertEquals(Optional.empty(), status.failure());
        }
        store.close();
        assertEquals(ErrorKind.Usage, assertThrows(StloadException.class, store::status).kind());
    }

    /** Whatever the caller's allocator throws comes back in the result, and the serving version stays. */
    @Test
    void anAllocatorThrowingAnErrorFailsTheReloadBesideNotTheCaller() {
        AssertionError refusal = new AssertionError("no buffer for a new version");
        Arena callers = Arena.ofShared();
        AtomicBoolean refuse = new AtomicBoolean();
        StoreMemory<Tensor> memory = StoreMemory.callerBuffers(slice -> {
            if (refuse.get()) {
                throw refusal;
            }
            return callers.allocate(slice.byteSize(), 64);
        }, segment -> { });
        try (WeightStore<Tensor> store = WeightStore.open(WeightSource.path(a), memory, LoadOptions.DEFAULTS,
                Long.MAX_VALUE)) {
            refuse.set(true);
            ReloadResult r = store.reload(WeightSource.path(b), ReloadOptions.IMMEDIATE);
            assertEquals(Outcome.LOAD_FAILED, r.outcome(), r::toString);
            assertEquals(ErrorKind.Callback, r.kind().orElseThrow());
            assertSame(refusal, r.cause().orElseThrow());
            try (Lease<Tensor> lease = store.lease()) {
                assertEquals(1, lease.version());
                assertAll(lease, A);
            }
        }
        callers.close();
    }

    @Test
    void nullArgumentsAndANegativeBudgetAreTheCallersMisuse() {
        List<Runnable> misuses = List.of(
                () -> WeightStore.open(null, StoreMemory.host(), LoadOptions.DEFAULTS, 1),
                () -> WeightStore.open(WeightSource.path(a), null, LoadOptions.DEFAULTS, 1),
                () -> WeightStore.open(WeightSource.path(a), StoreMemory.host(), null, 1),
                () -> WeightStore.open(a, LoadOptions.DEFAULTS, -1),
                () -> StoreMemory.callerBuffers(null, segment -> { }),
                () -> StoreMemory.callerBuffers(slice -> null, null));
        for (Runnable misuse : misuses) {
            assertEquals(ErrorKind.Usage, assertThrows(StloadException.class, misuse::run).kind());
        }
        try (WeightStore<Tensor> store = open(Long.MAX_VALUE)) {
            for (Runnable misuse : List.<Runnable>of(() -> store.reload((WeightSource) null, ReloadOptions.IMMEDIATE),
                    () -> store.reload(WeightSource.path(b), null))) {
                assertEquals(ErrorKind.Usage, assertThrows(StloadException.class, misuse::run).kind());
            }
            assertEquals(1, store.version());
        }
    }

    @Test
    void reloadOptionsThatCannotActAreRefusedNotIgnored() {
        List<Runnable> inert = List.of(
                () -> ReloadOptions.IMMEDIATE.withStagingBytes(0),
                () -> ReloadOptions.quiesced(LONG).withStagingBytes(ReloadOptions.DEFAULT_STAGING_BYTES / 2),
                () -> new ReloadOptions(false, Duration.ofSeconds(5), List.of()));
        for (Runnable options : inert) {
            assertEquals(ErrorKind.Usage, assertThrows(StloadException.class, options::run).kind());
        }
        assertEquals(0, ReloadOptions.inPlace(LONG).withStagingBytes(0).stagingBytes());
        assertEquals(ReloadOptions.IMMEDIATE, ReloadOptions.IMMEDIATE.withStagingBytes(ReloadOptions.DEFAULT_STAGING_BYTES));
    }
}
