package io.stload.cli;

import io.stload.ErrorKind;
import io.stload.StloadException;
import io.stload.benchdata.CheckpointGenerator;
import io.stload.benchdata.CheckpointSpec;
import io.stload.benchdata.CheckpointSummary;
import io.stload.benchdata.ShapeKind;
import io.stload.format.DType;
import io.stload.nativeio.FileChecks;
import io.stload.plan.Sizes;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Path;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/** {@code stload gen DIR ...}: write a deterministic synthetic checkpoint for tests and benchmarks. */
@Command(name = "gen", description = "Generate a deterministic synthetic checkpoint (random bytes; Llama- or MoE-shaped, "
        + "or uniform matrices).")
final class GenCommand implements Callable<Integer> {
    @Parameters(paramLabel = "DIR", description = "Directory to write into (created if missing).")
    Path dir;

    @Option(names = "--shape", defaultValue = "llama", description = "llama|moe|matrix (default: ${DEFAULT-VALUE}).")
    String shape;

    @Option(names = "--row-bytes", paramLabel = "SIZE", defaultValue = "0",
            description = "Bytes per row of every matrix; --shape matrix only, and required there.")
    String rowBytes;

    @Option(names = "--size", defaultValue = "256MiB", description = "Total tensor bytes (default: ${DEFAULT-VALUE}).")
    String size;

    @Option(names = "--shard-size", defaultValue = "0",
            description = "Largest shard; 0 writes one model.safetensors (default: ${DEFAULT-VALUE}).")
    String shardSize;

    @Option(names = "--dtype", defaultValue = "BF16", description = "Element type (default: ${DEFAULT-VALUE}).")
    String dtype;

    @Option(names = "--seed", defaultValue = "42", description = "Seed of the random bytes (default: ${DEFAULT-VALUE}).")
    long seed;

    @Spec
    CommandSpec spec;

    @Override
    public Integer call() throws IOException {
        CheckpointSummary s = generate(dir, spec(), spec.commandLine().getOut());
        spec.commandLine().getOut().printf(Locale.ROOT, "wrote %d tensors, %s in %d file(s) to %s (%.0f MB/s)%n",
                s.tensors(), Sizes.human(s.tensorBytes()), s.files().size(), s.dir(), s.megabytesPerSecond());
        return 0;
    }

    CheckpointSpec spec() {
        DType d = DType.fromHeaderName(dtype.toUpperCase(Locale.ROOT));
        if (d == null) {
            throw new StloadException(ErrorKind.Usage, null, "unknown --dtype '" + dtype + "'");
        }
        try {
            CheckpointSpec s = new CheckpointSpec(ShapeKind.parse(shape), FlagValue.parse("--size", size, Sizes::parse),
                    FlagValue.parse("--shard-size", shardSize, Sizes::parse), seed, d,
                    FlagValue.parse("--row-bytes", rowBytes, Sizes::parse));
            CheckpointGenerator.requireFeasible(s); // e.g. a size too small for one layer of the shape
            return s;
        } catch (IllegalArgumentException e) {
            throw new StloadException(ErrorKind.Usage, null, e.getMessage());
        }
    }

    static CheckpointSummary generate(Path dir, CheckpointSpec spec, PrintWriter out) {
        // Stopped by SIGINT or SIGTERM, nothing of the run may stay behind: no half shard, no partial checkpoint.
        try (StopOnSignal stop = new StopOnSignal(() -> CheckpointGenerator.deletePartialFiles(dir))) {
            try {
                return CheckpointGenerator.generate(spec, dir);
            } catch (IOException e) {
                if (stop.stopping()) {
                    throw new StloadException(ErrorKind.Io, dir, "stopped by a signal; what it had written was removed");
                }
                throw e;
            }
        } catch (FileAlreadyExistsException e) {
            throw new StloadException(ErrorKind.Usage, dir, e.getReason() != null ? e.getReason()
                    : "exists and is not a directory; name a new or empty directory");
        } catch (IOException e) {
            throw new StloadException(ErrorKind.Io, dir, "cannot write checkpoint: " + FileChecks.reason(e), e);
        }
    }
}
