package io.stload.jmh;

import io.stload.benchdata.CheckpointSpec;
import io.stload.benchdata.CheckpointSummary;
import io.stload.benchdata.ShapeKind;
import io.stload.checkpoint.Checkpoint;
import io.stload.plan.LoadOptions;
import io.stload.plan.LoadPlan;
import io.stload.plan.Planner;
import io.stload.plan.Sizes;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.Warmup;

/**
 * One whole load of a generated Llama-shaped BF16 checkpoint per invocation, from a cold or a warm page cache, each
 * tensor consumed by touching one byte per 4 KiB page. A load is seconds long, so iterations are few: a full matrix
 * has to finish in minutes on a small machine.
 */
@OutputTimeUnit(TimeUnit.SECONDS)
@Warmup(iterations = 1)
@Measurement(iterations = 5)
public abstract class WholeLoadBenchmark extends SingleShotBenchmark {
    private static final long PAGE = 4096;

    /** The page cache each invocation starts from. */
    @Param({"cold", "warm"})
    public String cache;

    /** Tensor bytes of the checkpoint; named like JlamaPeerBenchmark's so one {@code -p} sets both. */
    @Param({"1GiB"})
    public String size;

    private Path dir;
    private LoadOptions loadOptions;
    private CacheCondition cacheCondition;

    /** Bytes of tensor data per shard; 0 for a single model.safetensors. */
    abstract long shardBytes();

    /** How every invocation loads. */
    abstract LoadOptions options();

    @Setup(Level.Trial)
    public void prepareCheckpoint() throws IOException {
        CheckpointSummary checkpoint = BenchCheckpoints.prepare(CheckpointSpec.of(ShapeKind.LLAMA, Sizes.parse(size))
                .withShardBytes(shardBytes()));
        dir = checkpoint.dir();
        loadOptions = options();
        cacheCondition = CacheCondition.of(cache, checkpoint.files());
    }

    @Setup(Level.Invocation)
    public void establishCacheState() throws IOException {
        cacheCondition.establish();
    }

    /** This invocation's plan: the checkpoint opened (headers read) and planned with {@link #options()}. */
    final LoadPlan plan() {
        return new Planner().plan(Checkpoint.open(dir), loadOptions);
    }

    /** Reads one byte per 4 KiB page of {@code data}, the consumption every whole-load benchmark measures. */
    static long touch(MemorySegment data) {
        long sum = 0;
        for (long offset = 0; offset < data.byteSize(); offset += PAGE) {
            sum += data.get(ValueLayout.JAVA_BYTE, offset);
        }
        return sum;
    }
}
