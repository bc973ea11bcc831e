package io.stload.cuda;

import io.stload.io.Engine;
import io.stload.report.LoadListener;
import io.stload.nativeio.NativeAccess;
import io.stload.plan.LoadPlan;
import io.stload.report.LoadReport;

/**
 * Executes a {@link LoadPlan} into device memory on the one load engine, with GPU memory as the destination
 * ({@link CudaDestination}): every slice the plan's rank holds (the whole tensor for a single rank or a
 * replicated one) lands contiguous and row-major in one device allocation (256-byte aligned), checked against
 * the device's free memory before anything is read; the plan's strategy per file fills page-locked staging
 * windows while the device copies the windows already filled. The staging ring is pinned on the first load
 * and kept for the next ones until this loader is closed.
 *
 * <pre>{@code
 * try (CopyEngine gpu = CudaCopyEngine.open(0, Pinning.HOST_ALLOC);
 *      DeviceLoader loader = new DeviceLoader(gpu, RingOptions.DEFAULTS);
 *      DeviceWeights w = loader.execute(new Planner().plan(ckpt, options))) {
 *     long q = w.tensor("model.layers.0.self_attn.q_proj.weight").devicePointer();
 * }
 * }</pre>
 *
 * The plan's slices are the tensors this rank holds: a tensor the plan leaves out is neither read nor on the
 * device.
 */
public final class DeviceLoader implements AutoCloseable {
    private final Engine engine;
    private final CudaDestination destination;
    private final CopyEngine device;

    /** A loader whose system calls go through {@code os}; tests inject faults this way. */
    DeviceLoader(CopyEngine device, RingOptions ring, NativeAccess os) {
        this.device = device;
        this.engine = new Engine(os);
        this.destination = new CudaDestination(device, ring);
    }

    /**
     * A loader onto one device; nothing is pinned until the first load.
     *
     * @param device the device's copy engine; the caller keeps owning it and closes it after this loader
     * @param ring   the staging ring's window size and count
     */
    public DeviceLoader(CopyEngine device, RingOptions ring) {
        this(device, ring, NativeAccess.get());
    }

    /**
     * Loads one plan; the loader may be used again for the next one (e.g. a reload), one at a time.
     *
     * @param plan the plan to run, made for a destination taking device memory
     * @return the tensors in device memory, owned by the caller until it closes them, and the report
     * @throws io.stload.StloadException {@link io.stload.ErrorKind#OutOfMemory} when the device lacks the memory,
     *                                   or the kind of the read or copy that failed; nothing stays allocated then
     */
    public synchronized DeviceWeights execute(LoadPlan plan) {
        LoadReport load = engine.execute(plan, destination, LoadListener.NONE);
        double read = load.phases().get("io") + load.phases().get("copy");
        double h2d = load.phases().get("h2d");
        DeviceReport report = new DeviceReport(load, device.name(), read, plan.options().threads(), h2d,
                load.seconds() - load.phases().get("plan") - load.phases().get("pin"));
        return destination.result(report);
    }

    /** Frees the staging ring; the device weights loaded stay valid until they are closed. */
    @Override
    public synchronized void close() {
        destination.close();
    }
}
