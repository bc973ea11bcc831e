package io.stload.jmh;

import io.stload.format.Tensor;
import io.stload.report.LoadListener;
import io.stload.load.LoadedWeights;
import io.stload.load.Loader;
import io.stload.plan.LoadOptions;
import io.stload.plan.LoadStrategy;
import io.stload.plan.ReadOrder;
import io.stload.plan.Sizes;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.Param;

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
public class LoadStrategyBenchmark extends WholeLoadBenchmark {
    @Param({"mmap", "prefetch", "direct", "auto"})
    public String strategy;

    @Param({"file", "shuffled"})
    public String order;

    /** Shard size of tensor data; 0 for a single model.safetensors. */
    @Param({"256MiB"})
    public String shardSize;

    @Override
    long shardBytes() {
        return Sizes.parse(shardSize);
    }

    @Override
    LoadOptions options() {
        return LoadOptions.DEFAULTS.withStrategy(LoadStrategy.parse(strategy)).withOrder(ReadOrder.parse(order));
    }

    @Benchmark
    public long loadTouchAndClose() {
        try (LoadedWeights weights = new Loader().execute(plan(), LoadListener.NONE)) {
            long sum = weights.report().bytes();
            for (Tensor tensor : weights.tensors().values()) {
                sum += touch(tensor.data());
            }
            return sum;
        }
    }
}
