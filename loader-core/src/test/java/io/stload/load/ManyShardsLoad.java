package io.stload.load;

import io.stload.StloadException;
import io.stload.checkpoint.Checkpoint;
import io.stload.plan.LoadOptions;
import io.stload.plan.LoadPlan;
import io.stload.plan.LoadStrategy;
import io.stload.plan.Planner;
import io.stload.report.LoadListener;
import io.stload.sink.StreamingSink;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.stream.Stream;
import java.util.zip.CRC32;

/**
 * Run in its own JVM, under a low descriptor limit, by {@link ManyShardsLoadTest}: loads a checkpoint of many
 * shards once per mode ({@code mmap}, {@code prefetch}, {@code direct} into host memory; {@code stream-mmap} or
 * {@code stream-prefetch} into a streaming consumer, which gets views of the mappings) and prints one line per
 * mode: the digest of every tensor and the most of the checkpoint's files seen mapped at once, or how it failed.
 */
public final class ManyShardsLoad {
    /** Mappings are counted every this many tensors: often enough to see a reader that maps every file. */
    private static final int SAMPLE_EVERY = 250;

    public static void main(String[] args) {
        Path dir = Path.of(args[0]);
        Checkpoint checkpoint = Checkpoint.open(dir);
        for (int i = 1; i < args.length; i++) {
            String mode = args[i];
            boolean stream = mode.startsWith("stream-");
            LoadStrategy strategy = LoadStrategy.valueOf(mode.substring(stream ? 7 : 0).toUpperCase(Locale.ROOT));
            LoadPlan plan = new Planner().plan(checkpoint, LoadOptions.DEFAULTS.withStrategy(strategy));
            AtomicLong mostMapped = new AtomicLong();
            AtomicInteger landed = new AtomicInteger();
            LoadListener sampler = (t, bytes) -> {
                if (landed.incrementAndGet() % SAMPLE_EVERY == 0) {
                    mostMapped.accumulateAndGet(mappedFilesUnder(dir), Math::max);
                }
            };
            try {
                Map<String, String> digests = new ConcurrentHashMap<>();
                if (stream) {
                    new Loader().stream(plan, (s, bytes) -> digests.put(s.name(), Digests.crc32(bytes)),
                            0, sampler);
                } else {
                    try (LoadedWeights w = new Loader().execute(plan, sampler)) {
                        w.tensors().forEach((name, t) -> digests.put(name, Digests.crc32(t.data())));
                    }
                }
                System.out.println(mode + " " + combined(digests) + " mapped<=" + mostMapped.get());
            } catch (StloadException e) {
                System.out.println(mode + " error: " + e.kind() + ": " + e.getMessage());
            }
        }
    }

    /** One digest of every tensor's name and digest, in name order, and how many there are. */
    static String combined(Map<String, String> digests) {
        CRC32 crc = new CRC32();
        new TreeMap<>(digests).forEach((name, d) -> crc.update((name + "=" + d + "\n").getBytes(StandardCharsets.UTF_8)));
        return Long.toHexString(crc.getValue()) + "/" + digests.size();
    }

    /** How many mappings of this process are of files in {@code dir}. */
    private static long mappedFilesUnder(Path dir) {
        String prefix = dir.toAbsolutePath() + "/";
        try (Stream<String> maps = Files.lines(Path.of("/proc/self/maps"))) {
            return maps.filter(l -> l.contains(prefix)).count();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
