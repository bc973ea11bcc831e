package io.stload.cli;

import io.stload.plan.LoadOptions;
import io.stload.plan.LoadStrategy;
import io.stload.plan.PartitionSpec;
import io.stload.plan.Partitioning;
import io.stload.plan.ReadOrder;
import io.stload.plan.Sizes;
import io.stload.plan.TensorFilter;
import io.stload.plan.Thresholds;
import java.util.ArrayList;
import java.util.List;
import picocli.CommandLine.Option;

/**
 * The flags {@code plan}, {@code load} and {@code serve} share: strategy, threads, order, the heuristic's
 * constants, the tensor-parallel rank to load, and which tensors.
 */
final class LoadFlags {
    @Option(names = "--load-strategy", paramLabel = "STRATEGY", defaultValue = "auto",
            description = "auto|mmap|prefetch|direct|s3 (s3: only, and automatically, for s3:// checkpoints; default: ${DEFAULT-VALUE}).")
    String strategy;

    @Option(names = "--threads", paramLabel = "N", defaultValue = "4",
            description = "Reads or prefetches in flight, and copy threads (default: ${DEFAULT-VALUE}).")
    int threads;

    @Option(names = "--order", paramLabel = "ORDER", defaultValue = "file",
            description = "Order the consumer asks for tensors: file|shuffled (default: ${DEFAULT-VALUE}).")
    String order;

    @Option(names = "--seed", defaultValue = "42", description = "Seed of the shuffled order (default: ${DEFAULT-VALUE}).")
    long seed;

    @Option(names = "--auto-cold-local", paramLabel = "STRATEGY",
            description = "AUTO: strategy for large cold reads on local disks, prefetch|direct.")
    String coldLocal;

    @Option(names = "--auto-resident", paramLabel = "FRACTION",
            description = "AUTO: page-cache residency above which mmap is chosen (0..1).")
    Double resident;

    @Option(names = "--auto-small", paramLabel = "SIZE", description = "AUTO: rank bytes below which mmap is chosen.")
    String small;

    @Option(names = "--auto-headroom-factor", paramLabel = "X",
            description = "AUTO: direct when memory headroom < rank bytes x X.")
    Double headroomFactor;

    @Option(names = "--prefetch-window", paramLabel = "SIZE", description = "Bytes populated per prefetch step.")
    String prefetchWindow;

    @Option(names = "--prefetch-ahead", paramLabel = "SIZE", description = "Bytes prefetch may run ahead of the copy.")
    String prefetchAhead;

    @Option(names = "--direct-block", paramLabel = "SIZE", description = "Bytes per O_DIRECT read (multiple of 4 KiB).")
    String directBlock;

    @Option(names = "--max-gap", paramLabel = "SIZE",
            description = "Strided slices: gaps up to SIZE between a rank's runs are read through, larger ones skipped"
                    + " (in object storage, 4 KiB at most).")
    String maxGap;

    @Option(names = "--rank", paramLabel = "R", defaultValue = "0",
            description = "Tensor-parallel rank to load, 0..W-1 (default: ${DEFAULT-VALUE}).")
    int rank;

    @Option(names = "--world-size", paramLabel = "W", defaultValue = "1",
            description = "Tensor-parallel ranks; each loads only its slices (default: ${DEFAULT-VALUE}).")
    int worldSize;

    @Option(names = "--partition", paramLabel = "FILE|default|default-experts", defaultValue = PartitionSpec.DEFAULT_NAME,
            description = "Partition rules: a JSON rules file, 'default' for Llama/Qwen/DeepSeek names, or "
                    + "'default-experts' for those with whole MoE experts per rank (default: ${DEFAULT-VALUE}).")
    String partition;

    @Option(names = "--tensors", paramLabel = "PATTERN",
            description = "Only tensors whose whole name matches: a glob (* any characters, dots included; ? one), "
                    + "or re:REGEX; repeatable, any may match (default: every tensor).")
    List<String> tensors = new ArrayList<>();

    Partitioning partitioning() {
        Partitioning rankOnly = new Partitioning(rank, worldSize, PartitionSpec.REPLICATE_ALL);
        return worldSize == 1 ? rankOnly : new Partitioning(rank, worldSize, PartitionSpec.load(partition));
    }

    LoadOptions options() {
        Thresholds d = Thresholds.DEFAULTS;
        Thresholds t;
        try {
            t = new Thresholds(
                    resident != null ? resident : d.residentForMmap(),
                    small != null ? FlagValue.parse("--auto-small", small, Sizes::parse) : d.smallReadBytes(),
                    headroomFactor != null ? headroomFactor : d.headroomFactor(),
                    coldLocal != null ? FlagValue.parse("--auto-cold-local", coldLocal, LoadStrategy::parse)
                            : d.coldLocal(),
                    prefetchWindow != null ? FlagValue.parse("--prefetch-window", prefetchWindow, Sizes::parse)
                            : d.prefetchWindow(),
                    prefetchAhead != null ? FlagValue.parse("--prefetch-ahead", prefetchAhead, Sizes::parse)
                            : d.prefetchAhead(),
                    directBlock != null ? FlagValue.parse("--direct-block", directBlock, Sizes::parse) : d.directBlock(),
                    maxGap != null ? FlagValue.parse("--max-gap", maxGap, Sizes::parse) : d.maxGapBytes());
            return new LoadOptions(FlagValue.parse("--load-strategy", strategy, LoadStrategy::parse),
                    FlagValue.parse("--order", order, ReadOrder::parse), threads, seed, t, partitioning(),
                    TensorFilter.of(tensors));
        } catch (IllegalArgumentException e) {
            throw new io.stload.StloadException(io.stload.ErrorKind.Usage, null, e.getMessage());
        }
    }
}
