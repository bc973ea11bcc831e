package io.stload.plan;

import io.stload.StloadException;

/**
 * How a destination uses memory, said once: the planner's AUTO rule counts what it takes from the memory the page
 * cache lives in, and the engine sizes its windows and its read-ahead by it. A destination returns one from
 * {@code Destination.profile()}; nothing else about its memory is asked.
 *
 * @param what              the destination in words, for the decision's reasons: "host memory", "stream budget"
 * @param holding           how long it holds the bytes it is given
 * @param budgetBytes       for {@link Holding#AT_MOST} and {@link Holding#UNTIL_LANDED}, the most it holds at once;
 *                          0 asks for {@link #defaultBudget} of the host's headroom
 * @param inPlaceSliceBytes the least size of a contiguous slice whose own memory takes a read window lying wholly
 *                          within it: the engine then cuts its windows at both ends of such slices, so that all but a
 *                          page at each end lands in place; {@code Long.MAX_VALUE} for no cuts
 * @param windowBytes       the bytes per read window it wants (a staging ring reads in its own window size); 0
 *                          leaves the strategy's own
 */
public record DestinationProfile(String what, Holding holding, long budgetBytes, long inPlaceSliceBytes,
                                 long windowBytes) {
    /** How long a destination holds the bytes a load gives it, which decides what it takes from host memory. */
    public enum Holding {
        /** Memory of its own the page cache does not share (a device, the caller's memory allocated beforehand). */
        NONE,
        /** Every byte of the rank, until the caller frees it: owned host memory. */
        RANK_BYTES,
        /** At most its budget at once, each window let go as it lands (a device's staging ring). */
        AT_MOST,
        /** Each slice from its first byte until its consumer returns, at most its budget at once (a stream). */
        UNTIL_LANDED
    }

    /** One GiB: the most a default budget holds. */
    public static final long MOST_DEFAULT_BUDGET = 1L << 30;
    /** The least default budget: room for a few windows when the headroom reads (nearly) nothing. */
    public static final long LEAST_DEFAULT_BUDGET = 16L << 20;

    /** Owned host memory: it ends up holding the rank's bytes. */
    public static final DestinationProfile HOST = new DestinationProfile("host memory, the rank's bytes",
            Holding.RANK_BYTES, 0, Long.MAX_VALUE, 0);

    /** Memory of the destination's own that the page cache does not share; the default of a destination. */
    public static final DestinationProfile EXTERNAL = new DestinationProfile("memory of the destination's own",
            Holding.NONE, 0, Long.MAX_VALUE, 0);

    /**
     * Checks the values.
     *
     * @throws StloadException {@link io.stload.ErrorKind#Usage} for a negative budget or window, or a budget of 1;
     *         if {@code what} or {@code holding} is null
     */
    public DestinationProfile {
        if (what == null || holding == null) {
            throw StloadException.usage("a destination's profile says what it is and how it holds bytes, not null");
        }
        if (budgetBytes < 0 || budgetBytes == 1 || windowBytes < 0 || inPlaceSliceBytes < 1) {
            throw StloadException.usage("a destination's budget must be 0 (the default) or at least 2 bytes, its"
                    + " window 0 or positive and its in-place slice size positive");
        }
    }

    /**
     * The budget to use when none is given: {@link #MOST_DEFAULT_BUDGET}, but never more than a quarter of the memory
     * {@code headroomBytes} leaves (-1: unknown), since the page cache the reads go through, direct reads' bounce
     * buffers and the runtime's own growth share that memory; so a load in a 512 MiB container streams within it
     * with no flag.
     *
     * @param headroomBytes the memory available, or -1 when unknown
     * @return the budget in bytes
     */
    public static long defaultBudget(long headroomBytes) {
        if (headroomBytes < 0) {
            return MOST_DEFAULT_BUDGET;
        }
        return Math.min(MOST_DEFAULT_BUDGET, Math.max(LEAST_DEFAULT_BUDGET, headroomBytes / 4));
    }

    /**
     * The budget this profile holds to on a host, its default resolved. A stream's budget, given or default, is held
     * within half the memory a cgroup can still give the process ({@link HostFacts#anonymousRoomBytes()}): its buffers
     * are memory the kernel cannot reclaim, and past that room it kills the process instead of failing an allocation.
     *
     * @param host what was measured about the host
     * @return the most bytes held at once
     * @throws StloadException {@link io.stload.ErrorKind#Usage} if {@code host} is null
     */
    public long budgetOn(HostFacts host) {
        requireHost(host);
        long budget = budgetBytes > 0 ? budgetBytes : defaultBudget(host.headroomBytes());
        long room = host.anonymousRoomBytes();
        return holding == Holding.UNTIL_LANDED && room >= 0 ? Math.min(budget, Math.max(2, room / 2)) : budget;
    }

    /**
     * What the destination takes from the memory the page cache lives in, for a rank.
     *
     * @param rankBytes the bytes the rank reads
     * @param host      what was measured about the host
     * @return the bytes it holds at most
     * @throws StloadException {@link io.stload.ErrorKind#Usage} if {@code host} is null
     */
    public long heldBytes(long rankBytes, HostFacts host) {
        requireHost(host);
        return switch (holding) {
            case NONE -> 0;
            case RANK_BYTES -> rankBytes;
            case AT_MOST, UNTIL_LANDED -> Math.min(budgetOn(host), rankBytes);
        };
    }

    /**
     * The bytes of host memory the destination holds at one moment however the load goes, beside nothing else: the
     * rank's bytes for host memory, the largest slice for a stream (which holds each slice whole), none otherwise.
     * Where a memory cgroup cannot give this much ({@link HostFacts#anonymousRoomBytes()}), a load is refused.
     *
     * @param rankBytes    the bytes of the rank's slices
     * @param largestSlice the bytes of its largest slice
     * @return the bytes
     */
    public long unavoidableBytes(long rankBytes, long largestSlice) {
        return switch (holding) {
            case RANK_BYTES -> rankBytes;
            case UNTIL_LANDED -> largestSlice;
            case NONE, AT_MOST -> 0;
        };
    }

    private static void requireHost(HostFacts host) {
        StloadException.requireNonNull(host, "a budget is resolved on the host's facts, not null");
    }
}
