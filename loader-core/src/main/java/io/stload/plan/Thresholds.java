package io.stload.plan;

import io.stload.StloadException;

/**
 * The AUTO heuristic's constants and the readers' sizes, in one place. Defaults are justified by the benchmark
 * results in docs/benchmarks.md; every one can be overridden (CLI flags {@code --auto-*}, {@code --prefetch-*},
 * {@code --direct-block}, {@code --max-gap}).
 *
 * @param residentForMmap   fraction of a file already in the page cache above which mmap wins (no I/O left)
 * @param smallReadBytes    below this many bytes for the rank, an extra pass costs more than it saves: mmap
 * @param headroomFactor    page cache must hold bytes x this factor, else the cache would thrash: direct
 * @param coldLocal         strategy for large cold reads on local block filesystems (ext4, xfs, btrfs, ...)
 * @param prefetchWindow    bytes populated per prefetch step
 * @param prefetchAhead     bytes the prefetcher may run ahead of the copy (consumer demand may pull it further)
 * @param directBlock       bytes per O_DIRECT read
 * @param maxGapBytes       gaps up to this many bytes between the runs a rank reads are read through rather
 *                          than skipped: a strided slice of many short rows becomes one large read and a
 *                          gather, rows further apart become separate reads. The default is bench/gap.sh's
 *                          measured crossover for direct (docs/tensor-parallelism.md): reading through won
 *                          1.3x and more up to 64 KiB gaps, tied at 128 KiB, lost by a quarter at 256 KiB
 */
public record Thresholds(double residentForMmap, long smallReadBytes, double headroomFactor, LoadStrategy coldLocal,
                         long prefetchWindow, long prefetchAhead, long directBlock, long maxGapBytes) {
    /** The defaults the recorded benchmarks justify (docs/strategies.md). */
    public static final Thresholds DEFAULTS = new Thresholds(0.80, 64L << 20, 1.25, LoadStrategy.DIRECT,
            32L << 20, 1L << 30, 8L << 20, 128L << 10);
    /**
     * The smallest prefetch window and O_DIRECT block: one page. Readers keep an object per window or block in
     * flight, so a 1-byte window made one per byte of the checkpoint (gigabytes of heap, minutes of work).
     */
    public static final long MIN_WINDOW_BYTES = 4096;
    /**
     * The largest prefetch window, O_DIRECT block and gap read through: one GiB, far beyond where larger ones help,
     * and far below where offsets into a file overflow.
     */
    public static final long MAX_WINDOW_BYTES = 1L << 30;
    /** The furthest the prefetcher may run ahead: one TiB. */
    public static final long MAX_AHEAD_BYTES = 1L << 40;

    /**
     * Checks the values.
     *
     * @throws io.stload.StloadException {@link io.stload.ErrorKind#Usage} if {@code coldLocal} is not PREFETCH or
     *         DIRECT, a window or block is outside {@link #MIN_WINDOW_BYTES}..{@link #MAX_WINDOW_BYTES}, the block is
     *         not a multiple of 4 KiB, the ahead is below the window or above {@link #MAX_AHEAD_BYTES}, the gap is
     *         negative or above {@link #MAX_WINDOW_BYTES}, a fraction or factor is negative or not a finite number, or
     *         the small-read size is negative
     */
    public Thresholds {
        if (coldLocal != LoadStrategy.PREFETCH && coldLocal != LoadStrategy.DIRECT) {
            throw StloadException.usage("coldLocal must be prefetch or direct");
        }
        if (prefetchWindow < MIN_WINDOW_BYTES || prefetchWindow > MAX_WINDOW_BYTES || directBlock < MIN_WINDOW_BYTES
                || directBlock > MAX_WINDOW_BYTES || directBlock % 4096 != 0 || prefetchAhead < prefetchWindow
                || prefetchAhead > MAX_AHEAD_BYTES) {
            throw StloadException.usage("the prefetch window and the direct block must be from 4 KiB to 1 GiB, "
                    + "prefetch-ahead from the window to 1 TiB, and the direct block a multiple of 4 KiB");
        }
        if (maxGapBytes < 0 || maxGapBytes > MAX_WINDOW_BYTES) {
            throw StloadException.usage("the largest gap read through must be from 0 to 1 GiB, not " + maxGapBytes);
        }
        if (!(residentForMmap >= 0 && headroomFactor >= 0) || Double.isInfinite(residentForMmap)
                || Double.isInfinite(headroomFactor) || smallReadBytes < 0) {
            throw StloadException.usage("the resident fraction and the headroom factor must be finite and not negative,"
                    + " and the small-read size not negative");
        }
    }

    /**
     * Returns a copy with another strategy for large cold local reads.
     *
     * @param s PREFETCH or DIRECT
     * @return the changed copy
     * @throws io.stload.StloadException {@link io.stload.ErrorKind#Usage} if {@code s} is neither
     */
    public Thresholds withColdLocal(LoadStrategy s) {
        return new Thresholds(residentForMmap, smallReadBytes, headroomFactor, s, prefetchWindow, prefetchAhead, directBlock,
                maxGapBytes);
    }
}
