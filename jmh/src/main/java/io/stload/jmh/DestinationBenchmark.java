package io.stload.jmh;

import io.stload.format.Tensor;
import io.stload.report.LoadListener;
import io.stload.load.LoadedWeights;
import io.stload.load.Loader;
import io.stload.plan.LoadOptions;
import io.stload.plan.LoadPlan;
import io.stload.plan.LoadStrategy;
import io.stload.plan.Sizes;
import java.util.concurrent.atomic.LongAdder;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.Param;

/**
 * The same load into the two destinations a host application chooses between: {@code host} (memory the loader
 * allocates and the caller owns) and {@code stream} (each tensor handed to a consumer as it lands, the loader's
 * own memory within {@code budget}). Both consume every tensor the same way, one byte per 4 KiB page, so the
 * scores differ only by where the bytes land. Peak memory is not a JMH score: {@code bench/stream.sh} measures
 * it per process.
 */
public class DestinationBenchmark extends WholeLoadBenchmark {
    @Param({"host", "stream"})
    public String sink;

    @Param({"direct", "prefetch", "mmap"})
    public String strategy;

    @Param({"256MiB"})
    public String budget;

    @Override
    long shardBytes() {
        return 256L << 20;
    }

    @Override
    LoadOptions options() {
        return LoadOptions.DEFAULTS.withStrategy(LoadStrategy.parse(strategy));
    }

    @Benchmark
    public long loadAndTouch() {
        LoadPlan plan = plan();
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
}
