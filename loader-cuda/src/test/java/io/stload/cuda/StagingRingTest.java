package io.stload.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;

/** The ring's scheduling against the CPU copy engine: back-pressure, window reuse, failures and freeing. */
class StagingRingTest {
    private static final long WINDOW = 4096;

    @Test
    void aWindowIsHandedOutAgainOnlyAfterItsCopyCompleted() throws Exception {
        try (FakeCopyEngine engine = new FakeCopyEngine(1 << 20).holdBeforeCopy(0)) {
            long device = engine.allocateDevice(5 * WINDOW);
            AtomicInteger filled = new AtomicInteger();
            AtomicReference<Throwable> failure = new AtomicReference<>();
            try (StagingRing ring = new StagingRing(engine, new RingOptions(2, WINDOW, Pinning.HOST_ALLOC))) {
                Thread filler = new Thread(() -> {
                    try {
                        for (int i = 0; i < 5; i++) {
                            StagingRing.Window w = ring.acquire();
                            w.buffer().fill((byte) (i + 1));
                            filled.incrementAndGet();
                            ring.submit(w, List.of(new CopyEngine.Copy(w.buffer(), device + i * WINDOW)));
                        }
                    } catch (Throwable t) {
                        failure.set(t);
                    }
                });
                filler.start();
                engine.awaitHeld();
                long heldAt = System.nanoTime();
                awaitBlocked(filler);
                // Both windows are filled and queued; the third acquire waits for the first copy.
                assertEquals(2, filled.get());
                assertEquals(0, engine.copiesExecuted());
                long releasedAt = System.nanoTime();
                engine.release();
                filler.join();
                assertNull(failure.get());
                ring.drain();
                // The first copy was held from before heldAt to after releasedAt: its time is in the sum.
                assertTrue(ring.copySeconds() >= (releasedAt - heldAt) / 1e9, String.valueOf(ring.copySeconds()));
            }
            assertNull(engine.overwrittenSource());
            for (int i = 0; i < 5; i++) {
                MemorySegment d = engine.deviceBytes(device + i * WINDOW, WINDOW);
                assertEquals((byte) (i + 1), d.get(ValueLayout.JAVA_BYTE, 0));
                assertEquals((byte) (i + 1), d.get(ValueLayout.JAVA_BYTE, WINDOW - 1));
            }
            assertEquals(0, engine.liveStagingBuffers());
            engine.freeDevice(device);
        }
    }

    @Test
    void aFailedCopySurfacesToEveryLaterCallAndCloseFreesTheWindows() throws Exception {
        try (FakeCopyEngine engine = new FakeCopyEngine(1 << 20).failCopy(1)) {
            long device = engine.allocateDevice(4 * WINDOW);
            StagingRing ring = new StagingRing(engine, new RingOptions(2, WINDOW, Pinning.HOST_ALLOC));
            IOException thrown = assertThrows(IOException.class, () -> {
                for (int i = 0; i < 4; i++) {
                    StagingRing.Window w = ring.acquire();
                    ring.submit(w, List.of(new CopyEngine.Copy(w.buffer(), device + i * WINDOW)));
                }
                ring.drain();
            });
            assertTrue(thrown.getMessage().contains("fake copy 1 failed"), thrown.getMessage());
            assertThrows(IOException.class, ring::acquire);
            assertThrows(IOException.class, ring::drain);
            ring.close();
            assertEquals(0, engine.liveStagingBuffers());
            engine.freeDevice(device);
        }
    }

    @Test
    void closeTriesEveryWindowWhenFreesFailAndKeepsEachError() throws Exception {
        try (FakeCopyEngine engine = new FakeCopyEngine(1 << 20).failFreeStaging(1)) {
            StagingRing ring = new StagingRing(engine, new RingOptions(3, WINDOW, Pinning.HOST_ALLOC));
            IllegalStateException e = assertThrows(IllegalStateException.class, ring::close);
            assertTrue(e.getMessage().contains("staging buffer 1"), e.getMessage());
            assertEquals(1, e.getSuppressed().length, "the third window's free was tried too");
            assertTrue(e.getSuppressed()[0].getMessage().contains("staging buffer 2"));
            assertEquals(2, engine.liveStagingBuffers(), "the first window was freed");
        }
    }

    /** Waits, without sleeping, until the thread parks (it can only park in the ring's wait or an event's). */
    private static void awaitBlocked(Thread t) {
        long deadline = System.nanoTime() + 30_000_000_000L;
        while (t.getState() != Thread.State.WAITING && t.getState() != Thread.State.TIMED_WAITING) {
            if (System.nanoTime() > deadline || !t.isAlive()) {
                throw new AssertionError("the filler never blocked: " + t.getState());
            }
            Thread.onSpinWait();
        }
    }
}
