package io.stload.cli;

import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

/**
 * Stops a command that writes files cleanly on SIGINT or SIGTERM while this is open. The JVM runs shutdown hooks
 * while the command's thread goes on writing; so the hook interrupts that thread, whose next operation on a file
 * channel fails (channels are interruptible), which lets the writer delete what it had begun as it unwinds. The
 * hook waits for the command to leave this block; only if it has not within a bounded time does it run
 * {@code fallback} to remove what is left, before the JVM halts. Closing it normally removes the hook.
 */
final class StopOnSignal implements AutoCloseable {
    /** How long the hook waits for the command to unwind before it cleans up itself. */
    private static final long UNWIND_SECONDS = 10;

    private final Thread worker = Thread.currentThread();
    private final CountDownLatch left = new CountDownLatch(1);
    private final ShutdownHook hook;
    private volatile boolean stopping;

    StopOnSignal(Runnable fallback) {
        hook = new ShutdownHook(() -> {
            stopping = true;
            worker.interrupt();
            boolean unwound = false;
            try {
                unwound = left.await(UNWIND_SECONDS, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            if (!unwound) { // a command that left has cleaned up, or finished: what it wrote stays
                fallback.run();
            }
        });
    }

    /** {@return whether a signal is stopping the command} (an I/O error it sees now is that, not a disk's) */
    boolean stopping() {
        return stopping;
    }

    @Override
    public void close() {
        left.countDown();
        hook.close();
    }
}
