package io.stload.io;

import java.util.ArrayDeque;
import java.util.List;
import java.util.concurrent.locks.Condition;
import java.util.function.LongSupplier;
import java.util.concurrent.locks.ReentrantLock;

/**
 * Hands windows to I/O threads front to back and lets consumers wait for the windows a tensor needs.
 *
 * <p>Read-ahead is bounded: a window is issued in stream order only while it starts less than the bound past
 * the first window whose tensor bytes are not all consumed yet. The bound is asked for anew at each decision, so
 * it can follow the memory headroom during the load: windows read ahead then stay in memory until they are
 * consumed. A consumer that waits for a window beyond the bound has exactly that window issued next (demand), so
 * a consumer asking in any order never deadlocks against the bound, and the bound stays where it is: a shuffled
 * order does not drag the whole stream ahead of the consumers into memory that cannot hold it. The first failure
 * stops everything and is rethrown to every waiter.
 */
final class WindowScheduler {
    private final List<Window> windows;
    private final LongSupplier aheadBytes;
    private final long[] unconsumed;
    private final boolean[] issued;
    private final boolean[] done;
    private final ArrayDeque<Integer> demanded = new ArrayDeque<>();
    private final ReentrantLock lock = new ReentrantLock();
    private final Condition changed = lock.newCondition();
    private int nextToIssue;
    private int issuedCount;
    private int lowestUnconsumed;
    private Throwable failure;

    /**
     * @param windows    the stream, in order
     * @param unconsumed per window, the tensor bytes consumers will still take from it
     * @param aheadBytes how far issue may run ahead of consumption ({@code Long.MAX_VALUE}: unbounded)
     */
    WindowScheduler(List<Window> windows, long[] unconsumed, long aheadBytes) {
        this(windows, unconsumed, () -> aheadBytes);
    }

    /** @param aheadBytes how far issue may run ahead of consumption now; asked at each decision */
    WindowScheduler(List<Window> windows, long[] unconsumed, LongSupplier aheadBytes) {
        this.windows = List.copyOf(windows);
        this.unconsumed = unconsumed.clone();
        this.aheadBytes = aheadBytes;
        this.issued = new boolean[windows.size()];
        this.done = new boolean[windows.size()];
        advanceLowest();
    }

    int size() {
        return windows.size();
    }

    /** The next window to read, blocking while the bound holds it back; null when all are issued or on failure. */
    Window next() throws InterruptedException {
        lock.lock();
        try {
            Window w;
            while ((w = poll()) == HELD_BACK) {
                changed.await();
            }
            return w;
        } finally {
            lock.unlock();
        }
    }

    /** Returned by {@link #poll()} when a window remains but the read-ahead bound holds it back. */
    static final Window HELD_BACK = new Window(-1, -1, 0, 0, 0);

    /**
     * The next window if it may be issued now: a window a consumer waits for first, else the next in stream order
     * within the bound; {@link #HELD_BACK} if the bound holds that one back, null when none is left.
     */
    Window poll() {
        lock.lock();
        try {
            if (failure != null || issuedCount >= windows.size()) {
                return null;
            }
            Integer wanted;
            while ((wanted = demanded.poll()) != null) {
                if (!issued[wanted]) {
                    return issue(wanted);
                }
            }
            while (issued[nextToIssue]) {
                nextToIssue++;
            }
            return mayIssue(nextToIssue) ? issue(nextToIssue) : HELD_BACK;
        } finally {
            lock.unlock();
        }
    }

    private Window issue(int i) {
        issued[i] = true;
        issuedCount++;
        return windows.get(i);
    }

    private boolean mayIssue(int i) {
        if (lowestUnconsumed >= windows.size()) {
            return true;
        }
        long distance = windows.get(i).streamStart() - windows.get(lowestUnconsumed).streamStart();
        return distance < aheadBytes.getAsLong();
    }

    void completed(Window w) {
        lock.lock();
        try {
            done[w.index()] = true;
            changed.signalAll();
        } finally {
            lock.unlock();
        }
    }

    void failed(Throwable t) {
        lock.lock();
        try {
            if (failure == null) {
                failure = t;
            }
            changed.signalAll();
        } finally {
            lock.unlock();
        }
    }

    /** Waits until windows {@code first..last} are read; rethrows the load's failure, if any. */
    void await(int first, int last) throws InterruptedException, WindowFailedException {
        lock.lock();
        try {
            boolean added = false;
            for (int i = first; i <= last; i++) {
                if (!issued[i]) {
                    demanded.add(i);
                    added = true;
                }
            }
            if (added) {
                changed.signalAll();
            }
            for (int i = first; i <= last; i++) {
                while (!done[i]) {
                    if (failure != null) {
                        throw new WindowFailedException(failure);
                    }
                    changed.await();
                }
            }
            if (failure != null) {
                throw new WindowFailedException(failure);
            }
        } finally {
            lock.unlock();
        }
    }

    /**
     * Records that a consumer took {@code bytes} of window {@code i}'s tensor data; true when that was the last of
     * them, so no consumer needs the window's bytes any more.
     */
    boolean consumed(int i, long bytes) {
        lock.lock();
        try {
            unconsumed[i] -= bytes;
            if (i == lowestUnconsumed && advanceLowest()) {
                changed.signalAll();
            }
            return bytes > 0 && unconsumed[i] == 0;
        } finally {
            lock.unlock();
        }
    }

    private boolean advanceLowest() {
        int before = lowestUnconsumed;
        while (lowestUnconsumed < windows.size() && unconsumed[lowestUnconsumed] == 0) {
            lowestUnconsumed++;
        }
        return lowestUnconsumed != before;
    }

    /** Thrown to a consumer when the background I/O it waits for failed. */
    static final class WindowFailedException extends Exception {
        WindowFailedException(Throwable cause) {
            super(cause);
        }
    }
}
