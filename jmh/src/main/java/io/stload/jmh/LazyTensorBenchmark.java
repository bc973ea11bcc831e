package io.stload.jmh;

import io.stload.benchdata.CheckpointSpec;
import io.stload.benchdata.CheckpointSummary;
import io.stload.benchdata.ShapeKind;
import io.stload.checkpoint.Checkpoint;
import io.stload.checkpoint.TensorRef;
import io.stload.format.Tensor;
import io.stload.plan.Sizes;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.util.Comparator;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * Lazy access to one tensor of a large checkpoint: each invocation opens the checkpoint (headers only, outside
 * the timing) and times copying the tensor nearest {@code tensorSize} out of it, mapping and page faults
 * included, from a warm page cache. The target (docs/benchmarks.md): under 5 ms for 8 MiB of a 2 GiB checkpoint.
 */
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 20)
@Measurement(iterations = 50)
public class LazyTensorBenchmark extends SingleShotBenchmark {
    @Param({"2GiB"})
    public String size;

    @Param({"512MiB"})
    public String shardSize;

    @Param({"8MiB"})
    public String tensorSize;

    private CacheCondition warm;
    private CheckpointSummary summary;
    private String name;
    private Checkpoint checkpoint;

    @Setup(Level.Trial)
    public void prepare() throws IOException {
        summary = BenchCheckpoints.prepare(CheckpointSpec.of(ShapeKind.LLAMA, Sizes.parse(size))
                .withShardBytes(Sizes.parse(shardSize)));
        warm = CacheCondition.of("warm", summary.files());
        long target = Sizes.parse(tensorSize);
        try (Checkpoint c = Checkpoint.open(summary.dir())) {
            name = c.tensors().values().stream()
                    .min(Comparator.comparingLong((TensorRef t) -> Math.abs(t.info().byteSize() - target)))
                    .orElseThrow().name();
        }
        warm.establish();
    }

    @Setup(Level.Invocation)
    public void open() {
        checkpoint = Checkpoint.open(summary.dir());
    }

    @TearDown(Level.Invocation)
    public void close() {
        checkpoint.close();
    }

    @Benchmark
    public long copyOneTensor() {
        try (Arena arena = Arena.ofConfined()) {
            Tensor t = checkpoint.copy(name, arena);
            return t.byteSize();
        }
    }
}
