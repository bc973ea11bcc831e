package io.stload.cli;

import io.stload.ErrorKind;
import io.stload.Printable;
import io.stload.StloadException;
import io.stload.benchdata.CheckpointGenerator;
import io.stload.benchdata.CheckpointSpec;
import io.stload.benchdata.CheckpointSummary;
import io.stload.benchdata.HubCheckpointGenerator;
import io.stload.benchdata.HubFamily;
import io.stload.benchdata.HubModel;
import io.stload.format.SafetensorsWriter;
import io.stload.benchdata.ShapeKind;
import io.stload.format.DType;
import io.stload.nativeio.FileChecks;
import io.stload.plan.Sizes;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.function.Supplier;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** {@code stload gen DIR ...}: write a deterministic synthetic checkpoint for tests and benchmarks. */
@Command(name = "gen", description = "Generate a deterministic synthetic checkpoint (random bytes; Llama- or MoE-shaped, "
        + "or uniform matrices; or with --model, a model family as the hub holds it: config.json and transformers' "
        + "tensor names and shapes).")
final class GenCommand extends StloadCommand {
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

    @Option(names = "--model", paramLabel = "FAMILY",
            description = "Write a checkpoint in the hub's layout (config.json, transformers' names and shapes) of a "
                    + "family: llama|mistral|qwen2|qwen2-5|qwen3|gemma2|gemma3|phi3|mixtral|qwen2-moe|qwen3-moe|"
                    + "deepseek-v2|deepseek-v3; small unless the flags below scale it, each the family's by default "
                    + "(--size, --shape and --row-bytes do not apply).")
    String model;

    /** Past the largest families (126 layers, 256 experts) by far, within what a header lists in seconds. */
    private static final int MAX_LAYERS = 1024;
    private static final int MAX_EXPERTS = 1024;

    @Option(names = "--layers", paramLabel = "N", description = "--model: decoder layers, at most 1024 (default: 2).")
    Integer layers;

    @Option(names = "--hidden", paramLabel = "N", description = "--model: hidden size.")
    Long hidden;

    @Option(names = "--heads", paramLabel = "N", description = "--model: query heads.")
    Long heads;

    @Option(names = "--kv-heads", paramLabel = "N", description = "--model: KV heads.")
    Long kvHeads;

    @Option(names = "--head-dim", paramLabel = "N", description = "--model: indices per head (0: hidden / heads).")
    Long headDim;

    @Option(names = "--intermediate", paramLabel = "N", description = "--model: the dense MLP's width.")
    Long intermediate;

    @Option(names = "--vocab", paramLabel = "N", description = "--model: vocabulary size.")
    Long vocab;

    @Option(names = "--experts", paramLabel = "N", description = "--model: routed experts per MoE layer, at most 1024.")
    Integer experts;

    @Option(names = "--expert-width", paramLabel = "N", description = "--model: an expert's MLP width.")
    Long expertWidth;

    @Override
    public Integer call() throws IOException {
        if (model != null) {
            return hubModel();
        }
        refuseGiven("a checkpoint without --model", "--layers", "--hidden", "--heads", "--kv-heads", "--head-dim",
                "--intermediate", "--vocab", "--experts", "--expert-width");
        CheckpointSummary s = generate(dir, spec(), out());
        out().printf(Locale.ROOT, "wrote %d tensors, %s in %d file(s) to %s (%.0f MB/s)%n",
                s.tensors(), Sizes.human(s.tensorBytes()), s.files().size(), Printable.escape(s.dir().toString()),
                s.megabytesPerSecond());
        return 0;
    }

    /** {@code --model}: config.json and the family's tensors, sharded by --shard-size. */
    private int hubModel() {
        refuseGiven("--model, which writes the family's shapes", "--shape", "--size", "--row-bytes");
        HubModel m;
        try {
            HubModel d = HubModel.of(HubFamily.parse(model));
            refuseUnused(d.family());
            m = new HubModel(d.family(), layers != null ? layers : d.layers(), hidden != null ? hidden : d.hidden(),
                    heads != null ? heads : d.heads(), kvHeads != null ? kvHeads : d.kvHeads(),
                    headDim != null ? headDim : d.headDim(), intermediate != null ? intermediate : d.intermediate(),
                    vocab != null ? vocab : d.vocab(), experts != null ? experts : d.experts(),
                    expertWidth != null ? expertWidth : d.expertWidth(), d.shared(), dtype(), seed,
                    FlagValue.parse("--shard-size", shardSize, Sizes::parse));
            // Each layer's tensors are listed in memory before the free space is checked: bounded first.
            FlagValue.inRange("--layers", m.layers(), 1, MAX_LAYERS);
            FlagValue.inRange("--experts", m.experts(), 0, MAX_EXPERTS);
            if ((long) m.layers() * Math.max(1, m.experts()) > MAX_LAYERS * 64L) {
                throw FlagValue.usage("--layers x --experts: at most " + MAX_LAYERS * 64 + ", some 200,000 tensors, not "
                        + (long) m.layers() * m.experts());
            }
            m.tensors().forEach(e -> e.byteSize()); // a shape that overflows is refused before anything is written
        } catch (IllegalArgumentException e) {
            throw new StloadException(ErrorKind.Usage, null, e.getMessage());
        }
        List<Path> files = write(dir, HubCheckpointGenerator::generate, m);
        long bytes = m.tensors().stream().mapToLong(SafetensorsWriter.Entry::byteSize).sum();
        out().printf(Locale.ROOT, "wrote %s (%s): %d tensors, %s in %d file(s) and config.json to %s%n",
                m.family().label(), m.family().modelType(), m.tensors().size(), Sizes.human(bytes), files.size(),
                Printable.escape(dir.toString()));
        return 0;
    }

    /** A size flag the family's layout has no use for would change nothing, or only config.json. */
    private void refuseUnused(HubFamily family) {
        String name = family.label();
        if (!family.hasExperts()) {
            refuseGiven(name + ", which has no experts", "--experts", "--expert-width");
        }
        if (family == HubFamily.MIXTRAL) {
            refuseGiven(name + ", whose MLPs are its experts (--expert-width)", "--intermediate");
        }
        if (family.hasLatentAttention()) {
            refuseGiven(name + ", whose attention (MLA) has sizes of its own", "--kv-heads", "--head-dim");
        }
        if (family == HubFamily.QWEN3_MOE) {
            refuseGiven(name + ", whose MLPs are all experts (--expert-width)", "--intermediate");
        }
    }

    private DType dtype() {
        DType d = DType.fromHeaderName(dtype.toUpperCase(Locale.ROOT));
        if (d == null) {
            throw new StloadException(ErrorKind.Usage, null, "unknown --dtype '" + dtype + "'");
        }
        return d;
    }

    CheckpointSpec spec() {
        DType d = dtype();
        return feasible(() -> new CheckpointSpec(ShapeKind.parse(shape), FlagValue.parse("--size", size, Sizes::parse),
                FlagValue.parse("--shard-size", shardSize, Sizes::parse), seed, d,
                FlagValue.parse("--row-bytes", rowBytes, Sizes::parse)));
    }

    /** A checkpoint the generator can write; one it refuses (a size too small for one layer) is a usage error. */
    static CheckpointSpec feasible(Supplier<CheckpointSpec> spec) {
        try {
            CheckpointSpec s = spec.get();
            CheckpointGenerator.requireFeasible(s);
            return s;
        } catch (IllegalArgumentException e) {
            throw new StloadException(ErrorKind.Usage, null, e.getMessage());
        }
    }

    static CheckpointSummary generate(Path dir, CheckpointSpec spec, PrintWriter out) {
        return write(dir, CheckpointGenerator::generate, spec);
    }

    /** Writes a checkpoint of {@code what} into a folder. */
    @FunctionalInterface
    private interface Writer<T, R> {
        R write(T what, Path dir) throws IOException;
    }

    /**
     * Writes a checkpoint into {@code dir}. Stopped by SIGINT or SIGTERM, nothing of the run may stay behind: no
     * half shard, no partial checkpoint.
     */
    private static <T, R> R write(Path dir, Writer<T, R> writer, T what) {
        try (StopOnSignal stop = new StopOnSignal(() -> CheckpointGenerator.deletePartialFiles(dir))) {
            try {
                return writer.write(what, dir);
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
            throw FileChecks.failure(dir, "cannot write checkpoint", e);
        }
    }
}
