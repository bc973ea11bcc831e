package io.stload.nativeio;

import io.stload.StloadException;
import java.lang.foreign.Arena;
import java.util.concurrent.TimeUnit;

/**
 * Closing a shared arena whose memory a caller holds: a view of a checkpoint, a loaded tensor. A JDK method handed a
 * buffer view of that memory ({@code CRC32.update(segment.asByteBuffer())}, a channel's write) keeps the arena
 * acquired until it returns, and closing it meanwhile throws instead of freeing. Such an operation ends on its own;
 * the FFM API offers no way to await it but trying again.
 */
public final class SharedArenas {
    /** How long a close waits for a native operation on the arena's memory to end. */
    private static final long WAIT_NANOS = TimeUnit.SECONDS.toNanos(10);
    /** How long each round tries to close without pause before it sleeps. */
    private static final long SPIN_NANOS = TimeUnit.MILLISECONDS.toNanos(1);

    private SharedArenas() {
    }

    /**
     * Closes {@code arena}, waiting while a native operation holds it; nothing when it is closed already.
     *
     * @param arena the arena
     * @param what  what its memory is to the caller, for the error: "a view of this checkpoint"
     * @throws StloadException {@link io.stload.ErrorKind#Usage} if it is still held after 10 s, or the wait is
     *                         interrupted: the caller closed memory it still uses (the arena stays open; closing
     *                         again retries)
     */
    public static void close(Arena arena, String what) {
        long deadline = System.nanoTime() + WAIT_NANOS;
        for (long pauseMillis = 1; ; pauseMillis = Math.min(2 * pauseMillis, 50)) {
            // Tried in a tight loop for a while first: a caller hashing view after view releases the arena only
            // between two calls, for a moment a sleep would miss.
            long spinUntil = System.nanoTime() + SPIN_NANOS;
            do {
                if (closed(arena)) {
                    return;
                }
                Thread.onSpinWait();
            } while (System.nanoTime() - spinUntil < 0);
            if (System.nanoTime() - deadline > 0) {
                throw StloadException.usage(what + " is still in use by a native operation 10 s after it was "
                        + "closed; close it again once that ends");
            }
            try {
                Thread.sleep(pauseMillis);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw StloadException.usage(what + " is in use by a native operation, and the wait for it to end "
                        + "was interrupted; close it again once that ends");
            }
        }
    }

    /** Closes the arena unless a native operation holds it; {@return whether it is closed} */
    private static boolean closed(Arena arena) {
        if (!arena.scope().isAlive()) {
            return true;
        }
        try {
            arena.close();
            return true;
        } catch (IllegalStateException held) {
            return !arena.scope().isAlive(); // or another thread closed it meanwhile
        }
    }
}
