package io.stload.io;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

class WindowSchedulerTest {
    private static final long W = 100;

    /** {@code n} windows of 100 bytes in one file, each holding 100 tensor bytes. */
    private static WindowScheduler scheduler(int n, long ahead) {
        List<Window> windows = new ArrayList<>();
        long[] unconsumed = new long[n];
        for (int i = 0; i < n; i++) {
            windows.add(new Window(i, 0, i * W, W, i * W));
            unconsumed[i] = W;
        }
        return new WindowScheduler(windows, unconsumed, ahead);
    }

    @Test
    void issuesInOrderAndNoFurtherThanTheBoundAhead() {
        WindowScheduler s = scheduler(5, 2 * W);
        assertEquals(0, s.poll().index());
        assertEquals(1, s.poll().index());
        assertSame(WindowScheduler.HELD_BACK, s.poll());
        s.consumed(1, W); // not the lowest: the bound does not move
        assertSame(WindowScheduler.HELD_BACK, s.poll());
        s.consumed(0, W); // windows 0 and 1 are both consumed now
        assertEquals(2, s.poll().index());
        assertEquals(3, s.poll().index());
        assertSame(WindowScheduler.HELD_BACK, s.poll());
    }

    @Test
    void partialConsumptionDoesNotReleaseAWindow() {
        WindowScheduler s = scheduler(3, W);
        s.poll();
        s.consumed(0, W / 2);
        assertSame(WindowScheduler.HELD_BACK, s.poll());
        s.consumed(0, W / 2);
        assertEquals(1, s.poll().index());
    }

    @Test
    void aConsumerWaitingBeyondTheBoundGetsItsWindowWithoutLiftingTheBound() {
        WindowScheduler s = scheduler(6, W);
        assertTimeoutPreemptively(Duration.ofSeconds(10), () -> {
            assertEquals(0, s.poll().index());
            // Shuffled order: the consumer wants the last window first, far beyond the bound.
            Thread consumer = Thread.ofPlatform().start(() -> {
                try {
                    s.await(5, 5);
                } catch (InterruptedException | WindowScheduler.WindowFailedException e) {
                    throw new AssertionError(e);
                }
            });
            Window w;
            while ((w = s.poll()) == WindowScheduler.HELD_BACK) {
                Thread.onSpinWait(); // until the consumer's demand is registered
            }
            assertEquals(5, w.index(), "exactly the window asked for, not the stream up to it");
            s.completed(w);
            consumer.join();
            assertTrue(s.consumed(5, W), "its last tensor bytes taken");
            assertSame(WindowScheduler.HELD_BACK, s.poll(), "the bound did not move: window 1 still waits");
            s.consumed(0, W);
            assertEquals(1, s.poll().index());
            for (int i = 1; i <= 4; i++) {
                s.consumed(i, W);
            }
            assertEquals(2, s.poll().index());
            assertEquals(3, s.poll().index());
            assertEquals(4, s.poll().index());
            assertNull(s.poll(), "window 5 was issued once, on demand");
        });
    }

    @Test
    void theBoundFollowsTheReportedHeadroom() {
        AtomicLong headroom = new AtomicLong(4 * W);
        MemoryPressure pressure = new MemoryPressure(headroom::get, System::nanoTime, 0);
        List<Window> windows = new ArrayList<>();
        long[] unconsumed = new long[8];
        for (int i = 0; i < 8; i++) {
            windows.add(new Window(i, 0, i * W, W, i * W));
            unconsumed[i] = W;
        }
        WindowScheduler s = new WindowScheduler(windows, unconsumed, () -> pressure.aheadBound(100 * W));
        assertEquals(0, s.poll().index());
        assertEquals(1, s.poll().index());
        assertSame(WindowScheduler.HELD_BACK, s.poll(), "half of 4 windows' headroom: 2 ahead");
        headroom.set(0);
        s.consumed(0, W);
        s.consumed(1, W);
        assertEquals(2, s.poll().index(), "no headroom: still one window at a time");
        assertSame(WindowScheduler.HELD_BACK, s.poll());
        headroom.set(10 * W);
        assertEquals(3, s.poll().index());
        assertEquals(4, s.poll().index());
        assertEquals(5, s.poll().index());
        assertEquals(6, s.poll().index());
        assertSame(WindowScheduler.HELD_BACK, s.poll(), "half of 10 windows' headroom: 5 ahead");
    }

    @Test
    void windowsShrinkOnlyWhileTheHeadroomCannotHoldTheLoad() {
        long mib = 1 << 20;
        MemoryPressure tight = new MemoryPressure(() -> 64 * mib, System::nanoTime, 0);
        assertEquals(8 * mib, tight.windowBound(32 * mib, 4, 256 * mib), "4 windows in half of 64 MiB");
        assertEquals(32 * mib, tight.windowBound(32 * mib, 4, 32 * mib), "the load fits: as configured");
        MemoryPressure none = new MemoryPressure(() -> 0, System::nanoTime, 0);
        assertEquals(mib, none.windowBound(32 * mib, 4, 256 * mib), "never below 1 MiB");
    }

    @Test
    void theHeadroomIsReadAtMostOncePerInterval() {
        AtomicLong now = new AtomicLong();
        AtomicLong reads = new AtomicLong();
        MemoryPressure pressure = new MemoryPressure(() -> 1000 * reads.incrementAndGet(), now::get, 50);
        assertEquals(500, pressure.aheadBound(1 << 20));
        now.set(49);
        assertEquals(500, pressure.aheadBound(1 << 20));
        assertTrue(pressure.isLow(1001));
        now.set(50);
        assertEquals(1000, pressure.aheadBound(1 << 20));
        assertEquals(2, reads.get());
        assertEquals(100, pressure.aheadBound(100), "never beyond what was configured");
        assertEquals(0, pressure.aheadBound(0), "on demand only stays so");
    }

    @Test
    void aFailureReachesEveryWaiterAndStopsIssuing() {
        WindowScheduler s = scheduler(4, Long.MAX_VALUE);
        assertTimeoutPreemptively(Duration.ofSeconds(10), () -> {
            CountDownLatch waiting = new CountDownLatch(1);
            CompletableFuture<Throwable> seen = CompletableFuture.supplyAsync(() -> {
                waiting.countDown();
                return assertThrows(WindowScheduler.WindowFailedException.class, () -> s.await(2, 3)).getCause();
            });
            waiting.await();
            IOException boom = new IOException("disk on fire");
            s.failed(boom);
            assertSame(boom, seen.get());
            assertNull(s.poll());
            assertThrows(WindowScheduler.WindowFailedException.class, () -> s.await(0, 0));
        });
    }

    @Test
    void windowsWithoutTensorBytesNeverHoldTheBound() {
        List<Window> windows = List.of(new Window(0, 0, 0, W, 0), new Window(1, 0, W, W, W), new Window(2, 0, 2 * W, W, 2 * W));
        WindowScheduler s = new WindowScheduler(windows, new long[] {0, W, W}, W);
        assertEquals(0, s.poll().index());
        assertEquals(1, s.poll().index()); // window 0 holds only header bytes: the bound starts at window 1
        assertSame(WindowScheduler.HELD_BACK, s.poll());
    }
}
