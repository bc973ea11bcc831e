package io.stload.plan;

/**
 * What the destination itself takes from the memory the page cache also lives in: the AUTO rule counts it against
 * the headroom, since a destination filling the memory leaves the page cache that much less.
 *
 * @param what        in words, for the decision's reasons: "host memory, the rank's bytes"
 * @param budgetBytes the most it holds at once; -1 when it holds every byte the rank reads
 */
public record DestinationMemory(String what, long budgetBytes) {
    /** Owned host memory: it ends up holding the rank's bytes. */
    public static final DestinationMemory HOST = new DestinationMemory("host memory, the rank's bytes", -1);

    /**
     * A destination that holds at most {@code bytes} at once and lets each slice go as it lands (a device's ring).
     *
     * @param what  the destination in words, for the decision's reasons
     * @param bytes the most it holds at once
     * @return its memory use
     */
    public static DestinationMemory budget(String what, long bytes) {
        return new DestinationMemory(what, bytes);
    }

    /**
     * A streaming consumer's budget: slices are held from their first byte until the consumer takes them.
     *
     * @param budgetBytes the stream's memory budget
     * @return its memory use
     */
    public static DestinationMemory streaming(long budgetBytes) {
        return new DestinationMemory("stream budget", budgetBytes);
    }

    /**
     * Returns the memory the destination takes for a rank.
     *
     * @param rankBytes the bytes the rank reads
     * @return the bytes it holds at most
     */
    public long bytes(long rankBytes) {
        return budgetBytes < 0 ? rankBytes : Math.min(budgetBytes, rankBytes);
    }
}
