package io.stload.io;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;

/** The bound on files open at once holds under any use, a file in use is never closed, and close leaves none open. */
class OpenFilesTest {

    /** One opening of a file, as a descriptor would be. */
    private record Handle(int file, int serial) {
    }

    /** Files opened and closed, counted as a descriptor table would see them. */
    private static final class Files {
        final Set<Handle> open = ConcurrentHashMap.newKeySet();
        final AtomicInteger opens = new AtomicInteger();
        final AtomicInteger mostOpen = new AtomicInteger();
        volatile int failOpenOf = -1;
        volatile int failCloseOf = -1;

        Handle open(int file) throws IOException {
            if (file == failOpenOf) {
                throw new IOException("cannot open " + file);
            }
            Handle h = new Handle(file, opens.incrementAndGet());
            open.add(h);
            mostOpen.accumulateAndGet(open.size(), Math::max);
            return h;
        }

        void close(Handle h) throws IOException {
            assertTrue(open.remove(h), "closed but not open: " + h);
            if (h.file() == failCloseOf) {
                throw new IOException("cannot close " + h.file());
            }
        }

        Set<Integer> openFiles() {
            return open.stream().map(Handle::file).collect(Collectors.toSet());
        }

        OpenFiles<Handle> pool(int bound) {
            return new OpenFiles<>(bound, this::open, this::close);
        }
    }

    @Test
    void manyFilesInTurnKeepAtMostTheBoundOpenAndCloseLeavesNone() throws Exception {
        Files files = new Files();
        OpenFiles<Handle> pool = files.pool(8);
        for (int f = 0; f < 1_000; f++) {
            assertEquals(f, pool.acquire(f).file());
            pool.release(f);
        }
        assertEquals(8, files.mostOpen.get());
        assertEquals(8, pool.peak());
        assertEquals(1_000, files.opens.get());
        pool.close();
        assertEquals(Set.of(), files.open);
        assertEquals(0, pool.size());
    }

    @Test
    void fewerFilesThanTheBoundAreEachOpenedOnce() throws Exception {
        Files files = new Files();
        try (OpenFiles<Handle> pool = files.pool(8)) {
            for (int round = 0; round < 3; round++) {
                for (int f = 0; f < 8; f++) {
                    pool.acquire(f);
                    pool.release(f);
                }
            }
            assertEquals(8, files.opens.get());
        }
        assertEquals(Set.of(), files.open);
    }

    @Test
    void aFileInUseIsNeverClosedUnderItsUser() throws Exception {
        Files files = new Files();
        try (OpenFiles<Handle> pool = files.pool(2)) {
            Handle held = pool.acquire(0); // as by a view handed to a consumer
            for (int f = 1; f < 100; f++) {
                pool.acquire(f);
                pool.release(f);
                assertTrue(files.open.contains(held), "file in use was closed");
            }
            pool.release(0);
            pool.acquire(200);
            pool.release(200);
            pool.acquire(201);
            pool.release(201);
            assertFalse(files.open.contains(held), "an idle file is closed to make room");
        }
        assertEquals(Set.of(), files.open);
    }

    @Test
    void whenEveryOpenFileIsInUseTheNextWaitsForARelease() throws Exception {
        Files files = new Files();
        ExecutorService other = Executors.newSingleThreadExecutor();
        try (OpenFiles<Handle> pool = files.pool(1)) {
            pool.acquire(0);
            CountDownLatch started = new CountDownLatch(1);
            AtomicReference<Thread> waiter = new AtomicReference<>();
            Future<Handle> second = other.submit(() -> {
                waiter.set(Thread.currentThread());
                started.countDown();
                return pool.acquire(1);
            });
            assertTrue(started.await(10, TimeUnit.SECONDS));
            // It cannot open file 1 while file 0 is in use (the bound is 1): it parks.
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
            while (waiter.get().getState() != Thread.State.WAITING && System.nanoTime() < deadline) {
                Thread.onSpinWait();
            }
            assertEquals(Thread.State.WAITING, waiter.get().getState());
            assertFalse(second.isDone());
            assertEquals(Set.of(0), files.openFiles());
            pool.release(0);
            assertEquals(1, second.get(10, TimeUnit.SECONDS).file());
            assertEquals(Set.of(1), files.openFiles());
            pool.release(1);
        } finally {
            other.shutdownNow();
        }
        assertEquals(1, files.mostOpen.get());
        assertEquals(Set.of(), files.open);
    }

    @Test
    void concurrentUseNeverExceedsTheBound() throws Exception {
        Files files = new Files();
        int bound = 4;
        ExecutorService threads = Executors.newFixedThreadPool(bound);
        OpenFiles<Handle> pool = files.pool(bound);
        try {
            List<Future<?>> running = new ArrayList<>();
            for (int t = 0; t < bound; t++) {
                SplittableRandom random = new SplittableRandom(t);
                running.add(threads.submit(() -> {
                    for (int i = 0; i < 2_000; i++) {
                        int f = random.nextInt(12);
                        Handle h = pool.acquire(f);
                        assertEquals(f, h.file());
                        Thread.yield(); // let others run while this one is in use
                        assertTrue(files.open.contains(h), "file in use was closed");
                        pool.release(f);
                    }
                    return null;
                }));
            }
            for (Future<?> f : running) {
                f.get(60, TimeUnit.SECONDS);
            }
        } finally {
            threads.shutdownNow();
            pool.close();
        }
        assertTrue(files.mostOpen.get() <= bound, "open at once: " + files.mostOpen.get());
        assertTrue(pool.peak() <= bound);
        assertEquals(Set.of(), files.open);
    }

    @Test
    void aFailedOpenTakesNoRoomAndCloseStillClosesTheOthers() throws Exception {
        Files files = new Files();
        files.failOpenOf = 5;
        OpenFiles<Handle> pool = files.pool(3);
        for (int f = 0; f < 5; f++) {
            pool.acquire(f);
            pool.release(f);
        }
        IOException e = assertThrows(IOException.class, () -> pool.acquire(5));
        assertEquals("cannot open 5", e.getMessage());
        assertEquals(2, pool.size(), "an idle file was closed to make room, and file 5 took none");
        files.failOpenOf = -1;
        assertEquals(5, pool.acquire(5).file());
        pool.release(5);
        pool.close();
        assertEquals(Set.of(), files.open);
        assertThrows(IllegalStateException.class, () -> pool.acquire(0));
    }

    @Test
    void aFailedCloseOfAnEvictedFileIsReportedAtTheEndAndEveryFileIsStillClosed() throws Exception {
        Files files = new Files();
        files.failCloseOf = 0;
        OpenFiles<Handle> pool = files.pool(2);
        for (int f = 0; f < 4; f++) {
            pool.acquire(f);
            pool.release(f);
        }
        files.failCloseOf = 3; // and one of those still open at the end
        IOException e = assertThrows(IOException.class, pool::close);
        assertEquals("cannot close 0", e.getMessage());
        assertEquals(1, e.getSuppressed().length);
        assertEquals("cannot close 3", e.getSuppressed()[0].getMessage());
        assertEquals(Set.of(), files.open);
    }

    @Test
    void aFileIsReleasedNoMoreOftenThanAcquired() throws Exception {
        Files files = new Files();
        try (OpenFiles<Handle> pool = files.pool(2)) {
            pool.acquire(0);
            pool.release(0);
            assertThrows(IllegalStateException.class, () -> pool.release(0));
        }
    }
}
