package io.stload.plan;

import java.util.AbstractList;
import java.util.HashMap;
import java.util.Map;

/**
 * Slice bytes per rank, indexed by rank, for a plan: this rank's are known; another rank's are computed when
 * first asked for, and only the ranks asked for are kept, so planning one rank of W costs the same for any W.
 */
final class RankBytes extends AbstractList<Long> {
    private final RankSlices.Matched matched;
    private final int worldSize;
    private final Map<Integer, Long> known = new HashMap<>();

    RankBytes(RankSlices.Matched matched, int worldSize, int rank, long rankBytes) {
        this.matched = matched;
        this.worldSize = worldSize;
        known.put(rank, rankBytes);
    }

    @Override
    public synchronized Long get(int rank) {
        if (rank < 0 || rank >= worldSize) {
            throw new IndexOutOfBoundsException("rank " + rank + " of " + worldSize);
        }
        return known.computeIfAbsent(rank, matched::bytes);
    }

    @Override
    public int size() {
        return worldSize;
    }
}
