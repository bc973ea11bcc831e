package io.stload.s3;

import io.stload.checkpoint.Checkpoint;
import io.stload.report.LoadListener;
import io.stload.load.LoadedWeights;
import io.stload.load.Loader;
import io.stload.plan.LoadOptions;
import io.stload.plan.LoadStrategy;
import io.stload.plan.Planner;
import com.sun.management.OperatingSystemMXBean;
import java.lang.management.ManagementFactory;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;

/**
 * For {@code bench/s3.sh --in-process}, not a test: the same checkpoint loaded many times in one JVM, alternately
 * from local disk with mmap and from S3, so that the later loads run on compiled code: the steady state of an
 * engine that loads more than once, apart from the one-shot CLI's warm-up. Prints one line per load:
 * {@code source rep seconds gbps client_cores server_cores}, the cores being CPU time over wall time during the
 * load, of this JVM and of the server's process (Linux).
 *
 * <p>usage: {@code BenchInProcess ENDPOINT S3_URL LOCAL_DIR REPS SERVER_PID}
 */
public final class BenchInProcess {
    private BenchInProcess() {
    }

    public static void main(String[] args) throws Exception {
        if (args.length != 5) {
            System.err.println("usage: BenchInProcess ENDPOINT S3_URL LOCAL_DIR REPS SERVER_PID");
            System.exit(2);
        }
        Path serverStat = Path.of("/proc", args[4], "stat");
        try (S3Storage s3 = S3Storage.connect(S3Settings.DEFAULTS.withEndpoint(URI.create(args[0])));
             Checkpoint remote = s3.open(S3Location.parse(args[1]));
             Checkpoint local = Checkpoint.open(Path.of(args[2]))) {
            for (int rep = 1; rep <= Integer.parseInt(args[3]); rep++) {
                load("local", rep, local, LoadOptions.DEFAULTS.withStrategy(LoadStrategy.MMAP), serverStat);
                load("s3", rep, remote, LoadOptions.DEFAULTS, serverStat);
            }
        }
    }

    private static void load(String source, int rep, Checkpoint checkpoint, LoadOptions options, Path serverStat)
            throws Exception {
        var os = (OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean();
        long clientBefore = os.getProcessCpuTime();
        long serverBefore = cpuTicks(serverStat);
        long start = System.nanoTime();
        try (LoadedWeights w = new Loader().execute(new Planner().plan(checkpoint, options), LoadListener.NONE)) {
            double wall = (System.nanoTime() - start) / 1e9;
            double client = (os.getProcessCpuTime() - clientBefore) / 1e9 / wall;
            double server = (cpuTicks(serverStat) - serverBefore) / 100.0 / wall;
            System.out.printf(Locale.ROOT, "%s %d %.3f %.3f %.2f %.2f%n", source, rep, w.report().seconds(),
                    w.report().gbps(), client, server);
        }
    }

    /** User + system time of a process in clock ticks (USER_HZ, 100 on Linux), from its {@code /proc/PID/stat}. */
    private static long cpuTicks(Path stat) throws Exception {
        String line = Files.readString(stat);
        String[] fields = line.substring(line.lastIndexOf(')') + 2).split(" ");
        return Long.parseLong(fields[11]) + Long.parseLong(fields[12]);
    }
}
