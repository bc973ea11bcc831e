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
 */
public record LoadOptions(LoadStrategy strategy, ReadOrder order, int threads, long seed, Thresholds thresholds,
                          Partitioning partitioning, TensorFilter tensors) {
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
     * Checks the thread count.
     *
     * @throws io.stload.StloadException {@link io.stload.ErrorKind#Usage} if {@code threads} is not in 1..256
     */
    public LoadOptions {
        if (threads < 1 || threads > 256) {
            throw StloadException.usage("threads must be in 1..256");
        }
    }

    /**
     * Returns a copy with another value.
     *
     * @param s the strategy
     * @return the changed copy
     */
    public LoadOptions withStrategy(LoadStrategy s) {
        return new LoadOptions(s, order, threads, seed, thresholds, partitioning, tensors);
    }

    /**
     * Returns a copy with another value.
     *
     * @param o the order
     * @return the changed copy
     */
    public LoadOptions withOrder(ReadOrder o) {
        return new LoadOptions(strategy, o, threads, seed, thresholds, partitioning, tensors);
    }

    /**
     * Returns a copy with another value.
     *
     * @param n the number of I/O threads, 1 to 256
     * @return the changed copy
     */
    public LoadOptions withThreads(int n) {
        return new LoadOptions(strategy, order, n, seed, thresholds, partitioning, tensors);
    }

    /**
     * Returns a copy with another value.
     *
     * @param t the thresholds
     * @return the changed copy
     */
    public LoadOptions withThresholds(Thresholds t) {
        return new LoadOptions(strategy, order, threads, seed, t, partitioning, tensors);
    }

    /**
     * Returns a copy with another value.
     *
     * @param p the rank and partition rules
     * @return the changed copy
     */
    public LoadOptions withPartitioning(Partitioning p) {
        return new LoadOptions(strategy, order, threads, seed, thresholds, p, tensors);
    }

    /**
     * Returns a copy with another value.
     *
     * @param f which tensors to load
     * @return the changed copy
     */
    public LoadOptions withTensors(TensorFilter f) {
        return new LoadOptions(strategy, order, threads, seed, thresholds, partitioning, f);
    }

    /**
     * Returns a copy that loads only the tensors matching any of the patterns.
     *
     * @param patterns globs, or {@code re:} regexes ({@link TensorFilter})
     * @return the changed copy
     * @throws io.stload.StloadException {@link io.stload.ErrorKind#Usage} if a pattern is invalid
     */
    public LoadOptions withTensors(String... patterns) {
        return withTensors(TensorFilter.of(patterns));
    }
}
