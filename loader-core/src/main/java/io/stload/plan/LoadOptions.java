package io.stload.plan;

import io.stload.StloadException;

/**
 * What the caller asks of a load. Immutable: each {@code with} method returns a changed copy.
 *
 * @param strategy   AUTO, or a strategy forced for every file
 * @param order      the order the consumer asks for tensors
 * @param threads    I/O threads (reads or prefetches in flight); copies use at most this many threads too
 * @param seed       seed of the SHUFFLED order
 * @param thresholds the AUTO heuristic's constants and the window sizes
 * @param partitioning which tensor-parallel rank to load, and what each rank holds
 * @param tensors    which tensors to load (a subset by name patterns), all by default
 * @param residentLimitBytes the most bytes of the loader's own memory in the process's resident set, for a container
 *                   whose memory limit counts it (mapped page cache counts in the resident set): 0, the default,
 *                   for none. With a limit, AUTO reads every local file with direct reads into the loader's own
 *                   buffers, never through a mapping, the default stream budget fits under it, and a plan whose
 *                   destination and read buffers would hold more fails ({@link #withResidentLimit})
 */
public record LoadOptions(LoadStrategy strategy, ReadOrder order, int threads, long seed, Thresholds thresholds,
                          Partitioning partitioning, TensorFilter tensors, long residentLimitBytes) {
    /** AUTO strategy, file order, 4 threads, seed 42, default thresholds, one rank, every tensor. */
    public static final LoadOptions DEFAULTS = new LoadOptions(LoadStrategy.AUTO, ReadOrder.FILE, 4, 42, Thresholds.DEFAULTS);

    /**
     * A load of every tensor, whole, by one rank.
     *
     * @param strategy   AUTO, or a strategy forced for every file
     * @param order      the order the consumer asks for tensors
     * @param threads    I/O threads, 1 to 256
     * @param seed       seed of the SHUFFLED order
     * @param thresholds the AUTO heuristic's constants and the window sizes
     */
    public LoadOptions(LoadStrategy strategy, ReadOrder order, int threads, long seed, Thresholds thresholds) {
        this(strategy, order, threads, seed, thresholds, Partitioning.NONE);
    }

    /**
     * Every tensor, as this rank holds it.
     *
     * @param strategy     AUTO, or a strategy forced for every file
     * @param order        the order the consumer asks for tensors
     * @param threads      I/O threads, 1 to 256
     * @param seed         seed of the SHUFFLED order
     * @param thresholds   the AUTO heuristic's constants and the window sizes
     * @param partitioning which tensor-parallel rank to load, and what each rank holds
     */
    public LoadOptions(LoadStrategy strategy, ReadOrder order, int threads, long seed, Thresholds thresholds,
                       Partitioning partitioning) {
        this(strategy, order, threads, seed, thresholds, partitioning, TensorFilter.ALL);
    }

    /**
     * The tensors {@code tensors} selects, as this rank holds them, with no bound on the resident set.
     *
     * @param strategy     AUTO, or a strategy forced for every file
     * @param order        the order the consumer asks for tensors
     * @param threads      I/O threads, 1 to 256
     * @param seed         seed of the SHUFFLED order
     * @param thresholds   the AUTO heuristic's constants and the window sizes
     * @param partitioning which tensor-parallel rank to load, and what each rank holds
     * @param tensors      which tensors to load
     */
    public LoadOptions(LoadStrategy strategy, ReadOrder order, int threads, long seed, Thresholds thresholds,
                       Partitioning partitioning, TensorFilter tensors) {
        this(strategy, order, threads, seed, thresholds, partitioning, tensors, 0);
    }

    /**
     * Checks the thread count and the resident limit.
     *
     * @throws StloadException {@link io.stload.ErrorKind#Usage} if {@code threads} is not in 1..256 or the resident
     *         limit is negative
     */
    public LoadOptions {
        if (strategy == null || order == null || thresholds == null || partitioning == null || tensors == null) {
            throw StloadException.usage("load options need a strategy, an order, thresholds, a partitioning and a"
                    + " tensor filter, none of them null");
        }
        if (threads < 1 || threads > 256) {
            throw StloadException.usage("threads must be in 1..256");
        }
        if (residentLimitBytes < 0) {
            throw StloadException.usage("the resident limit must be 0 (none) or a positive number of bytes, not "
                    + residentLimitBytes);
        }
    }

    /**
     * Returns a copy with another value.
     *
     * @param s the strategy
     * @return the changed copy
     */
    public LoadOptions withStrategy(LoadStrategy s) {
        return new LoadOptions(s, order, threads, seed, thresholds, partitioning, tensors, residentLimitBytes);
    }

    /**
     * Returns a copy with another value.
     *
     * @param o the order
     * @return the changed copy
     */
    public LoadOptions withOrder(ReadOrder o) {
        return new LoadOptions(strategy, o, threads, seed, thresholds, partitioning, tensors, residentLimitBytes);
    }

    /**
     * Returns a copy with another value.
     *
     * @param n the number of I/O threads, 1 to 256
     * @return the changed copy
     */
    public LoadOptions withThreads(int n) {
        return new LoadOptions(strategy, order, n, seed, thresholds, partitioning, tensors, residentLimitBytes);
    }

    /**
     * Returns a copy with another value.
     *
     * @param t the thresholds
     * @return the changed copy
     */
    public LoadOptions withThresholds(Thresholds t) {
        return new LoadOptions(strategy, order, threads, seed, t, partitioning, tensors, residentLimitBytes);
    }

    /**
     * Returns a copy with another value.
     *
     * @param p the rank and partition rules
     * @return the changed copy
     */
    public LoadOptions withPartitioning(Partitioning p) {
        return new LoadOptions(strategy, order, threads, seed, thresholds, p, tensors, residentLimitBytes);
    }

    /**
     * Returns a copy with another value.
     *
     * @param f which tensors to load
     * @return the changed copy
     */
    public LoadOptions withTensors(TensorFilter f) {
        return new LoadOptions(strategy, order, threads, seed, thresholds, partitioning, f, residentLimitBytes);
    }

    /**
     * Returns a copy that loads only the tensors matching any of the patterns.
     *
     * @param patterns globs, or {@code re:} regexes ({@link TensorFilter})
     * @return the changed copy
     * @throws StloadException {@link io.stload.ErrorKind#Usage} for a regular expression that does not compile (a
     *         pattern that matches no tensor fails when the load is planned)
     */
    public LoadOptions withTensors(String... patterns) {
        return withTensors(TensorFilter.of(patterns));
    }

    /**
     * Returns a copy that bounds the loader's own memory in the process's resident set: what a container's memory
     * limit counts where it counts the resident set (RSS), in which the pages of a mapped file that a load touches
     * count too, although the kernel may reclaim them. With a limit, AUTO reads every local file with direct reads
     * (buffered preads where the filesystem refuses O_DIRECT) into the loader's own buffers, never through a mapping
     * (rule {@link DecisionRule#RESIDENT_LIMIT}); the host's headroom is read as at most the limit, so a stream's
     * default budget is a quarter of it; and planning fails with {@link io.stload.ErrorKind#Usage} when what the
     * destination holds plus the direct reads' buffers (one block per I/O thread) would exceed it, or when a strategy
     * that maps files is forced. The JVM's own heap and code are not counted: leave room for them.
     *
     * @param bytes the limit in bytes; 0 for none
     * @return the changed copy
     * @throws StloadException {@link io.stload.ErrorKind#Usage} if {@code bytes} is negative
     */
    public LoadOptions withResidentLimit(long bytes) {
        return new LoadOptions(strategy, order, threads, seed, thresholds, partitioning, tensors, bytes);
    }
}
