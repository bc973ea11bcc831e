package io.stload.io;

import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.LongSupplier;

/**
 * Lets threads in while the bytes they hold inside fit a room, asked for anew at each decision; one always gets in,
 * however large, so work moves when the room reads nothing. Holders may also pass in turns (a slice never overtakes
 * an earlier one, so a large slice is not starved by small ones).
 *
 * <p>Two uses. A destination holding each slice from its first byte until it has landed (a stream): without a gate
 * every consumer thread holds a slice at once, so 16 threads of 15 MiB slices hold 240 MiB whatever the budget says,
 * and in a memory cgroup that anonymous memory pushes out the page cache the reads go through until the load
 * thrashes. And windows populated in the page cache under memory pressure: each thread's window has a floor, so
 * without a gate 64 threads populate 64 MiB at once into a cgroup with room for 20, and the kernel evicts pages
 * populated for a copy before it runs.
 */
final class RoomGate {
    /** Every thread passes at once. */
    static final RoomGate OPEN = new RoomGate(() -> Long.MAX_VALUE);

    private final LongSupplier room;
    private final ReentrantLock lock = new ReentrantLock();
    private final Condition changed = lock.newCondition();
    private int nextTurn;
    private long insideBytes;

    /** @param room the most bytes held inside at once, now */
    RoomGate(LongSupplier room) {
        this.room = room;
    }

    /** Waits until {@code bytes} fit beside the bytes inside, then holds them. */
    void enter(long bytes) throws InterruptedException {
        enter(-1, bytes);
    }

    /** As {@link #enter(long)}, once every turn before {@code turn} (counted from 0) has entered. */
    void enterInTurn(int turn, long bytes) throws InterruptedException {
        enter(turn, bytes);
    }

    private void enter(int turn, long bytes) throws InterruptedException {
        if (this == OPEN) {
            return;
        }
        lock.lock();
        try {
            while (turn >= 0 && turn != nextTurn || insideBytes > 0 && insideBytes + bytes > room.getAsLong()) {
                changed.await();
            }
            if (turn >= 0) {
                nextTurn++;
            }
            insideBytes += bytes;
            changed.signalAll();
        } finally {
            lock.unlock();
        }
    }

    /** The {@code bytes} one holder held are free. */
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
