package io.stload.load;

import io.stload.checkpoint.Checkpoint;
import io.stload.io.Engine;
import io.stload.nativeio.NativeAccess;
import io.stload.plan.LoadOptions;
import io.stload.plan.LoadPlan;
import io.stload.plan.Planner;
import io.stload.report.LoadListener;
import io.stload.report.LoadReport;
import io.stload.sink.Destination;
import io.stload.sink.HostSink;
import io.stload.sink.StreamingSink;
import io.stload.sink.TensorConsumer;
import java.nio.file.Path;

/**
 * The front door for host loads: plans a checkpoint (strategy per file, with the rule that chose it; for a
 * tensor-parallel rank, its slice of every tensor it holds and the byte ranges holding them), then runs the plan
 * on the one load engine, either into host memory the caller then owns, or through a streaming consumer.
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
 *
 * <p>A loader holds no state between loads: one instance may run several loads at once, from several threads.
 */
public final class Loader {
    private final NativeAccess os;
    private final Engine engine;

    /** A loader whose system calls go through {@code os}; tests inject faults this way. */
    Loader(NativeAccess os) {
        this.os = os;
        this.engine = new Engine(os);
    }

    /** A loader using the platform's native calls, or their pure-Java fallback where native access is off. */
    public Loader() {
        this(NativeAccess.get());
    }

    /**
     * Opens, plans and loads a whole checkpoint into host memory in one call.
     *
     * @param checkpoint a {@code .safetensors} file or a folder of shards
     * @param options    how to read it (strategy, threads, tensors, the rank's partitioning)
     * @return every tensor the options select, in host memory the caller owns and frees by closing it
     * @throws io.stload.StloadException if the checkpoint cannot be opened, planned or read; its kind says why
     */
    public static LoadedWeights load(Path checkpoint, LoadOptions options) {
        try (Checkpoint open = Checkpoint.open(checkpoint)) {
            return load(open, options);
        }
    }

    /**
     * Plans and loads the tensors {@code options} select from an open checkpoint into host memory; the result is
     * independent of the checkpoint's views and its closing.
     *
     * @param checkpoint the open checkpoint
     * @param options    how to read it (strategy, threads, tensors, the rank's partitioning)
     * @return the loaded weights; the caller closes them to free their memory
     * @throws io.stload.StloadException with the kind of the first failure; nothing stays allocated
     */
    public static LoadedWeights load(Checkpoint checkpoint, LoadOptions options) {
        return new Loader().execute(new Planner().plan(checkpoint, options), LoadListener.NONE);
    }

    /**
     * Executes a plan made by {@link Planner} into host memory the loader allocates for the caller.
     *
     * @param plan     the plan to run
     * @param listener hears each tensor as it lands, from the engine's threads
     * @return the tensors, owned by the caller until it closes them, and the load's report
     * @throws io.stload.StloadException if a file cannot be read or memory cannot be allocated; nothing stays
     *                                   allocated then
     */
    public LoadedWeights execute(LoadPlan plan, LoadListener listener) {
        HostSink sink = new HostSink();
        LoadReport report = engine.execute(plan, sink, listener);
        return new LoadedWeights(sink, sink.tensors(), report);
    }

    /**
     * Executes a plan into a destination of the caller's (its own buffers, {@link io.stload.sink.CallerBuffers},
     * or its own {@link Destination}); the destination owns what it holds, and the report covers the whole load.
     *
     * @param plan        the plan to run
     * @param destination where the bytes land; it owns them
     * @param listener    hears each tensor as it lands, from the engine's threads
     * @return the load's report
     * @throws io.stload.StloadException if a file cannot be read or the destination refuses the load
     */
    public LoadReport execute(LoadPlan plan, Destination destination, LoadListener listener) {
        return engine.execute(plan, destination, listener);
    }

    /**
     * Executes a plan into {@code consumer}, each slice as it lands, holding at most about {@code budgetBytes}
     * of its own memory ({@link StreamingSink}).
     *
     * @param plan        the plan to run
     * @param consumer    takes each slice's bytes, valid only during its call
     * @param budgetBytes the most bytes held for slices not yet consumed
     * @param listener    hears each tensor as it lands, from the engine's threads
     * @return the load's report
     * @throws io.stload.StloadException if a file cannot be read or the consumer fails
     */
    public LoadReport stream(LoadPlan plan, TensorConsumer consumer, long budgetBytes, LoadListener listener) {
        return engine.execute(plan, new StreamingSink(consumer, budgetBytes), listener);
    }
}
