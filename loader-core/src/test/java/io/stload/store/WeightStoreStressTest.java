package io.stload.store;

import static io.stload.store.FilledCheckpoints.A;
import static io.stload.store.FilledCheckpoints.B;
import static io.stload.store.FilledCheckpoints.assertFilled;
import static io.stload.store.FilledCheckpoints.fillOf;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.stload.format.Tensor;
import io.stload.load.Digests;
import io.stload.plan.LoadOptions;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.LongAdder;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Many readers checksum tensors while reloads alternate between two checkpoints whose bytes differ. Every
 * byte a reader sees must be the constant of its lease's version: a read of freed memory, of the other
 * version, or of a mix would show. Every reload must succeed, and one version's memory remains at the end.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class WeightStoreStressTest {
    private static final int READERS = 8;
    private static final int RELOADS = 24;

    private final ExecutorService threads = Executors.newCachedThreadPool();

    @TempDir
    Path dir;

    @AfterEach
    void stopThreads() {
        threads.shutdownNow();
    }

    @ParameterizedTest(name = "quiesce={0}")
    @ValueSource(booleans = {false, true})
    void everyReadIsOfOneVersionWhileReloadsAlternate(boolean quiesce) throws Exception {
        Path a = FilledCheckpoints.write(dir, "a.safetensors", A);
        Path b = FilledCheckpoints.write(dir, "b.safetensors", B);
        try (WeightStore<Tensor> store = WeightStore.open(a, LoadOptions.DEFAULTS, Long.MAX_VALUE)) {
            long one = store.memoryBytes();
            String expectedCrcA = crcOfFirstTensor(store);
            AtomicInteger flushesWhileBusy = new AtomicInteger();
            ReloadOptions how = quiesce
                    ? ReloadOptions.quiesced(Duration.ofSeconds(30), (from, to) -> {
                        if (store.liveLeases() != 0) {
                            flushesWhileBusy.incrementAndGet();
                        }
                    })
                    : ReloadOptions.IMMEDIATE;

            AtomicBoolean stop = new AtomicBoolean();
            CountDownLatch reading = new CountDownLatch(READERS);
            LongAdder reads = new LongAdder();
            List<Future<?>> readers = new ArrayList<>();
            for (int r = 0; r < READERS; r++) {
                readers.add(threads.submit(() -> {
                    reading.countDown();
                    while (!stop.get()) {
                        try (Lease<Tensor> lease = store.lease()) {
                            byte fill = fillOf(lease.version());
                            for (Tensor t : lease.tensors().values()) {
                                String crc = Digests.crc32(t.data());
                                assertFilled(t, fill);
                                // A second pass: the version must not change under a live lease.
                                assertEquals(crc, Digests.crc32(t.data()), t.name());
                            }
                        }
                        reads.increment();
                    }
                    return null;
                }));
            }
            reading.await();
            for (int k = 1; k <= RELOADS; k++) {
                ReloadResult r = store.reload(k % 2 == 1 ? b : a, how);
                assertTrue(r.reloaded(), r::toString);
                assertEquals(k + 1, r.version());
            }
            stop.set(true);
            for (Future<?> f : readers) {
                f.get();
            }
            assertTrue(reads.sum() >= READERS, "readers read: " + reads.sum());
            assertEquals(0, flushesWhileBusy.get());
            assertEquals(0, store.liveLeases());
            assertEquals(one, store.memoryBytes(), "only the current version is held once readers stop");
            assertEquals(expectedCrcA, crcOfFirstTensor(store), "version " + store.version() + " is checkpoint A again");
        }
    }

    private static String crcOfFirstTensor(WeightStore<Tensor> store) {
        try (Lease<Tensor> lease = store.lease()) {
            return Digests.crc32(lease.tensor(FilledCheckpoints.NAMES.get(0)).data());
        }
    }
}
