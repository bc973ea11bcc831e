package io.stload.io;

import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;

/**
 * Keeps the slices consumers wait for within a destination's budget, where the destination holds each slice from its
 * first byte until it has landed (a stream): without it every consumer thread holds a slice at once, so 16 threads
 * of 15 MiB slices hold 240 MiB whatever the budget says, and in a memory cgroup that anonymous memory pushes out the
 * page cache the reads go through until the load thrashes. Consumers pass in plan order (a slice never overtakes an
 * earlier one, so a large slice is not starved by small ones), each once the slices inside leave room for its own;
 * a slice larger than the whole budget passes alone.
 */
final class HoldingGate {
    /** For destinations that hold nothing until landed: every consumer passes at once. */
    static final HoldingGate OPEN = new HoldingGate(Long.MAX_VALUE);

    private final long budgetBytes;
    private final ReentrantLock lock = new ReentrantLock();
    private final Condition changed = lock.newCondition();
    private int nextTurn;
    private long insideBytes;

    HoldingGate(long budgetBytes) {
        this.budgetBytes = budgetBytes;
    }

    /** Waits until the consumer of the plan's {@code turn}-th slice, of {@code bytes}, may hold it. */
    void enter(int turn, long bytes) throws InterruptedException {
        if (this == OPEN) {
            return;
        }
        lock.lock();
        try {
            while (turn != nextTurn || insideBytes > 0 && insideBytes + bytes > budgetBytes) {
                changed.await();
            }
            nextTurn++;
            insideBytes += bytes;
            changed.signalAll();
        } finally {
            lock.unlock();
        }
    }

    /** The slice of {@code bytes} has landed (or its load failed): its room is free. */
    void leave(long bytes) {
        if (this == OPEN) {
            return;
        }
        lock.lock();
        try {
            insideBytes -= bytes;
            changed.signalAll();
        } finally {
            lock.unlock();
        }
    }
}
