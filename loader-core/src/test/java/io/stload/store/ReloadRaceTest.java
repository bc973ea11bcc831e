package io.stload.store;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.stload.format.Tensor;
import io.stload.plan.LoadOptions;
import io.stload.store.ReloadDelta.Reason;
import io.stload.store.ReloadResult.Outcome;
import java.io.IOException;
import java.lang.foreign.ValueLayout;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The stale-flag race: an update that decided the server was idle from a flag another thread had left set, not from
 * the owner of the state, published on top of a reload that was finishing. Here reloads are asked for while others
 * finish, from several threads at once, beside and in place: no version is published twice or skipped, each reload
 * starts from the version last published, and every lease reads one version, whole, of the source it names.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class ReloadRaceTest {
    private static final Duration LONG = Duration.ofSeconds(30);

    private final ExecutorService threads = Executors.newCachedThreadPool();

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

    @AfterEach
    void stopThreads() {
        threads.shutdownNow();
    }

    @Test
    void aReloadAskedForWhileAnotherFinishesIsRefusedOrStartsFromTheVersionJustPublished() throws Exception {
        try (WeightStore<Tensor> store = WeightStore.open(step1, LoadOptions.DEFAULTS, Long.MAX_VALUE)) {
            List<ReloadResult> during = new CopyOnWriteArrayList<>();
            // While the first reload is quiesced, about to publish, a second one is asked for and must be refused.
            ReloadResult first = store.reload(WeightSource.path(step2), ReloadOptions.quiesced(LONG, (from, to) ->
                    during.add(CompletableFuture.supplyAsync(() -> store.reload(step1, ReloadOptions.IMMEDIATE),
                            threads).get())));
            assertTrue(first.reloaded(), first::toString);
            assertEquals(2, first.version());
            assertEquals(1, during.size());
            assertEquals(Outcome.ALREADY_RUNNING, during.getFirst().outcome());
            assertEquals(1, during.getFirst().version());
            // The next one compares with version 2 (step 2), not with the version the refused one saw.
            ReloadResult next = store.reload(step2, ReloadOptions.IMMEDIATE);
            assertEquals(3, next.version());
            assertEquals(Map.of(Reason.SAME_DIGEST, StepCheckpoints.names().size()), next.delta().tensorsByReason(),
                    next::toString);
        }
    }

    @Test
    void reloadsFromManyThreadsPublishEachVersionOnceAndEveryLeaseReadsOneWholeVersion() throws Exception {
        int reloaders = 3;
        int eachPublishes = 3;
        try (WeightStore<Tensor> store = WeightStore.open(step1, LoadOptions.DEFAULTS, Long.MAX_VALUE)) {
            Map<Long, String> publishedFrom = new ConcurrentHashMap<>();
            publishedFrom.put(1L, step1.toString());
            List<ReloadResult> results = new CopyOnWriteArrayList<>();
            List<String> torn = new CopyOnWriteArrayList<>();
            Map<Long, String> leasedFrom = new ConcurrentHashMap<>();
            AtomicBoolean stop = new AtomicBoolean();
            List<Future<?>> readers = new ArrayList<>();
            for (int r = 0; r < 1; r++) {
                readers.add(threads.submit(() -> {
                    while (!stop.get()) {
                        try (Lease<Tensor> lease = store.lease()) {
                            String source = lease.source().source();
                            int step = source.equals(step1.toString()) ? 1 : 2;
                            for (Tensor t : lease.tensors().values()) {
                                byte want = StepCheckpoints.fill(t.name(), step);
                                byte[] bytes = t.data().toArray(ValueLayout.JAVA_BYTE);
                                for (byte b : bytes) {
                                    if (b != want) {
                                        torn.add("version " + lease.version() + " (" + source + "): " + t.name());
                                        break;
                                    }
                                }
                            }
                            String before = leasedFrom.putIfAbsent(lease.version(), source);
                            if (before != null && !before.equals(source)) {
                                torn.add("version " + lease.version() + " is both " + before + " and " + source);
                            }
                        }
                    }
                    return null;
                }));
            }
            CyclicBarrier start = new CyclicBarrier(reloaders);
            List<Future<?>> running = new ArrayList<>();
            for (int t = 0; t < reloaders; t++) {
                int id = t;
                running.add(threads.submit(() -> {
                    start.await();
                    // Asked for again at once when refused: most attempts arrive while another reload finishes.
                    for (int i = 0, mine = 0; mine < eachPublishes; i++) {
                        Path target = (id + i) % 2 == 0 ? step2 : step1;
                        ReloadOptions how = i % 3 == 0 ? ReloadOptions.inPlace(LONG) : ReloadOptions.IMMEDIATE;
                        ReloadResult r = store.reload(target, how);
                        results.add(r);
                        if (!r.reloaded()) {
                            Thread.yield(); // the machine has two cores: let the running reload get on
                        } else {
                            mine++;
                            if (publishedFrom.put(r.version(), target.toString()) != null) {
                                torn.add("version " + r.version() + " published twice");
                            }
                        }
                    }
                    return null;
                }));
            }
            for (Future<?> f : running) {
                f.get();
            }
            stop.set(true);
            for (Future<?> f : readers) {
                f.get();
            }
            assertEquals(List.of(), torn);
            List<ReloadResult> published = results.stream().filter(ReloadResult::reloaded).toList();
            assertTrue(results.stream().allMatch(r -> r.reloaded() || r.outcome() == Outcome.ALREADY_RUNNING),
                    results::toString);
            assertEquals(reloaders * eachPublishes, published.size());
            assertTrue(results.size() > published.size(), "some reloads were asked for while another ran");
            List<Long> versions = published.stream().map(ReloadResult::version).sorted().toList();
            List<Long> expected = new ArrayList<>();
            for (long v = 2; v <= published.size() + 1; v++) {
                expected.add(v);
            }
            assertEquals(expected, versions, "versions 2.." + (published.size() + 1) + ", each once");
            assertEquals(published.size() + 1, store.version());
            for (ReloadResult r : published) {
                assertEquals(publishedFrom.get(r.version()), r.source().source());
            }
            leasedFrom.forEach((v, source) -> assertEquals(publishedFrom.get(v), source, "version " + v));
            assertEquals(0, store.liveLeases());
            try (Lease<Tensor> lease = store.lease()) {
                assertEquals(publishedFrom.get(lease.version()), lease.source().source());
            }
        }
    }
}
