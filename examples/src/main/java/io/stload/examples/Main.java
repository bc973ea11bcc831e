package io.stload.examples;

import java.nio.file.Path;
import java.util.List;

/**
 * Writes a small checkpoint into the folder given (created if missing), then uses it each way an embedder
 * can, checking every value it reads. Prints one line per way; exits 1 at the first value that differs.
 */
public final class Main {
    /** One way to use a checkpoint; throws {@link AssertionError} when a value read differs from the one written. */
    interface Usage {
        String name();

        /** What it read, in one line for the output. */
        String run(SampleCheckpoint checkpoint) throws Exception;
    }

    private static final List<Usage> USAGES = List.of(new EagerLoad(), new LazyRead(), new TypedRead(), new StreamLoad(),
            new ConvertRoundTrip(), new JlamaGenerate());

    private Main() {
    }

    public static void main(String[] args) throws Exception {
        if (args.length != 1) {
            System.err.println("usage: Main DIR (a folder to write the sample checkpoint into)");
            System.exit(2);
        }
        SampleCheckpoint checkpoint = SampleCheckpoint.writeTo(Path.of(args[0]));
        System.out.println("wrote " + checkpoint.dir());
        for (Usage usage : USAGES) {
            try {
                System.out.println(usage.name() + ": " + usage.run(checkpoint));
            } catch (AssertionError e) {
                System.out.println(usage.name() + ": FAILED: " + e.getMessage());
                System.exit(1);
            }
        }
        System.out.println("all values as written");
    }
}
