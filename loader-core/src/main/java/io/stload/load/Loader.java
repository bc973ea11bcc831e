package io.stload.load;

import io.stload.checkpoint.Checkpoint;
import io.stload.io.Engine;
import io.stload.nativeio.NativeAccess;
import io.stload.plan.LoadOptions;
import io.stload.plan.LoadPlan;
import io.stload.plan.Planner;
import io.stload.report.LoadReport;
import io.stload.sink.Destination;
import io.stload.sink.HostSink;
import io.stload.sink.StreamingSink;
import io.stload.sink.TensorConsumer;
import java.nio.file.Path;

/**
 * The front door for host loads: plans a checkpoint (strategy per file, with the rule that chose it; for a
 * tensor-parallel rank, its slice of every tensor it holds and the byte ranges holding them), then runs the plan
 * on the {@link Engine}, either into host memory the caller then owns, or through a streaming consumer.
 *
 * <pre>{@code
 * try (LoadedWeights w = Loader.load(Path.of("/models/llama"), LoadOptions.DEFAULTS)) {
 *     Tensor q = w.tensor("model.layers.0.self_attn.q_proj.weight");
 * }
 * }</pre>
 *
 * Memory: the tensors themselves (the caller's, freed by closing the result) plus nothing proportional to
 * the checkpoint: prefetch uses the page cache as its buffer, bounded by {@code prefetchAhead}; direct reads
 * land in the destination; mmap copies from the mapping.
 */
public final class Loader {
    private final NativeAccess os;
    private final Engine engine;

    public Loader(NativeAccess os) {
        this.os = os;
        this.engine = new Engine(os);
    }

    public Loader() {
        this(NativeAccess.get());
    }

    public static LoadedWeights load(Path checkpoint, LoadOptions options) {
        Loader loader = new Loader();
        return loader.execute(new Planner().plan(Checkpoint.open(checkpoint), options), LoadListener.NONE);
    }

    /** Executes a plan made by {@link Planner} into host memory the loader allocates for the caller. */
    public LoadedWeights execute(LoadPlan plan, LoadListener listener) {
        HostSink sink = new HostSink(os);
        LoadReport report = engine.execute(plan, sink, listener);
        return new LoadedWeights(sink, sink.tensors(), report);
    }

    /**
     * Executes a plan into a destination of the caller's (its own buffers, {@link io.stload.sink.CallerBuffers},
     * or its own {@link Destination}); the destination owns what it holds, and the report covers the whole load.
     */
    public LoadReport execute(LoadPlan plan, Destination destination, LoadListener listener) {
        return engine.execute(plan, destination, listener);
    }

    /**
     * Executes a plan into {@code consumer}, each slice as it lands, holding at most about {@code budgetBytes}
     * of its own memory ({@link StreamingSink}).
     */
    public LoadReport stream(LoadPlan plan, TensorConsumer consumer, long budgetBytes, LoadListener listener) {
        return engine.execute(plan, new StreamingSink(consumer, budgetBytes), listener);
    }
}
