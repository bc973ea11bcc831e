package io.stload.examples;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;

/**
 * Writes a small checkpoint into the folder given (created if missing), then uses it each way an embedder
 * can, checking every value it reads. Prints one line per way; exits 1 at the first value that differs.
 */
public final class Main {
    /** One way to use a checkpoint; throws {@link AssertionError} when a value read differs from the one written. */
    @FunctionalInterface
    interface Usage {
        /** What it read, in one line for the output. */
        String run(SampleCheckpoint checkpoint) throws Exception;
    }

    /** Each way, by the name its line of output starts with. */
    private static final List<Map.Entry<String, Usage>> USAGES = List.of(Map.entry("eager", EagerLoad::run),
            Map.entry("lazy", LazyRead::run), Map.entry("typed", TypedRead::run), Map.entry("stream", StreamLoad::run),
            Map.entry("convert", ConvertRoundTrip::run), Map.entry("jlama", JlamaGenerate::run));

    private Main() {
    }

    public static void main(String[] args) throws Exception {
        if (args.length != 1) {
            System.err.println("usage: Main DIR (a folder to write the sample checkpoint into)");
            System.exit(2);
        }
        SampleCheckpoint checkpoint = SampleCheckpoint.writeTo(Path.of(args[0]));
        System.out.println("wrote " + checkpoint.dir());
        for (Map.Entry<String, Usage> usage : USAGES) {
            try {
                System.out.println(usage.getKey() + ": " + usage.getValue().run(checkpoint));
            } catch (AssertionError e) {
                System.out.println(usage.getKey() + ": FAILED: " + e.getMessage());
                System.exit(1);
            }
        }
        System.out.println("all values as written");
    }
}
