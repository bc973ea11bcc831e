package io.stload.io;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;

import java.io.IOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
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
    void aConsumerWaitingBeyondTheBoundPullsTheStreamForward() {
        WindowScheduler s = scheduler(6, W);
        assertTimeoutPreemptively(Duration.ofSeconds(10), () -> {
            CountDownLatch issuedAll = new CountDownLatch(1);
            Thread io = Thread.ofPlatform().start(() -> {
                try {
                    Window w;
                    while ((w = s.next()) != null) {
                        s.completed(w);
                    }
                    issuedAll.countDown();
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            });
            // Shuffled order: the consumer wants the last window first, far beyond the bound.
            s.await(5, 5);
            issuedAll.await();
            io.join();
            assertNull(s.poll());
        });
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
