package io.stload.jmh;

import com.github.tjake.jlama.safetensors.SafeTensorSupport;
import com.github.tjake.jlama.safetensors.WeightLoader;
import com.github.tjake.jlama.tensor.AbstractTensor;
import io.stload.benchdata.CheckpointSpec;
import io.stload.benchdata.CheckpointSummary;
import io.stload.benchdata.ShapeKind;
import io.stload.checkpoint.Checkpoint;
import io.stload.plan.Sizes;
import java.io.IOException;
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
 * The peer: Jlama's safetensors reader ({@link SafeTensorSupport#loadWeights}, which memory-maps each shard)
 * opening a generated checkpoint and every tensor in it, with one byte per 4 KiB page read so that the data
 * really comes off the device. Jlama 0.8.4 maps BF16 tensors without conversion, so the checkpoint is the
 * same BF16 one the stload strategies load. Each invocation is one whole load, hence single-shot timing;
 * cold invocations start from an empty page cache, warm ones from every file resident, as in
 * {@link LoadStrategyBenchmark}; run both in one command to compare them on the same checkpoint.
 * {@link #stloadOpenAndViewEveryTensor} does the same through stload's lazy access (open headers, a zero-copy
 * view of every tensor, the same bytes touched), so the two lazy readers compare directly.
 */
@BenchmarkMode(Mode.SingleShotTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 3)
@Measurement(iterations = 5)
// Jlama's tensors are built on the Vector API. Prepended, because a -jvmArgsAppend on the command line
// replaces the annotation's appended arguments rather than adding to them.
@Fork(value = 1, jvmArgsPrepend = {"--add-modules=jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED"})
@State(Scope.Benchmark)
public class JlamaPeerBenchmark {
    @Param({"llama", "moe"})
    public String shape;

    @Param({"256MiB"})
    public String size;

    /** Shard size of tensor data; 0 for a single model.safetensors. */
    @Param({"128MiB"})
    public String shardSize;

    @Param({"warm", "cold"})
    public String cache;

    private Path dir;
    private CacheCondition cacheCondition;

    @Setup(Level.Trial)
    public void prepareCheckpoint() throws IOException {
        CheckpointSpec spec = CheckpointSpec.of(ShapeKind.parse(shape), Sizes.parse(size))
                .withShardBytes(Sizes.parse(shardSize));
        CheckpointSummary checkpoint = BenchCheckpoints.prepare(spec);
        dir = checkpoint.dir();
        cacheCondition = CacheCondition.of(cache, checkpoint.files());
    }

    @Setup(Level.Invocation)
    public void establishCacheState() throws IOException {
        cacheCondition.establish();
    }

    @Benchmark
    public long loadAndTouchEveryTensor() throws Exception {
        long sum = 0;
        try (WeightLoader weights = SafeTensorSupport.loadWeights(dir.toFile())) {
            for (String name : weights.tensorInfoMap().keySet()) {
                AbstractTensor<?, ?> tensor = weights.load(name);
                sum += WholeLoadBenchmark.touch(tensor.getMemorySegment());
            }
        }
        return sum;
    }

    @Benchmark
    public long stloadOpenAndViewEveryTensor() {
        long sum = 0;
        try (Checkpoint ckpt = Checkpoint.open(dir)) {
            for (String name : ckpt.tensors().keySet()) {
                sum += WholeLoadBenchmark.touch(ckpt.view(name));
            }
        }
        return sum;
    }
}
