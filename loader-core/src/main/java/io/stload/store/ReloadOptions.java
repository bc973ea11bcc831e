package io.stload.store;

import java.time.Duration;
import java.util.List;

/**
 * How a reload publishes the new version.
 *
 * @param quiesce        stop new leases and wait for the live ones to close before publishing, so the flush
 *                       hooks run while nothing reads the weights; otherwise publish at once and never wait
 * @param quiesceTimeout how long a quiesced reload waits for live leases before it rolls back
 * @param flushHooks     run in order while quiesced; only meaningful with {@code quiesce}
 */
public record ReloadOptions(boolean quiesce, Duration quiesceTimeout, List<FlushHook> flushHooks) {
    /** Publish as soon as the new version is loaded; readers keep their version until their leases close. */
    public static final ReloadOptions IMMEDIATE = new ReloadOptions(false, Duration.ZERO, List.of());

    /**
     * Copies the hooks and checks the options.
     *
     * @throws IllegalArgumentException if the timeout is negative, or hooks are given without {@code quiesce}
     */
    public ReloadOptions {
        flushHooks = List.copyOf(flushHooks);
        if (quiesceTimeout.isNegative()) {
            throw new IllegalArgumentException("quiesce timeout must not be negative");
        }
        if (!quiesce && !flushHooks.isEmpty()) {
            // Outside a quiesce, readers of the old version may still be running while a hook flushes.
            throw new IllegalArgumentException("flush hooks need a quiesced reload");
        }
    }

    /**
     * A reload that waits for live leases to close, then runs the hooks, then publishes.
     *
     * @param timeout how long to wait for live leases before rolling back
     * @param hooks   run in order while quiesced
     * @return the options
     */
    public static ReloadOptions quiesced(Duration timeout, FlushHook... hooks) {
        return new ReloadOptions(true, timeout, List.of(hooks));
    }
}
