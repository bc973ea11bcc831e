package io.stload.jmh;

import io.stload.format.DType;
import io.stload.format.SafetensorsWriter;
import io.stload.format.SafetensorsWriter.Entry;
import io.stload.format.Tensor;
import io.stload.plan.LoadOptions;
import io.stload.plan.Sizes;
import io.stload.store.Lease;
import io.stload.store.ReloadOptions;
import io.stload.store.ReloadResult;
import io.stload.store.WeightStore;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.stream.Stream;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * A reader's cost of pinning a version: one lease taken and closed ({@code WeightStore.lease()}, then
 * {@code Lease.close()}), sampled one at a time, while reloads run back to back on another thread
 * ({@code reloading=true}: beside, each reading every tensor of a checkpoint of {@code size} into new memory and
 * publishing it, the old version freed as its last lease closes) or not. The median of the sample distribution is
 * the figure: {@code p0.50} in the output.
 *
 * <pre>
 * java -jar jmh/target/benchmarks.jar LeaseBenchmark
 * </pre>
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.SampleTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 3)
@Fork(value = 1, jvmArgsAppend = {"--enable-native-access=ALL-UNNAMED"})
public class LeaseBenchmark {
    /** Whether reloads run back to back while leases are taken. */
    @Param({"false", "true"})
    public boolean reloading;

    /** Bytes of each of the two checkpoints reloads alternate between. */
    @Param({"64MiB"})
    public String size;

    private Path dir;
    private WeightStore<Tensor> store;
    private Thread reloader;
    private final AtomicBoolean stop = new AtomicBoolean();
    private final AtomicLong reloads = new AtomicLong();

    @Setup(Level.Trial)
    public void open() throws IOException {
        dir = Files.createTempDirectory("stload-lease-bench");
        long bytes = Sizes.parse(size);
        Path a = write(dir.resolve("a.safetensors"), bytes, (byte) 1);
        Path b = write(dir.resolve("b.safetensors"), bytes, (byte) 2);
        store = WeightStore.open(a, LoadOptions.DEFAULTS, Long.MAX_VALUE);
        if (reloading) {
            ReloadOptions how = ReloadOptions.IMMEDIATE.withCarryOver(ReloadOptions.CarryOver.NONE);
            reloader = new Thread(() -> {
                for (long k = 0; !stop.get(); k++) {
                    ReloadResult r = store.reload(k % 2 == 0 ? b : a, how);
                    if (!r.reloaded()) {
                        throw new IllegalStateException(r.toString());
                    }
                    reloads.incrementAndGet();
                }
            }, "reloader");
            reloader.setDaemon(true);
            reloader.start();
        }
    }

    /** Eight tensors of equal size, every byte {@code fill}. */
    private static Path write(Path file, long bytes, byte fill) throws IOException {
        List<Entry> entries = new ArrayList<>();
        long each = bytes / 8 / 2;
        for (int i = 0; i < 8; i++) {
            entries.add(new Entry("layers." + i + ".weight", DType.BF16, new long[] {each}));
        }
        ByteBuffer chunk = ByteBuffer.allocateDirect(1 << 20);
        while (chunk.hasRemaining()) {
            chunk.put(fill);
        }
        SafetensorsWriter.write(file, null, entries, (e, out) -> {
            for (long left = e.byteSize(); left > 0; ) {
                chunk.clear().limit((int) Math.min(chunk.capacity(), left));
                left -= out.write(chunk);
            }
        });
        return file;
    }

    @Benchmark
    public long acquireAndRelease() {
        try (Lease<Tensor> lease = store.lease()) {
            return lease.version();
        }
    }

    @TearDown(Level.Trial)
    public void close() throws Exception {
        stop.set(true);
        if (reloader != null) {
            reloader.join(60_000);
            System.out.printf("%n%d reloads ran during the trial%n", reloads.get());
        }
        store.close();
        try (Stream<Path> files = Files.walk(dir)) {
            for (Path p : files.sorted(Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(p);
            }
        }
    }
}
