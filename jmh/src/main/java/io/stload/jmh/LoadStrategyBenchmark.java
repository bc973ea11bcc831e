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
import io.stload.plan.LoadStrategy;
import io.stload.plan.Planner;
import io.stload.plan.ReadOrder;
import io.stload.plan.Sizes;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
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
 * One whole load of a generated Llama-shaped BF16 checkpoint per invocation, for every strategy and read
 * order, from a cold or a warm page cache; {@code auto} shows what the heuristic picks against the forced
 * strategies. Each invocation plans, loads, touches one byte per 4 KiB page of every tensor (the same
 * consumption {@link JlamaPeerBenchmark} does, so the two are comparable) and closes the weights, freeing
 * their memory before the next one.
 *
 * <p>A load is seconds long, so iterations are few: a full matrix has to finish in minutes on a small
 * machine. Single-shot scores include first-touch of the freshly allocated tensor memory, which is part of
 * what a caller pays.
 */
@BenchmarkMode(Mode.SingleShotTime)
@OutputTimeUnit(TimeUnit.SECONDS)
@Warmup(iterations = 1)
@Measurement(iterations = 5)
// Prepended, because a -jvmArgsAppend on the command line replaces the annotation's appended arguments
// rather than adding to them.
@Fork(value = 1, jvmArgsPrepend = "--enable-native-access=ALL-UNNAMED")
@State(Scope.Benchmark)
public class LoadStrategyBenchmark {
    private static final long PAGE = 4096;

    @Param({"mmap", "prefetch", "direct", "auto"})
    public String strategy;

    @Param({"file", "shuffled"})
    public String order;

    @Param({"cold", "warm"})
    public String cache;

    /** Tensor bytes of the checkpoint; named like JlamaPeerBenchmark's so one {@code -p} sets both. */
    @Param({"1GiB"})
    public String size;

    /** Shard size of tensor data; 0 for a single model.safetensors. */
    @Param({"256MiB"})
    public String shardSize;

    private Path dir;
    private LoadOptions options;
    private CacheCondition cacheCondition;

    @Setup(Level.Trial)
    public void prepareCheckpoint() throws IOException {
        CheckpointSpec spec = CheckpointSpec.of(ShapeKind.LLAMA, Sizes.parse(size))
                .withShardBytes(Sizes.parse(shardSize));
        CheckpointSummary checkpoint = BenchCheckpoints.prepare(spec);
        dir = checkpoint.dir();
        options = LoadOptions.DEFAULTS.withStrategy(LoadStrategy.parse(strategy)).withOrder(ReadOrder.parse(order));
        cacheCondition = CacheCondition.of(cache, checkpoint.files());
    }

    @Setup(Level.Invocation)
    public void establishCacheState() throws IOException {
        cacheCondition.establish();
    }

    @Benchmark
    public long loadTouchAndClose() {
        try (LoadedWeights weights = new Loader().execute(new Planner().plan(Checkpoint.open(dir), options),
                LoadListener.NONE)) {
            long sum = weights.report().bytes();
            for (Tensor tensor : weights.tensors().values()) {
                MemorySegment data = tensor.data();
                for (long offset = 0; offset < data.byteSize(); offset += PAGE) {
                    sum += data.get(ValueLayout.JAVA_BYTE, offset);
                }
            }
            return sum;
        }
    }
}
