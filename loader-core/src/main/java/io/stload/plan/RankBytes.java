package io.stload.plan;

import java.util.AbstractList;
import java.util.Arrays;

/**
 * Slice bytes per rank, indexed by rank, for a plan: this rank's are known; another rank's are computed when
 * first asked for, so planning one rank of W costs the same for any W.
 */
final class RankBytes extends AbstractList<Long> {
    private final RankSlices.Matched matched;
    private final int worldSize;
    private long[] known;

    RankBytes(RankSlices.Matched matched, int worldSize, int rank, long rankBytes) {
        this.matched = matched;
        this.worldSize = worldSize;
        this.known = new long[0];
        remember(rank, rankBytes);
    }

    @Override
    public synchronized Long get(int rank) {
        if (rank < 0 || rank >= worldSize) {
            throw new IndexOutOfBoundsException("rank " + rank + " of " + worldSize);
        }
        if (rank >= known.length || known[rank] < 0) {
            remember(rank, matched.bytes(rank));
        }
        return known[rank];
    }

    @Override
    public int size() {
        return worldSize;
    }

    private void remember(int rank, long bytes) {
        if (rank >= known.length) {
            int old = known.length;
            known = Arrays.copyOf(known, Math.min(worldSize, Math.max(rank + 1, 2 * old)));
            Arrays.fill(known, old, known.length, -1);
        }
        known[rank] = bytes;
    }
}
