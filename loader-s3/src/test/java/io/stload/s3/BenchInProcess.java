package io.stload.s3;

import io.stload.checkpoint.Checkpoint;
import io.stload.load.LoadListener;
import io.stload.load.LoadedWeights;
import io.stload.load.Loader;
import io.stload.plan.LoadOptions;
import io.stload.plan.LoadStrategy;
import io.stload.plan.Planner;
import java.net.URI;
import java.nio.file.Path;
import java.util.Locale;

/**
 * For {@code bench/s3.sh --in-process}, not a test: the same checkpoint loaded many times in one JVM, alternately
 * from local disk with mmap and from S3, so that the later loads run on compiled code: the steady state of an
 * engine that loads more than once, apart from the one-shot CLI's warm-up. Prints one line per load:
 * {@code source rep seconds gbps}.
 *
 * <p>usage: {@code BenchInProcess ENDPOINT S3_URL LOCAL_DIR REPS}
 */
public final class BenchInProcess {
    private BenchInProcess() {
    }

    public static void main(String[] args) throws Exception {
        if (args.length != 4) {
            System.err.println("usage: BenchInProcess ENDPOINT S3_URL LOCAL_DIR REPS");
            System.exit(2);
        }
        try (S3Storage s3 = S3Storage.connect(S3Settings.DEFAULTS.withEndpoint(URI.create(args[0])));
             Checkpoint remote = s3.open(S3Location.parse(args[1]));
             Checkpoint local = Checkpoint.open(Path.of(args[2]))) {
            for (int rep = 1; rep <= Integer.parseInt(args[3]); rep++) {
                load("local", rep, local, LoadOptions.DEFAULTS.withStrategy(LoadStrategy.MMAP));
                load("s3", rep, remote, LoadOptions.DEFAULTS);
            }
        }
    }

    private static void load(String source, int rep, Checkpoint checkpoint, LoadOptions options) {
        try (LoadedWeights w = new Loader().execute(new Planner().plan(checkpoint, options), LoadListener.NONE)) {
            System.out.printf(Locale.ROOT, "%s %d %.3f %.3f%n", source, rep, w.report().seconds(), w.report().gbps());
        }
    }
}
