package io.stload.jmh;

import io.stload.benchdata.CheckpointSpec;
import io.stload.benchdata.CheckpointSummary;
import io.stload.benchdata.ShapeKind;
import io.stload.checkpoint.Checkpoint;
import io.stload.format.Tensor;
import io.stload.report.LoadListener;
import io.stload.load.LoadedWeights;
import io.stload.load.Loader;
import io.stload.plan.LoadOptions;
import io.stload.plan.LoadPlan;
import io.stload.plan.LoadStrategy;
import io.stload.plan.Planner;
import io.stload.plan.Sizes;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.LongAdder;
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
import org.openjdk.jmh.annotations.Warmup;

/**
 * The same load into the two destinations a host application chooses between: {@code host} (memory the loader
 * allocates and the caller owns) and {@code stream} (each tensor handed to a consumer as it lands, the loader's
 * own memory within {@code budget}). Both consume every tensor the same way, one byte per 4 KiB page, so the
 * scores differ only by where the bytes land. Peak memory is not a JMH score: {@code bench/stream.sh} measures
 * it per process.
 */
@BenchmarkMode(Mode.SingleShotTime)
@OutputTimeUnit(TimeUnit.SECONDS)
@Warmup(iterations = 1)
@Measurement(iterations = 5)
@Fork(value = 1, jvmArgsPrepend = "--enable-native-access=ALL-UNNAMED")
@State(Scope.Benchmark)
public class DestinationBenchmark {
    private static final long PAGE = 4096;

    @Param({"host", "stream"})
    public String sink;

    @Param({"direct", "prefetch", "mmap"})
    public String strategy;

    @Param({"cold", "warm"})
    public String cache;

    @Param({"1GiB"})
    public String size;

    @Param({"256MiB"})
    public String budget;

    private Path dir;
    private LoadOptions options;
    private CacheCondition cacheCondition;

    @Setup(Level.Trial)
    public void prepareCheckpoint() throws IOException {
        CheckpointSummary checkpoint = BenchCheckpoints.prepare(CheckpointSpec.of(ShapeKind.LLAMA, Sizes.parse(size))
                .withShardBytes(256L << 20));
        dir = checkpoint.dir();
        options = LoadOptions.DEFAULTS.withStrategy(LoadStrategy.parse(strategy));
        cacheCondition = CacheCondition.of(cache, checkpoint.files());
    }

    @Setup(Level.Invocation)
    public void establishCacheState() throws IOException {
        cacheCondition.establish();
    }

    @Benchmark
    public long loadAndTouch() {
        LoadPlan plan = new Planner().plan(Checkpoint.open(dir), options);
        if (sink.equals("stream")) {
            LongAdder sum = new LongAdder();
            new Loader().stream(plan, (slice, bytes) -> sum.add(touch(bytes)), Sizes.parse(budget), LoadListener.NONE);
            return sum.sum();
        }
        try (LoadedWeights weights = new Loader().execute(plan, LoadListener.NONE)) {
            long sum = 0;
            for (Tensor tensor : weights.tensors().values()) {
                sum += touch(tensor.data());
            }
            return sum;
        }
    }

    private static long touch(MemorySegment data) {
        long sum = 0;
        for (long offset = 0; offset < data.byteSize(); offset += PAGE) {
            sum += data.get(ValueLayout.JAVA_BYTE, offset);
        }
        return sum;
    }
}
