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

    /** A destination that holds at most {@code bytes} at once (a streaming budget, a device's staging ring). */
    public static DestinationMemory budget(String what, long bytes) {
        return new DestinationMemory(what, bytes);
    }

    /** Bytes it takes for a rank reading {@code rankBytes}. */
    public long bytes(long rankBytes) {
        return budgetBytes < 0 ? rankBytes : Math.min(budgetBytes, rankBytes);
    }
}
