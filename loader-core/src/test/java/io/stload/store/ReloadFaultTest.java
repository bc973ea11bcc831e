package io.stload.store;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.stload.ErrorKind;
import io.stload.StloadException;
import io.stload.checkpoint.Checkpoint;
import io.stload.format.DType;
import io.stload.format.SafetensorsWriter;
import io.stload.format.SafetensorsWriter.Entry;
import io.stload.format.Tensor;
import io.stload.plan.DestinationProfile;
import io.stload.plan.LoadOptions;
import io.stload.plan.LoadPlan;
import io.stload.report.LoadReport;
import io.stload.store.ReloadDelta.Reason;
import io.stload.store.ReloadOptions.Mode;
import io.stload.store.ReloadResult.Outcome;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * Faults injected at each step of a reload (reading the new bytes, validating the new checkpoint, copying over the
 * serving memory) leave the documented state: the serving version whole and current, except in place after the first
 * byte was overwritten, where the store refuses leases with the failure until a reload succeeds.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class ReloadFaultTest {
    private static final Duration LONG = Duration.ofSeconds(30);

    @TempDir
    Path dir;
    Path step1;
    Path step2;

    @BeforeEach
    void writeSteps() throws IOException {
        step1 = dir.resolve("step-1");
        step2 = dir.resolve("step-2");
        StepCheckpoints.write(step1, 1);
        StepCheckpoints.write(step2, 2);
    }

    /** A store memory that counts what it is asked to do, and can fail a write part way. */
    static final class Spy<T> implements StoreMemory<T> {
        final StoreMemory<T> real;
        final AtomicInteger loads = new AtomicInteger();
        final AtomicInteger overwrites = new AtomicInteger();
        final AtomicInteger writes = new AtomicInteger();
        /** Writes fail after this many tensors were copied (-1: never); 0 fails before the first byte. */
        volatile int failWriteAfter = -1;

        Spy(StoreMemory<T> real) {
            this.real = real;
        }

        @Override
        public String describe() {
            return real.describe();
        }

        @Override
        public DestinationProfile profile() {
            return real.profile();
        }

        @Override
        public long bytesFor(LoadPlan plan) {
            return real.bytesFor(plan);
        }

        @Override
        public Buffers<T> load(LoadPlan plan) {
            loads.incrementAndGet();
            return real.load(plan);
        }

        @Override
        public LoadReport overwrite(LoadPlan plan, Map<String, T> live, Runnable overwriting) {
            overwrites.incrementAndGet();
            return real.overwrite(plan, live, overwriting);
        }

        @Override
        public void write(List<Write<T>> list, Runnable overwriting) {
            writes.incrementAndGet();
            int after = failWriteAfter;
            if (after < 0) {
                real.write(list, overwriting);
                return;
            }
            if (after > 0) {
                real.write(list.subList(0, Math.min(after, list.size())), overwriting);
            }
            throw new StloadException(ErrorKind.Io, null, "injected copy failure after " + after + " tensor(s)");
        }
    }

    private Spy<Tensor> spy() {
        return new Spy<>(StoreMemory.host());
    }

    private WeightStore<Tensor> open(Spy<Tensor> memory) {
        return WeightStore.open(WeightSource.path(step1), memory, LoadOptions.DEFAULTS, Long.MAX_VALUE);
    }

    private static WeightSource faulty(Path checkpoint, int failFrom) {
        return WeightSource.of("faulty:" + checkpoint.getFileName(),
                () -> Checkpoint.open(new FaultyFolder(checkpoint, failFrom), null));
    }

    /** Every lease of the store is of step {@code k}, whole. */
    private static void assertServes(WeightStore<Tensor> store, long version, int step) {
        assertEquals(List.of(), ReloadMatrix.read(store, ReloadMatrix.host()));
        try (Lease<Tensor> lease = store.lease()) {
            assertEquals(version, lease.version());
            lease.tensors().values().forEach(t -> assertEquals(StepCheckpoints.fill(t.name(), step), t.data().get(
                    java.lang.foreign.ValueLayout.JAVA_BYTE, 0), t.name()));
        }
        assertTrue(store.failure().isEmpty(), () -> store.failure().toString());
    }

    @ParameterizedTest(name = "{0}")
    @EnumSource(Mode.class)
    void aFailedReadOfTheNewBytesLeavesTheServingVersionWhole(Mode mode) {
        Spy<Tensor> memory = spy();
        try (WeightStore<Tensor> store = open(memory)) {
            long one = store.memoryBytes();
            ReloadOptions how = mode == Mode.BESIDE ? ReloadOptions.IMMEDIATE : ReloadOptions.inPlace(LONG);
            ReloadResult r = store.reload(faulty(step2, 1), how);
            assertEquals(Outcome.LOAD_FAILED, r.outcome(), r::toString);
            assertEquals(ErrorKind.Io, r.kind().orElseThrow());
            assertTrue(r.message().orElseThrow().contains("injected read failure"), r::toString);
            assertEquals(1, r.version());
            assertEquals(one, store.memoryBytes(), "the new version's memory was freed");
            assertEquals(0, memory.writes.get() + memory.overwrites.get(), "nothing was written over the serving bytes");
            assertServes(store, 1, 1);
            assertTrue(store.reload(faulty(step2, -1), how).reloaded(), "the same reload succeeds without the fault");
            assertServes(store, 2, 2);
        }
    }

    @Test
    void inPlaceAReadFailingAfterTheFirstBytesLandedLeavesTheStoreFailedUntilAReloadSucceeds() {
        Spy<Tensor> memory = spy();
        try (WeightStore<Tensor> store = open(memory)) {
            // No staging: the changed bytes go straight from the files over the serving ones.
            ReloadOptions straight = ReloadOptions.inPlace(LONG).withStagingBytes(0);
            ReloadResult r = store.reload(faulty(step2, 1), straight);
            assertEquals(Outcome.STORE_FAILED, r.outcome(), r::toString);
            assertEquals(ErrorKind.Io, r.kind().orElseThrow());
            assertEquals(1, r.version());
            assertEquals(1, memory.overwrites.get());
            assertTrue(r.message().orElseThrow().contains("neither version"), r::toString);
            StloadException refused = assertThrows(StloadException.class, store::lease);
            assertEquals(ErrorKind.Io, refused.kind());
            assertTrue(refused.getMessage().contains("injected read failure"), refused.getMessage());
            assertEquals(r.message().orElseThrow(), store.failure().orElseThrow().detail());
            assertEquals(0, store.liveLeases());
            assertTrue(!store.quiescing(), "readers are not held back: they are refused");

            // A failed reload does not clear it; the next good one reads every tensor, whatever the digests say.
            assertEquals(Outcome.LOAD_FAILED, store.reload(dir.resolve("nowhere"), straight).outcome());
            assertTrue(store.failure().isPresent(), "still failed");
            ReloadResult again = store.reload(WeightSource.path(step2), ReloadOptions.inPlace(LONG));
            assertTrue(again.reloaded(), again::toString);
            assertEquals(2, again.version());
            assertEquals(Map.of(Reason.STORE_FAILED, StepCheckpoints.names().size()), again.delta().tensorsByReason());
            assertServes(store, 2, 2);
        }
    }

    @Test
    void inPlaceACopyFailingBeforeItsFirstByteLeavesTheServingVersionWhole() {
        Spy<Tensor> memory = spy();
        memory.failWriteAfter = 0;
        try (WeightStore<Tensor> store = open(memory)) {
            ReloadResult r = store.reload(step2, ReloadOptions.inPlace(LONG));
            assertEquals(Outcome.LOAD_FAILED, r.outcome(), r::toString);
            assertEquals(ErrorKind.Io, r.kind().orElseThrow());
            assertTrue(r.message().orElseThrow().endsWith("version 1 stays current"), r::toString);
            assertEquals(1, memory.writes.get());
            assertServes(store, 1, 1);
        }
    }

    @Test
    void inPlaceACopyFailingPartWayLeavesTheStoreFailedAndABesideReloadRecovers() {
        Spy<Tensor> memory = spy();
        memory.failWriteAfter = 1;
        try (WeightStore<Tensor> store = open(memory)) {
            ReloadResult r = store.reload(step2, ReloadOptions.inPlace(LONG));
            assertEquals(Outcome.STORE_FAILED, r.outcome(), r::toString);
            assertEquals(ErrorKind.Io, r.kind().orElseThrow());
            assertEquals(ErrorKind.Io, assertThrows(StloadException.class, store::lease).kind());
            memory.failWriteAfter = -1;
            // Beside, into new memory: the half-written memory is freed once the new version is published.
            ReloadResult besides = store.reload(step2, ReloadOptions.IMMEDIATE);
            assertTrue(besides.reloaded(), besides::toString);
            assertEquals(StepCheckpoints.names().size(), besides.delta().tensorsRead());
            assertServes(store, 2, 2);
        }
    }

    @ParameterizedTest(name = "{0}")
    @EnumSource(Mode.class)
    void anInvalidNewCheckpointIsRefusedBeforeAnyByteIsReadOrOverwritten(Mode mode) throws IOException {
        Path wide = writeWith(dir.resolve("wide"), "model.norm.weight", DType.F32, new long[] {64});
        Path otherDtype = writeWith(dir.resolve("dtype"), "model.norm.weight", DType.BF16, new long[] {32});
        Path missingShard = dir.resolve("missing");
        StepCheckpoints.write(missingShard, 2);
        try (var shards = Files.list(missingShard)) {
            Files.delete(shards.filter(p -> p.getFileName().toString().startsWith("model-00002")).findFirst().orElseThrow());
        }
        Path corrupt = dir.resolve("corrupt");
        StepCheckpoints.write(corrupt, 2);
        try (var shards = Files.list(corrupt)) {
            Path shard = shards.filter(p -> p.getFileName().toString().startsWith("model-00003")).findFirst().orElseThrow();
            // A header length of 1 MiB, past the end of the file.
            Files.write(shard, new byte[] {0, 0, 0x10, 0, 0, 0, 0, 0}, java.nio.file.StandardOpenOption.WRITE);
        }
        Map<Path, Outcome> outcomes = Map.of(wide, Outcome.LAYOUT_CHANGED, otherDtype, Outcome.LAYOUT_CHANGED,
                missingShard, Outcome.LOAD_FAILED, corrupt, Outcome.LOAD_FAILED);
        Map<Path, ErrorKind> kinds = Map.of(wide, ErrorKind.Unsupported, otherDtype, ErrorKind.Unsupported,
                missingShard, ErrorKind.MissingShard, corrupt, ErrorKind.InvalidHeaderLength);
        Spy<Tensor> memory = spy();
        try (WeightStore<Tensor> store = open(memory)) {
            ReloadOptions how = mode == Mode.BESIDE ? ReloadOptions.quiesced(LONG)
                    : ReloadOptions.inPlace(LONG).withStagingBytes(0);
            for (Path bad : outcomes.keySet()) {
                ReloadResult r = store.reload(bad, how);
                assertEquals(outcomes.get(bad), r.outcome(), r::toString);
                assertEquals(kinds.get(bad), r.kind().orElseThrow(), r::toString);
                assertEquals(0, r.quiesceSeconds(), "refused before quiescing");
            }
            assertEquals(0, memory.loads.get() - 1, "only the first version was loaded");
            assertEquals(0, memory.writes.get() + memory.overwrites.get());
            assertServes(store, 1, 1);
        }
    }

    /** Step 2, with one tensor's dtype or shape changed. */
    private static Path writeWith(Path target, String changed, DType dtype, long[] shape) throws IOException {
        List<Entry> entries = new ArrayList<>();
        for (Entry e : StepCheckpoints.TENSORS) {
            entries.add(e.name().equals(changed) ? new Entry(changed, dtype, shape) : e);
        }
        Files.createDirectories(target);
        SafetensorsWriter.write(target.resolve("model.safetensors"), Map.of(), entries, (e, out) -> {
            ByteBuffer b = ByteBuffer.allocate((int) e.byteSize());
            while (b.hasRemaining()) {
                out.write(b);
            }
        });
        return target;
    }

    @Test
    void inPlaceAFlushHookOrAQuiesceTimeoutStopsTheReloadBeforeAnyByteIsOverwritten() throws Exception {
        Spy<Tensor> memory = spy();
        try (WeightStore<Tensor> store = open(memory)) {
            ReloadResult hook = store.reload(step2, ReloadOptions.inPlace(LONG, (from, to) -> {
                throw new IllegalStateException("batch in flight");
            }));
            assertEquals(Outcome.FLUSH_FAILED, hook.outcome(), hook::toString);
            assertEquals(IllegalStateException.class, hook.cause().orElseThrow().getClass());
            Lease<Tensor> stuck = store.lease();
            CompletableFuture<ReloadResult> timedOut = CompletableFuture.supplyAsync(
                    () -> store.reload(step2, ReloadOptions.inPlace(Duration.ofMillis(100))));
            assertEquals(Outcome.QUIESCE_TIMED_OUT, timedOut.get().outcome());
            stuck.close();
            assertEquals(0, memory.writes.get() + memory.overwrites.get());
            assertServes(store, 1, 1);
        }
    }

    /** A hook that leases would wait for its own reload's quiesce: it is refused, the reload rolls back, readers go on. */
    /** A source of the caller's that opens null is its failure, named as such; the serving version stays. */
    @Test
    void aSourceThatOpensNullIsTheCallersFailure() {
        WeightSource nothing = WeightSource.of("nothing", () -> null);
        StloadException e = assertThrows(StloadException.class,
                () -> WeightStore.open(nothing, spy(), LoadOptions.DEFAULTS, Long.MAX_VALUE));
        assertEquals(ErrorKind.Callback, e.kind(), e.getMessage());
        try (WeightStore<Tensor> store = open(spy())) {
            ReloadResult r = store.reload(nothing, ReloadOptions.IMMEDIATE);
            assertEquals(Optional.of(ErrorKind.Callback), r.kind(), r.toString());
            assertServes(store, 1, 1);
        }
    }

    @Test
    void aFlushHookThatLeasesIsRefusedNotADeadlock() throws Exception {
        try (WeightStore<Tensor> store = open(spy())) {
            for (ReloadOptions how : List.of(ReloadOptions.quiesced(LONG, (from, to) -> store.lease().close()),
                    ReloadOptions.inPlace(LONG, (from, to) -> store.lease().close()))) {
                ReloadResult r = CompletableFuture.supplyAsync(() -> store.reload(step2, how))
                        .get(LONG.toSeconds(), TimeUnit.SECONDS);
                assertEquals(Outcome.FLUSH_FAILED, r.outcome(), r::toString);
                StloadException refused = (StloadException) r.cause().orElseThrow();
                assertEquals(ErrorKind.Usage, refused.kind(), refused::toString);
                assertFalse(store.quiescing());
                store.lease().close();
                assertServes(store, 1, 1);
            }
        }
    }

    @Test
    void aQuiesceTimeoutBeyondADayOrANullHookIsAUsageErrorWhenTheOptionsAreMade() {
        for (Duration d : List.of(Duration.ofSeconds(Long.MAX_VALUE), Duration.ofDays(365 * 300), Duration.ofDays(2),
                Duration.ofMillis(-1))) {
            assertEquals(ErrorKind.Usage, assertThrows(StloadException.class, () -> ReloadOptions.quiesced(d)).kind());
            assertEquals(ErrorKind.Usage, assertThrows(StloadException.class, () -> ReloadOptions.inPlace(d)).kind());
        }
        assertEquals(ErrorKind.Usage, assertThrows(StloadException.class,
                () -> ReloadOptions.quiesced(LONG, (FlushHook) null)).kind());
        assertEquals(Duration.ofDays(1), ReloadOptions.quiesced(ReloadOptions.MAX_QUIESCE_TIMEOUT).quiesceTimeout());
    }

    @Test
    void besideAFailingLoadIntoTheCallersBuffersGivesEverySegmentBack() {
        ReloadMatrix.MemoryUnderTest<Tensor> caller = ReloadMatrix.caller();
        try (WeightStore<Tensor> store = WeightStore.open(WeightSource.path(step1), caller.memory(), LoadOptions.DEFAULTS,
                Long.MAX_VALUE)) {
            long first = caller.liveAllocations();
            ReloadResult r = store.reload(faulty(step2, 0), ReloadOptions.IMMEDIATE);
            assertEquals(Outcome.LOAD_FAILED, r.outcome(), r::toString);
            assertEquals(first, caller.liveAllocations(), "the failed load's segments were released");
        }
        assertEquals(0, caller.liveAllocations());
    }
}
