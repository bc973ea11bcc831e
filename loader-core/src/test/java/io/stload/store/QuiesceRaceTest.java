package io.stload.store;

import io.stload.format.Tensor;
import static io.stload.store.FilledCheckpoints.A;
import static io.stload.store.FilledCheckpoints.B;
import static io.stload.store.FilledCheckpoints.assertFilled;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.stload.plan.LoadOptions;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The race behind a known crash: an update decided the server was idle as soon as every request handler had
 * returned, while the scheduler still held the finished batch, so the cache flush met a live reader and the
 * assertion killed the server. Here the store that grants leases is the only judge of idleness.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class QuiesceRaceTest {
    private static final Duration LONG = Duration.ofSeconds(30);
    private static final int READERS = 4;
    private static final int ROUNDS = 40;

    private final ExecutorService threads = Executors.newCachedThreadPool();
    private final List<String> flushedWhileBusy = new CopyOnWriteArrayList<>();

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

    /** A flush hook that records any flush done while a lease is live: the crash in the bug. */
    private FlushHook checkingIdle(WeightStore<Tensor> store) {
        return (from, to) -> {
            if (store.liveLeases() != 0) {
                flushedWhileBusy.add(from + "->" + to + " with " + store.liveLeases() + " live");
            }
        };
    }

    @Test
    void readersFinishingAtTheInstantAQuiescedReloadArrivesNeverFailIt() throws Exception {
        try (WeightStore<Tensor> store = WeightStore.open(a, LoadOptions.DEFAULTS, Long.MAX_VALUE)) {
            for (int round = 1; round <= ROUNDS; round++) {
                CyclicBarrier instant = new CyclicBarrier(READERS + 1);
                List<Future<?>> readers = new ArrayList<>();
                for (int i = 0; i < READERS; i++) {
                    Lease<Tensor> lease = store.lease(); // live before the instant
                    readers.add(threads.submit(() -> {
                        instant.await();
                        lease.close();
                        return null;
                    }));
                }
                instant.await();
                ReloadResult r = store.reload(round % 2 == 1 ? b : a, ReloadOptions.quiesced(LONG, checkingIdle(store)));
                assertTrue(r.reloaded(), "round " + round + ": " + r);
                assertEquals(round + 1, r.version());
                for (Future<?> f : readers) {
                    f.get();
                }
            }
            assertEquals(List.of(), flushedWhileBusy);
            assertEquals(0, store.liveLeases());
        }
    }

    @Test
    void aLeaseHeldPastItsRequestDelaysTheQuiescedReloadButNeverFailsIt() throws Exception {
        try (WeightStore<Tensor> store = WeightStore.open(a, LoadOptions.DEFAULTS, Long.MAX_VALUE)) {
            long one = store.memoryBytes();
            Lease<Tensor> finishedBatch = store.lease(); // the handler has returned; the scheduler has not let go yet
            CompletableFuture<ReloadResult> reload = CompletableFuture.supplyAsync(
                    () -> store.reload(b, ReloadOptions.quiesced(LONG, checkingIdle(store))), threads);
            WeightStoreTest.awaitTrue(store::quiescing);
            CompletableFuture<Long> nextRequest = CompletableFuture.supplyAsync(() -> {
                try (Lease<Tensor> lease = store.lease()) {
                    lease.tensors().values().forEach(t -> assertFilled(t, B));
                    return lease.version();
                }
            }, threads);
            assertEquals(1, finishedBatch.version());
            finishedBatch.close(); // the scheduler's next loop iteration
            ReloadResult r = reload.get();
            assertTrue(r.reloaded(), r::toString);
            assertEquals(2, nextRequest.get(), "the request that arrived during the quiesce is served by the new version");
            assertEquals(List.of(), flushedWhileBusy);
            assertEquals(one, store.memoryBytes());
        }
    }
}
