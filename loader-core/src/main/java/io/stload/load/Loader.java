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
 * land in the destination, through a bounce buffer per I/O thread where they cannot land in place; mmap copies from
 * the mapping. Each report's {@link LoadReport#memory()} says what the loader held. The process's resident set (RSS)
 * shows more under mmap and prefetch: the pages of a mapped file that a load touches count in it while mapped
 * (reclaimable page cache, but a container limit that counts RSS sees them); direct reads map nothing.
 * {@link LoadOptions#withResidentLimit} keeps a load within a resident bound.
 *
 * <p>Threads and callbacks: a load runs on the calling thread, which plans, then waits while the engine's I/O threads
 * read and its consumer threads ({@link LoadOptions#threads()} of them) hand each slice to the destination; a
 * {@link LoadListener} and a {@link TensorConsumer} are called on those consumer threads, several at once. What a
 * consumer, listener, allocator or destination of the caller's throws ends the load as {@link
 * io.stload.ErrorKind#Callback}, the caller's exception as the cause and no file blamed; calls already running on
 * other threads finish (they are interrupted) before the load returns, and no new call starts. A callback that
 * returns with its thread's interrupt flag set (the engine's thread, not the caller's) fails the load the same way.
 * Interrupting the thread that runs the load stops it: {@link io.stload.ErrorKind#Io} "load interrupted", an
 * {@link InterruptedException} as its cause, the thread's interrupt flag set again, once the engine's threads ended.
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
     * of its own memory for slices ({@link StreamingSink}). The report's {@link LoadReport#memory()} says what was held
     * at the peak: the slice buffers, and the direct reads' bounce buffers (one block per I/O thread) beside the
     * budget. The process's resident set shows more under mmap and prefetch, whose mapped pages count in it; plan
     * with {@link LoadOptions#withResidentLimit} where a container's limit counts the resident set.
     *
     * @param plan        the plan to run; plan it with the sink's profile ({@code new StreamingSink(c, b).profile()})
     *                    so that AUTO counts the budget, or use {@link #stream(Checkpoint, LoadOptions, TensorConsumer)}
     * @param consumer    takes each slice's bytes, valid only during its call, on the consumer threads, several at once
     * @param budgetBytes the most bytes held for slices not yet consumed; 0 for a quarter of the host's headroom, at
     *                    most 1 GiB
     * @param listener    hears each tensor as it lands, from the engine's threads
     * @return the load's report, with the memory it held
     * @throws io.stload.StloadException if a file cannot be read; {@link io.stload.ErrorKind#Callback} with the
     *                                   consumer's own exception as the cause if the consumer fails
     */
    public LoadReport stream(LoadPlan plan, TensorConsumer consumer, long budgetBytes, LoadListener listener) {
        return engine.execute(plan, new StreamingSink(consumer, budgetBytes), listener);
    }

    /**
     * Plans and streams the tensors {@code options} select into {@code consumer}, each as it lands, within the
     * default budget: a quarter of the host's headroom (of the resident limit, if the options set one), at most
     * 1 GiB. AUTO counts the budget when it chooses strategies.
     *
     * <pre>{@code
     * LoadReport r = Loader.stream(ckpt, LoadOptions.DEFAULTS, (slice, bytes) -> gpu.upload(slice.name(), bytes));
     * long held = r.memory().peakHeldBytes();
     * }</pre>
     *
     * @param checkpoint the open checkpoint
     * @param options    how to read it (strategy, threads, tensors, the rank's partitioning, a resident limit)
     * @param consumer   takes each slice's bytes, valid only during its call, on the consumer threads, several at once
     * @return the load's report, with the memory it held
     * @throws io.stload.StloadException if the checkpoint cannot be planned or read; {@link io.stload.ErrorKind#Callback}
     *                                   with the consumer's own exception as the cause if the consumer fails
     */
    public static LoadReport stream(Checkpoint checkpoint, LoadOptions options, TensorConsumer consumer) {
        return stream(checkpoint, options, 0, consumer);
    }

    /**
     * Plans and streams as {@link #stream(Checkpoint, LoadOptions, TensorConsumer)} does, within a budget of the
     * caller's.
     *
     * @param checkpoint  the open checkpoint
     * @param options     how to read it
     * @param budgetBytes the most bytes held for slices not yet consumed; 0 for the default
     * @param consumer    takes each slice's bytes, valid only during its call, on the consumer threads, several at once
     * @return the load's report, with the memory it held
     * @throws io.stload.StloadException as the three-argument form; {@link io.stload.ErrorKind#Usage} for a budget
     *                                   that is negative or 1
     */
    public static LoadReport stream(Checkpoint checkpoint, LoadOptions options, long budgetBytes,
                                    TensorConsumer consumer) {
        StreamingSink sink = new StreamingSink(consumer, budgetBytes);
        LoadPlan plan = new Planner().plan(checkpoint, options, sink.profile());
        return new Loader().engine.execute(plan, sink, LoadListener.NONE);
    }
}
