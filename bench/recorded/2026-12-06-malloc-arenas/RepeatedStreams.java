import io.stload.checkpoint.Checkpoint;
import io.stload.load.Digests;
import io.stload.load.Loader;
import io.stload.plan.LoadOptions;
import io.stload.plan.LoadStrategy;
import java.nio.file.Files;
import java.nio.file.Path;

/** Streams one checkpoint N times in one JVM and prints the process's anonymous memory every 50 loads. */
public class RepeatedStreams {
    public static void main(String[] args) throws Exception {
        Path checkpoint = Path.of(args[0]);
        int loads = Integer.parseInt(args[1]);
        LoadOptions options = LoadOptions.DEFAULTS.withStrategy(LoadStrategy.DIRECT);
        for (int i = 1; i <= loads; i++) {
            try (Checkpoint c = Checkpoint.open(checkpoint)) {
                Loader.stream(c, options, (slice, bytes) -> Digests.crc32(bytes));
            }
            if (i % 50 == 0) {
                System.gc();
                String anon = Files.readAllLines(Path.of("/proc/self/status")).stream()
                        .filter(l -> l.startsWith("RssAnon")).findFirst().orElse("?").replaceAll("\\s+", " ");
                System.out.println("after " + i + " loads: " + anon);
            }
        }
    }
}
