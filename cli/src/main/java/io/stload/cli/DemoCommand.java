package io.stload.cli;

import io.stload.ErrorKind;
import io.stload.StloadException;
import io.stload.benchdata.CheckpointSpec;
import io.stload.benchdata.CheckpointSummary;
import io.stload.benchdata.ShapeKind;
import io.stload.checkpoint.Checkpoint;
import io.stload.format.DType;
import io.stload.load.LoadedWeights;
import io.stload.nativeio.FileChecks;
import io.stload.plan.DestinationProfile;
import io.stload.plan.LoadOptions;
import io.stload.plan.LoadPlan;
import io.stload.plan.Planner;
import io.stload.plan.Sizes;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.Locale;
import java.util.stream.Stream;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code stload demo}: the main job end to end on an embedded default. Generates a small Llama-shaped sharded
 * checkpoint in a temporary folder of its own, inspects it, plans and loads it, and removes the folder.
 */
@Command(name = "demo", description = "Generate a small sharded checkpoint, inspect it, plan and load it.")
final class DemoCommand extends StloadCommand {
    @Option(names = "--size", defaultValue = "320MiB", description = "Checkpoint size (default: ${DEFAULT-VALUE}).")
    String size;

    @Override
    public Integer call() throws IOException {
        Path dir;
        try {
            dir = Files.createTempDirectory("stload-demo-");
        } catch (IOException e) {
            throw new StloadException(ErrorKind.Io, null, "cannot make the demo's folder in "
                    + System.getProperty("java.io.tmpdir") + " (" + FileChecks.reason(e) + "); point "
                    + "-Djava.io.tmpdir (STLOAD_JAVA_OPTS) at a writable folder with room for --size", e);
        }
        // Stopped by a signal, the demo unwinds through the finally, before the hook goes; or the hook deletes it.
        try (StopOnSignal stop = new StopOnSignal(() -> deleteQuietly(dir))) {
            try {
                return demo(dir, out());
            } finally {
                deleteOwnTempDir(dir);
            }
        }
    }

    private int demo(Path dir, PrintWriter out) throws IOException {
        long bytes = FlagValue.parse("--size", size, Sizes::parse);
        CheckpointSpec cs = GenCommand.feasible(
                () -> new CheckpointSpec(ShapeKind.LLAMA, bytes, Math.max(1 << 20, bytes / 4), 42, DType.BF16));
        out.printf("1. generating a %s Llama-shaped checkpoint in %s%n", Sizes.human(bytes), dir);
        CheckpointSummary s = GenCommand.generate(dir, cs, out);
        out.printf(Locale.ROOT, "   %d tensors in %d shards + index, written at %.0f MB/s%n", s.tensors(),
                s.files().size(), s.megabytesPerSecond());

        try (Checkpoint ckpt = Checkpoint.open(dir)) {
            out.printf("2. inspected: %d tensors, %s, every shard present and valid; first tensors:%n",
                    ckpt.tensors().size(), Sizes.human(ckpt.totalBytes()));
            ckpt.tensors().values().stream().limit(4).forEach(t -> out.printf("   %-45s %s %s%n", t.name(),
                    t.info().dtype(), t.info().shapeString()));

            LoadPlan plan = new Planner().plan(ckpt, LoadOptions.DEFAULTS);
            out.println("3. plan (strategy per file, and why):");
            PlanCommand.print(plan, DestinationProfile.HOST, out);

            try (LoadedWeights w = Progress.load(plan, true)) {
                out.printf(Locale.ROOT, "4. loaded %d tensors, %s into host memory in %.3f s (%.2f GB/s); "
                                + "per-tensor latency p50 %d us, p99 %d us%n", w.report().tensors(),
                        Sizes.human(w.report().bytes()), w.report().seconds(), w.report().gbps(),
                        w.report().latency().p50(), w.report().latency().p99());
                var q = w.tensor("model.layers.0.self_attn.q_proj.weight");
                out.printf(Locale.ROOT, "   e.g. %s[0..3] = %.4g %.4g %.4g%n", q.name(), q.getFloat(0), q.getFloat(1),
                        q.getFloat(2));
            }
        }
        out.println("next: ./stload load DIR --load-strategy auto|mmap|prefetch|direct --order shuffled --digest");
        return 0;
    }

    private static void deleteQuietly(Path dir) {
        try {
            deleteOwnTempDir(dir);
        } catch (IOException | RuntimeException e) {
            // Best effort, on the way out.
        }
    }

    /** Removes the demo's own temporary folder (created above; never a user's directory). */
    private static void deleteOwnTempDir(Path dir) throws IOException {
        try (Stream<Path> s = Files.walk(dir)) {
            for (Path p : s.sorted(Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(p);
            }
        }
    }
}
