package io.stload.cli;

import io.stload.checkpoint.Checkpoint;
import io.stload.plan.LoadOptions;
import io.stload.plan.LoadStrategy;
import io.stload.plan.PartitionSpec;
import io.stload.plan.Partitioning;
import io.stload.plan.ReadOrder;
import io.stload.plan.Sizes;
import io.stload.plan.TensorFilter;
import io.stload.plan.Thresholds;
import io.stload.store.WeightSource;
import java.util.ArrayList;
import java.util.List;
import picocli.CommandLine.Option;

/**
 * The flags {@code plan}, {@code load} and {@code serve} share: strategy, threads, order, the heuristic's
 * constants, the tensor-parallel rank to load, and which tensors.
 */
final class LoadFlags implements CheckedFlags {
    /**
     * The most tensor-parallel ranks a command takes: far beyond any real group, and small enough that every
     * rank's bytes (which {@code plan --json} lists) and {@code reshard}'s rank folders stay a bounded amount of work.
     */
    static final int MAX_WORLD_SIZE = 65_536;
    /** The most reads in flight and copy threads a load takes. */
    static final int MAX_THREADS = 256;
    /** The least prefetch window and direct block, and the unit of the direct block. */
    private static final long MIN_WINDOW = 4096;

    @Option(names = "--load-strategy", paramLabel = "STRATEGY", defaultValue = "auto",
            description = "auto|mmap|prefetch|direct|s3 (s3: only, and automatically, for s3:// checkpoints; default: ${DEFAULT-VALUE}).")
    String strategy;

    @Option(names = "--threads", paramLabel = "N", defaultValue = "4",
            description = "Reads or prefetches in flight, and copy threads (default: ${DEFAULT-VALUE}).")
    int threads;

    @Option(names = "--order", paramLabel = "ORDER", defaultValue = "file",
            description = "Order the consumer asks for tensors: file|shuffled (default: ${DEFAULT-VALUE}).")
    String order;

    /** Null when not given: only a shuffled order reads it. */
    @Option(names = "--seed", description = "Seed of the shuffled order (default: 42).")
    Long seed;

    @Option(names = "--auto-cold-local", paramLabel = "STRATEGY",
            description = "AUTO: strategy for large cold reads on local disks, prefetch|direct (default: direct).")
    String coldLocal;

    @Option(names = "--auto-resident", paramLabel = "FRACTION",
            description = "AUTO: page-cache residency from which mmap is chosen (0..1; above 1: never; "
                    + "default: 0.8).")
    Double resident;

    @Option(names = "--auto-small", paramLabel = "SIZE",
            description = "AUTO: rank bytes below which mmap is chosen (default: 64MiB).")
    String small;

    @Option(names = "--auto-headroom-factor", paramLabel = "X",
            description = "AUTO: direct when memory headroom < rank bytes x X (default: 1.25).")
    Double headroomFactor;

    @Option(names = "--prefetch-window", paramLabel = "SIZE",
            description = "Bytes populated per prefetch step, 4KiB to 1GiB (default: 32MiB).")
    String prefetchWindow;

    @Option(names = "--prefetch-ahead", paramLabel = "SIZE",
            description = "Bytes prefetch may run ahead of the copy, from the window to 1TiB (default: 1GiB).")
    String prefetchAhead;

    @Option(names = "--direct-block", paramLabel = "SIZE",
            description = "Bytes per O_DIRECT read, a multiple of 4KiB up to 1GiB (default: 8MiB).")
    String directBlock;

    @Option(names = "--max-gap", paramLabel = "SIZE",
            description = "Strided slices: gaps up to SIZE between a rank's runs are read through, larger ones skipped"
                    + " (in object storage, 4 KiB at most); at most 1GiB (default: 128KiB).")
    String maxGap;

    @Option(names = "--rank", paramLabel = "R", defaultValue = "0",
            description = "Tensor-parallel rank to load, 0..W-1 (default: ${DEFAULT-VALUE}).")
    int rank;

    @Option(names = "--world-size", paramLabel = "W", defaultValue = "1",
            description = "Tensor-parallel ranks, at most 65536; each loads only its slices (default: ${DEFAULT-VALUE}).")
    int worldSize;

    /** Null when not given: the rules are for a world size above 1. */
    @Option(names = "--partition", paramLabel = "FILE|auto|auto-experts|default|default-experts",
            description = "Partition rules, for --world-size above 1: 'auto' lays each rank out as serving engines do, "
                    + "from the checkpoint's config.json (heads, replicated KV heads, fused parts, padded vocabulary; "
                    + "MoE experts split), 'auto-experts' the same with whole experts per rank; 'default' splits "
                    + "Llama/Qwen/DeepSeek names evenly, 'default-experts' with whole experts; or a JSON rules file "
                    + "(default: " + PartitionSpec.DEFAULT_NAME + ").")
    String partition;

    @Option(names = "--tensors", paramLabel = "PATTERN",
            description = "Only tensors whose whole name matches: a glob (* any characters, dots included; ? one), "
                    + "or re:REGEX; repeatable, any may match (default: every tensor).")
    List<String> tensors = new ArrayList<>();

    /** The rank and its rules; {@code auto} reads the checkpoint's config.json. */
    Partitioning partitioning(Checkpoint checkpoint) {
        checkRank(rank, worldSize);
        Partitioning rankOnly = new Partitioning(rank, worldSize, PartitionSpec.REPLICATE_ALL);
        return worldSize == 1 ? rankOnly : new Partitioning(rank, worldSize, PartitionSpec.load(partition(), checkpoint));
    }

    /** A rank and world size the commands take: {@code 1 <= W <= MAX_WORLD_SIZE}, {@code 0 <= R < W}. */
    static void checkRank(int rank, int worldSize) {
        FlagValue.inRange("--world-size", worldSize, 1, MAX_WORLD_SIZE);
        FlagValue.inRange("--rank", rank, 0, worldSize - 1);
    }

    /** Every flag, the partition rules for {@code checkpoint}'s rank. */
    LoadOptions options(Checkpoint checkpoint) {
        LoadOptions o = options();
        return o.withPartitioning(partitioning(checkpoint));
    }

    /** Every flag, the partition rules for a served checkpoint's rank; {@code auto} reads its config.json. */
    LoadOptions options(WeightSource served) {
        checkRank(rank, worldSize);
        if (worldSize == 1 || !PartitionSpec.readsConfig(partition())) {
            return options().withPartitioning(new Partitioning(rank, worldSize,
                    worldSize == 1 ? PartitionSpec.REPLICATE_ALL : PartitionSpec.load(partition())));
        }
        try (Checkpoint c = served.open()) {
            return options(c);
        }
    }

    private String partition() {
        return partition != null ? partition : PartitionSpec.DEFAULT_NAME;
    }

    @Override
    public void check() {
        checkRank(rank, worldSize);
        if (worldSize == 1 && partition != null && !PartitionSpec.readsConfig(partition)) {
            // Nothing to split, but a launcher may pass its rules whatever the world size: they must be rules.
            FlagValue.parse("--partition", partition, PartitionSpec::load);
        }
        options();
    }

    /** Every flag but the partition rules (one rank holding everything): checked before any checkpoint is read. */
    LoadOptions options() {
        FlagValue.inRange("--threads", threads, 1, MAX_THREADS);
        if (resident != null) {
            FlagValue.atLeast("--auto-resident", resident, 0); // above 1: never
        }
        if (headroomFactor != null) {
            FlagValue.atLeast("--auto-headroom-factor", headroomFactor, 0);
        }
        Thresholds d = Thresholds.DEFAULTS;
        LoadStrategy cold = coldLocal != null ? FlagValue.parse("--auto-cold-local", coldLocal, LoadStrategy::parse)
                : d.coldLocal();
        if (cold != LoadStrategy.PREFETCH && cold != LoadStrategy.DIRECT) {
            throw FlagValue.usage("--auto-cold-local: must be prefetch or direct, not " + coldLocal);
        }
        long window = prefetchWindow == null ? d.prefetchWindow()
                : FlagValue.size("--prefetch-window", prefetchWindow, MIN_WINDOW, Thresholds.MAX_WINDOW_BYTES);
        long ahead = prefetchAhead == null ? d.prefetchAhead()
                : FlagValue.size("--prefetch-ahead", prefetchAhead, MIN_WINDOW, Thresholds.MAX_AHEAD_BYTES);
        if (ahead < window) {
            throw FlagValue.usage("--prefetch-ahead (" + Sizes.human(ahead) + ") must be at least --prefetch-window ("
                    + Sizes.human(window) + ")");
        }
        long block = directBlock == null ? d.directBlock()
                : FlagValue.size("--direct-block", directBlock, MIN_WINDOW, Thresholds.MAX_WINDOW_BYTES);
        if (block % MIN_WINDOW != 0) {
            throw FlagValue.usage("--direct-block: must be a multiple of 4 KiB, not " + directBlock);
        }
        Thresholds t;
        try {
            t = new Thresholds(
                    resident != null ? resident : d.residentForMmap(),
                    small != null ? FlagValue.parse("--auto-small", small, Sizes::parse) : d.smallReadBytes(),
                    headroomFactor != null ? headroomFactor : d.headroomFactor(),
                    cold, window, ahead, block,
                    maxGap == null ? d.maxGapBytes()
                            : FlagValue.size("--max-gap", maxGap, 0, Thresholds.MAX_WINDOW_BYTES));
            LoadStrategy forced = FlagValue.parse("--load-strategy", strategy, LoadStrategy::parse);
            ReadOrder readOrder = FlagValue.parse("--order", order, ReadOrder::parse);
            if (seed != null && readOrder != ReadOrder.SHUFFLED) {
                throw FlagValue.usage("--seed does not apply to --order " + order + " (it is for --order shuffled)");
            }
            return new LoadOptions(forced, readOrder, threads, seed != null ? seed : LoadOptions.DEFAULTS.seed(), t,
                    Partitioning.NONE, TensorFilter.of(tensors));
        } catch (IllegalArgumentException e) {
            // The checks above cover what the library refuses; this keeps any it adds a usage error too.
            throw FlagValue.usage(e.getMessage());
        }
    }
}
