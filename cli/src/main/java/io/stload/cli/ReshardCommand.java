package io.stload.cli;

import io.stload.ErrorKind;
import io.stload.Printable;
import io.stload.StloadException;
import io.stload.checkpoint.Checkpoint;
import io.stload.checkpoint.ShardedWriter;
import io.stload.nativeio.FileChecks;
import io.stload.plan.PartitionSpec;
import io.stload.plan.Partitioning;
import io.stload.plan.RankSlices;
import io.stload.plan.Resharder;
import io.stload.plan.Sizes;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.List;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** {@code stload reshard IN OUT --world-size W}: one pre-sliced checkpoint per rank, which {@code load --rank} reads. */
@Command(name = "reshard", description = "Write one pre-sliced checkpoint per tensor-parallel rank (OUT/rank-NNNNN/), "
        + "so each rank reads one contiguous file; `load OUT --rank R --world-size W` reads rank R's.")
final class ReshardCommand extends StloadCommand {
    @Parameters(index = "0", paramLabel = "IN", description = SourceFlags.PATH_HELP)
    String in;

    @Parameters(index = "1", paramLabel = "OUT", description = "Folder to create (must not exist, or be empty).")
    Path out;

    @Mixin
    SourceFlags source;

    @Option(names = "--world-size", paramLabel = "W", required = true, description = "Tensor-parallel ranks.")
    int worldSize;

    @Option(names = "--partition", paramLabel = "FILE|auto|auto-experts|default|default-experts",
            defaultValue = PartitionSpec.DEFAULT_NAME,
            description = "Partition rules, as for load (default: ${DEFAULT-VALUE}).")
    String partition;

    @Option(names = "--shard-size", paramLabel = "SIZE", defaultValue = "0",
            description = "Largest file of a rank; 0 writes one model.safetensors per rank (default: ${DEFAULT-VALUE}).")
    String shardSize;

    @Option(names = "--digests",
            description = "Record each tensor's SHA-256 in its shard's __metadata__, so that a reload of the next "
                    + "resharded step reads only the tensors that changed.")
    boolean digests;

    @Override
    public Integer call() {
        SourceFlags.localOnly(in, "reshard", "copy the checkpoint to a local folder first");
        refuseGiven("reshard, which reads no s3:// checkpoint", SourceFlags.S3_FLAGS);
        LoadFlags.checkRank(0, worldSize);
        long maxShard = FlagValue.size("--shard-size", shardSize, 0);
        if (!PartitionSpec.readsConfig(partition)) {
            PartitionSpec.load(partition); // a bad rules file fails before the checkpoint is opened
        }
        PrintWriter stdout = out();
        PrintWriter stderr = err();
        Checkpoint checkpoint = source.open(in, stderr);
        Partitioning rules = new Partitioning(0, worldSize, PartitionSpec.load(partition, checkpoint));
        List<Path> folders;
        try {
            // A run killed before it could clean up (SIGKILL, power) left its temporary tree beside OUT.
            for (Path abandoned : ShardedWriter.removeAbandoned(out)) {
                stderr.println("stload: note: removed " + Printable.escape(abandoned.toString())
                        + ", the partial output of an interrupted reshard");
            }
            // Stopped by SIGINT or SIGTERM, the temporary tree it writes must not stay behind.
            try (StopOnSignal stop = new StopOnSignal(() -> ShardedWriter.removeOwnTemporaries(out))) {
                try {
                    folders = Resharder.reshard(checkpoint, out, rules, maxShard == 0 ? Long.MAX_VALUE : maxShard,
                            digests);
                } catch (IOException e) {
                    if (stop.stopping()) {
                        throw new StloadException(ErrorKind.Io, out, "stopped by a signal; nothing was written");
                    }
                    throw e;
                }
            }
        } catch (IOException e) {
            throw FileChecks.failure(out, "cannot write", e);
        }
        RankSlices.Matched matched = RankSlices.match(checkpoint, rules);
        for (int r = 0; r < folders.size(); r++) {
            stdout.println(Printable.escape(folders.get(r).toString()) + ": " + Sizes.human(matched.bytes(r)));
        }
        String shown = Printable.escape(out.toString()); // the path as typed: a name may hold anything
        stdout.println("wrote " + folders.size() + " rank folder(s) under " + shown
                + "; load one with: load " + shown + " --rank R --world-size " + worldSize);
        return 0;
    }
}
