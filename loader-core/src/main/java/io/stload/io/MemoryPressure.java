package io.stload.io;

import io.stload.host.MemoryHeadroom;
import java.util.function.LongSupplier;

/**
 * The memory headroom as it stands during a load, and what the page-cache strategies do about it. The destination
 * fills the same memory as the load goes on (and the page cache with it), so the headroom is read again, at most
 * once per interval: a read of the cgroup's files costs tens of microseconds, a window's decision must not.
 *
 * <p>Read-ahead may take half of what is left (the other half absorbs what the destination and the windows in
 * flight take meanwhile), so windows read ahead are consumed before the kernel has to reclaim them; while the
 * headroom is below the bytes the load reads, consumed pages are handed back at once instead of pushing out
 * pages that are still to be consumed.
 */
final class MemoryPressure {
    /** Reads every 50 ms at most: a few hundred reads in a minute-long load. */
    static final long INTERVAL_NANOS = 50_000_000L;

    /** No limit known: read-ahead stays as configured and nothing is dropped. */
    static final MemoryPressure NONE = new MemoryPressure(() -> -1, System::nanoTime, Long.MAX_VALUE);

    private final LongSupplier headroom;
    private final LongSupplier clock;
    private final long intervalNanos;
    private final Object lock = new Object();
    private long readAt;
    private long lastHeadroom;
    private boolean everRead;

    /**
     * @param headroom      bytes the load may still fill, -1 when unknown
     * @param clock         nanoseconds, for the interval
     * @param intervalNanos the least time between two reads of {@code headroom}
     */
    MemoryPressure(LongSupplier headroom, LongSupplier clock, long intervalNanos) {
        this.headroom = headroom;
        this.clock = clock;
        this.intervalNanos = intervalNanos;
    }

    /**
     * This host's headroom (MemAvailable capped by the tightest cgroup limit less its usage), starting from a reading
     * just made (the plan's), so that a load reads it again only once the interval has passed.
     */
    static MemoryPressure ofHost(long headroomNow) {
        MemoryPressure p = new MemoryPressure(() -> MemoryHeadroom.read().availableBytes(), System::nanoTime,
                INTERVAL_NANOS);
        p.lastHeadroom = headroomNow;
        p.readAt = System.nanoTime();
        p.everRead = true;
        return p;
    }

    /** The headroom now, read again if the last reading is older than the interval; -1 when unknown. */
    long headroom() {
        synchronized (lock) {
            long now = clock.getAsLong();
            if (!everRead || now - readAt >= intervalNanos) {
                lastHeadroom = headroom.getAsLong();
                readAt = now;
                everRead = true;
            }
            return lastHeadroom;
        }
    }

    /**
     * How far read-ahead may run now: {@code configured}, cut to half the headroom, but never to nothing, so the
     * stream still moves one window at a time when the headroom reads zero (reclaimable cache counts as used).
     */
    long aheadBound(long configured) {
        long h = headroom();
        if (h < 0 || configured <= 0) {
            return configured;
        }
        return Math.min(configured, Math.max(1, h / 2));
    }

    /**
     * The largest window when {@code threads} windows are populated at once: {@code configured}, or under pressure
     * small enough that all of them fit in half the headroom (at least 1 MiB), so none is evicted before its copy.
     */
    long windowBound(long configured, int threads, long loadBytes) {
        long h = headroom();
        if (h < 0 || h >= loadBytes) {
            return configured;
        }
        return Math.min(configured, Math.max(1L << 20, h / 2 / Math.max(1, threads)));
    }

    /** True when the headroom cannot hold {@code loadBytes}: consumed pages should leave the page cache. */
    boolean isLow(long loadBytes) {
        long h = headroom();
        return h >= 0 && h < loadBytes;
    }
}
