package io.stload.io;

import java.io.IOException;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.IntSupplier;

/**
 * A reader's files that are open (or mapped) at once, never more than a bound: a file is opened when the plan
 * reaches it, and the least recently used idle one is closed to make room for another. So a checkpoint of tens of
 * thousands of shards holds a few descriptors and mappings, not one per shard; one with fewer shards than the
 * bound opens each once, as if all were opened up front.
 *
 * <p>A file in use (a read or a copy running, a view of its mapping handed to a consumer) is counted and never
 * closed under its user: between {@link #acquire} and {@link #release} it stays open. When every open file is in
 * use, the next {@link #acquire} waits for a release. What is still open is closed by {@link #close}, once no
 * engine thread runs.
 */
final class OpenFiles<R> implements AutoCloseable {
    /** Opens the file with the given index in the reader's file list. */
    @FunctionalInterface
    interface Opener<R> {
        R open(int file) throws IOException;
    }

    /** Closes what {@link Opener} opened. */
    @FunctionalInterface
    interface Closer<R> {
        void close(R resource) throws IOException;
    }

    /** Open at once, whatever the threads: enough that a checkpoint of a few dozen shards never reopens one. */
    static final int MIN_BOUND = 64;

    private static final class Entry<R> {
        R resource;
        int users;
        boolean opening = true;
    }

    private final int bound;
    private final Opener<R> opener;
    private final Closer<R> closer;
    /** In access order: iteration starts at the least recently used. */
    private final LinkedHashMap<Integer, Entry<R>> open = new LinkedHashMap<>(16, 0.75f, true);
    private final ReentrantLock lock = new ReentrantLock();
    private final Condition changed = lock.newCondition();
    private final List<IOException> closeFailures = new ArrayList<>();
    /** Evicted and being closed, outside the lock: they still count against the bound. */
    private int closing;
    /** Opened and not yet closed. */
    private int live;
    private int peak;
    private boolean closed;

    OpenFiles(int bound, Opener<R> opener, Closer<R> closer) {
        if (bound < 1) {
            throw new IllegalArgumentException("bound must be positive: " + bound);
        }
        this.bound = bound;
        this.opener = opener;
        this.closer = closer;
    }

    /**
     * The bound for a reader with {@code threads} I/O threads and as many consumers: each thread holds at most one
     * file at a time, so with this bound an acquire never waits for a file in use.
     */
    static int boundFor(int threads) {
        return Math.max(MIN_BOUND, 2 * threads);
    }

    /** The file, opened if it is not; held open until the matching {@link #release}. */
    R acquire(int file) throws IOException, InterruptedException {
        Entry<R> e;
        Entry<R> evicted = null;
        lock.lock();
        try {
            while (true) {
                if (closed) {
                    throw new IllegalStateException("files used after the reader was closed");
                }
                e = open.get(file);
                if (e != null && !e.opening) {
                    e.users++;
                    return e.resource;
                }
                if (e == null) {
                    if (open.size() + closing < bound) {
                        break;
                    }
                    evicted = removeLeastRecentlyUsedIdle();
                    if (evicted != null) {
                        closing++;
                        break;
                    }
                }
                changed.await(); // another thread opens this file, or every open file is in use
            }
            e = new Entry<>();
            e.users = 1;
            open.put(file, e);
        } finally {
            lock.unlock();
        }
        // Outside the lock, the evicted one first: closing one file (unmapping waits for every thread to leave
        // its memory) or opening one (a remote one may take a round trip) holds up no other.
        if (evicted != null) {
            closeEvicted(evicted.resource);
        }
        R resource = null;
        try {
            resource = opener.open(file);
            return resource;
        } finally {
            lock.lock();
            try {
                if (resource == null) {
                    open.remove(file);
                } else {
                    e.resource = resource;
                    e.opening = false;
                    peak = Math.max(peak, ++live);
                }
                changed.signalAll();
            } finally {
                lock.unlock();
            }
        }
    }

    /** Ends one use of {@code file} begun by {@link #acquire}; it stays open until room is needed. */
    void release(int file) {
        lock.lock();
        try {
            Entry<R> e = open.get(file);
            if (e == null || e.users == 0) {
                throw new IllegalStateException("file " + file + " released more often than acquired");
            }
            if (--e.users == 0) {
                changed.signalAll();
            }
        } finally {
            lock.unlock();
        }
    }

    private Entry<R> removeLeastRecentlyUsedIdle() {
        for (Iterator<Map.Entry<Integer, Entry<R>>> it = open.entrySet().iterator(); it.hasNext(); ) {
            Entry<R> e = it.next().getValue();
            if (!e.opening && e.users == 0) {
                it.remove();
                return e;
            }
        }
        return null;
    }

    private void closeEvicted(R resource) {
        IOException failure = null;
        try {
            closer.close(resource);
        } catch (IOException x) {
            failure = x;
        } finally {
            lock.lock();
            try {
                if (failure != null) {
                    // Nobody waits on this file any more: the failure is the load's, reported when it ends.
                    closeFailures.add(failure);
                }
                closing--;
                live--;
                changed.signalAll();
            } finally {
                lock.unlock();
            }
        }
    }

    /** Files open now. */
    int size() {
        return locked(() -> live);
    }

    /** The most files that were open at once. */
    int peak() {
        return locked(() -> peak);
    }

    private int locked(IntSupplier count) {
        lock.lock();
        try {
            return count.getAsInt();
        } finally {
            lock.unlock();
        }
    }

    /**
     * Closes every file still open, and reports the first failure of this or an earlier close (the others
     * suppressed by it). Only once no thread uses a file.
     */
    @Override
    public void close() throws IOException {
        lock.lock();
        try {
            closed = true;
            for (Entry<R> e : open.values()) {
                if (e.resource != null) {
                    live--;
                    try {
                        closer.close(e.resource);
                    } catch (IOException failure) {
                        closeFailures.add(failure);
                    }
                }
            }
            open.clear();
            changed.signalAll();
            if (!closeFailures.isEmpty()) {
                IOException first = closeFailures.getFirst();
                closeFailures.stream().skip(1).forEach(first::addSuppressed);
                closeFailures.clear();
                throw first;
            }
        } finally {
            lock.unlock();
        }
    }
}
