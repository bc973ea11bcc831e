package io.stload.cli;

import io.stload.checkpoint.Checkpoint;
import io.stload.plan.LoadOptions;
import io.stload.plan.PartitionSpec;
import io.stload.plan.Partitioning;
import io.stload.plan.Resharder;
import java.io.PrintWriter;
import java.nio.file.InvalidPathException;
import java.nio.file.Path;
import java.util.Optional;

/**
 * What {@code load} (and {@code plan}) {@code PATH --rank R --world-size W} reads: rank R's folder, whole, when PATH came from
 * {@code reshard} (its slices were cut when it was written), else PATH itself under the partition rules.
 */
record RankFolder(Optional<Path> folder, LoadFlags flags) {
    static RankFolder of(String path, LoadFlags flags) {
        LoadFlags.checkRank(flags.rank, flags.worldSize);
        // Neither an empty PATH (not the working folder) nor one no path can be (a NUL) is a resharded folder: opening
        // the checkpoint refuses both.
        Optional<Path> folder = Optional.empty();
        try {
            if (!path.isEmpty()) {
                folder = Resharder.rankFolder(Path.of(path), flags.rank, flags.worldSize);
            }
        } catch (InvalidPathException e) {
            // stays empty
        }
        return new RankFolder(folder, flags);
    }

    Checkpoint open(String path, SourceFlags source, PrintWriter err) {
        return folder.isPresent() ? Checkpoint.open(folder.get()) : source.open(path, err);
    }

    /** The load's options; the partition rules ({@code auto}: from its config.json) for {@code checkpoint}. */
    LoadOptions options(Checkpoint checkpoint) {
        return folder.isPresent()
                ? flags.options().withPartitioning(new Partitioning(flags.rank, flags.worldSize, PartitionSpec.REPLICATE_ALL))
                : flags.options(checkpoint);
    }
}
