package io.stload.plan;

import io.stload.ErrorKind;
import io.stload.StloadException;

/**
 * Which rank of a tensor-parallel group this load is for, and the rules that say what each rank holds.
 *
 * @param rank      this process's rank, 0..worldSize-1
 * @param worldSize ranks in the group
 * @param spec      which tensors are split, along which dimension
 */
public record Partitioning(int rank, int worldSize, PartitionSpec spec) {
    /** One rank holding everything. */
    public static final Partitioning NONE = new Partitioning(0, 1, PartitionSpec.REPLICATE_ALL);

    /**
     * Checks the rank against the group's size.
     *
     * @throws StloadException {@link ErrorKind#Usage} for a world size under 1 or a rank outside {@code 0..worldSize-1}
     *                         (or if {@code spec} is null)
     */
    public Partitioning {
        StloadException.requireNonNull(spec,
                "a partitioning needs its partition rules (PartitionSpec.REPLICATE_ALL for none), not null");
        requireRank(rank, worldSize);
    }

    /** A world size of 1 or more, and a rank in {@code 0..worldSize-1}; else {@link ErrorKind#Usage}. */
    static void requireRank(int rank, int worldSize) {
        if (worldSize < 1) {
            throw new StloadException(ErrorKind.Usage, null, "world size must be at least 1, not " + worldSize);
        }
        if (rank < 0 || rank >= worldSize) {
            throw new StloadException(ErrorKind.Usage, null, "rank must be in 0.." + (worldSize - 1) + " for world size "
                    + worldSize + ", not " + rank);
        }
    }
}
