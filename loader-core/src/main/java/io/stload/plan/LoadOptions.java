package io.stload.plan;

/**
 * What the caller asks of a load.
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
    public static final LoadOptions DEFAULTS = new LoadOptions(LoadStrategy.AUTO, ReadOrder.FILE, 4, 42, Thresholds.DEFAULTS);

    /** A load of every tensor, whole, by one rank. */
    public LoadOptions(LoadStrategy strategy, ReadOrder order, int threads, long seed, Thresholds thresholds) {
        this(strategy, order, threads, seed, thresholds, Partitioning.NONE);
    }

    /** Every tensor, as this rank holds it. */
    public LoadOptions(LoadStrategy strategy, ReadOrder order, int threads, long seed, Thresholds thresholds,
                       Partitioning partitioning) {
        this(strategy, order, threads, seed, thresholds, partitioning, TensorFilter.ALL);
    }

    public LoadOptions {
        if (threads < 1 || threads > 256) {
            throw new IllegalArgumentException("threads must be in 1..256");
        }
    }

    public LoadOptions withStrategy(LoadStrategy s) {
        return new LoadOptions(s, order, threads, seed, thresholds, partitioning, tensors);
    }

    public LoadOptions withOrder(ReadOrder o) {
        return new LoadOptions(strategy, o, threads, seed, thresholds, partitioning, tensors);
    }

    public LoadOptions withThreads(int n) {
        return new LoadOptions(strategy, order, n, seed, thresholds, partitioning, tensors);
    }

    public LoadOptions withThresholds(Thresholds t) {
        return new LoadOptions(strategy, order, threads, seed, t, partitioning, tensors);
    }

    public LoadOptions withPartitioning(Partitioning p) {
        return new LoadOptions(strategy, order, threads, seed, thresholds, p, tensors);
    }

    public LoadOptions withTensors(TensorFilter f) {
        return new LoadOptions(strategy, order, threads, seed, thresholds, partitioning, f);
    }

    /** Only the tensors matching any of {@code patterns} ({@link TensorFilter}: globs, or {@code re:} regexes). */
    public LoadOptions withTensors(String... patterns) {
        return withTensors(TensorFilter.of(patterns));
    }
}
