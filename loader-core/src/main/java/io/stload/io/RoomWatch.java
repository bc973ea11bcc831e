package io.stload.io;

import io.stload.ErrorKind;
import io.stload.StloadException;
import io.stload.host.MemoryHeadroom;
import io.stload.plan.Sizes;
import java.util.function.LongSupplier;

/**
 * Whether the room a memory cgroup left a load when it started is still there. A load is let in where the room holds
 * what it will allocate ({@link Delivery}), but the other processes of its group (the other ranks of a node, in one
 * container) were let in on the same room, and grow in it at the same time. Past it the kernel evicts the runtime's
 * own code: every load in the group crawls until the kernel kills it. So a load that sees the others take the room it
 * counted on stops first, its memory freed, which leaves the room to them.
 *
 * <p>What the others took is how far the group's room fell, less what this process grew by meanwhile (its own
 * tensors, threads and buffers, which its admission counted).
 */
final class RoomWatch {
    /** Nothing bounds the process (no limit, swap, or counts unknown): nothing to watch. */
    static final RoomWatch NONE = new RoomWatch(() -> -1, () -> -1, 0);

    /** The gap between the process's count of its own pages and its group's (pages on per-CPU lists, not yet counted). */
    static final long TOLERANCE_BYTES = 16L << 20;

    private final LongSupplier room;
    private final LongSupplier own;
    private final long needed;
    private final long roomAtStart;
    private final long ownAtStart;

    /**
     * @param room   the anonymous room the process's memory cgroups leave it now, -1 when nothing bounds it
     * @param own    the anonymous memory this process holds now, -1 when unknown
     * @param needed the most the load allocates for itself, its threads included
     */
    RoomWatch(LongSupplier room, LongSupplier own, long needed) {
        this.room = room;
        this.own = own;
        this.needed = needed;
        this.roomAtStart = room.getAsLong();
        this.ownAtStart = roomAtStart < 0 ? -1 : own.getAsLong();
    }

    /** This host's cgroups and this process, for a load that allocates at most {@code needed} bytes. */
    static RoomWatch ofHost(long needed) {
        return new RoomWatch(() -> MemoryHeadroom.read().anonymousRoomBytes(), MemoryHeadroom::ownAnonymousBytes, needed);
    }

    /**
     * Stops the load where what is left no longer holds what it still allocates, because others took the room. Every
     * load of the group that counted on the same room sees so at about the same time, while the group's reserve
     * still holds what they add as they stop: they fail, each with this error, instead of being killed.
     *
     * @throws StloadException {@link ErrorKind#OutOfMemory} saying how much they took
     */
    void check() {
        if (roomAtStart < 0 || ownAtStart < 0) {
            return;
        }
        long roomNow = room.getAsLong();
        long ownNow = own.getAsLong();
        if (roomNow < 0 || ownNow < 0) {
            return;
        }
        long grew = Math.max(0, ownNow - ownAtStart);
        long stillNeeded = Math.max(0, needed - grew);
        long othersTook = roomAtStart - roomNow - grew;
        if (roomNow < stillNeeded && othersTook > TOLERANCE_BYTES) {
            throw new StloadException(ErrorKind.OutOfMemory, null, "the load stopped short of its memory cgroup's"
                    + " limit: other processes in the group took " + Sizes.human(othersTook) + " of the room it"
                    + " started with, leaving " + Sizes.human(roomNow) + " beside what the process runs in where it"
                    + " needs " + Sizes.human(stillNeeded) + " more, so the kernel would kill it part"
                    + " way (no swap); start the group's loads one after another, or raise its limit");
        }
    }
}
