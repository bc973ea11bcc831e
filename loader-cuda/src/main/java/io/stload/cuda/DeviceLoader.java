package io.stload.cuda;

import io.stload.ErrorKind;
import io.stload.StloadException;
import io.stload.load.Loader;
import io.stload.report.LoadListener;
import io.stload.plan.DestinationProfile;
import io.stload.report.Phase;
import io.stload.plan.LoadPlan;
import io.stload.report.LoadReport;
import java.lang.foreign.MemorySegment;
import java.util.List;
import java.util.Map;

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
    private final Loader loader = new Loader();
    private final CudaDestination destination;
    private final CopyEngine device;

    /**
     * A loader onto one device; nothing is pinned until the first load.
     *
     * @param device the device's copy engine; the caller keeps owning it and closes it after this loader
     * @param ring   the staging ring's window size and count
     * @throws StloadException {@link ErrorKind#Usage} if {@code device} or {@code ring} is null
     */
    public DeviceLoader(CopyEngine device, RingOptions ring) {
        if (device == null || ring == null) {
            throw StloadException.usage("a device loader needs a copy engine and ring options, not null");
        }
        this.device = device;
        this.destination = new CudaDestination(device, ring);
    }

    /**
     * How the device destination uses host memory: its staging ring. Plan with it
     * ({@code new Planner().plan(checkpoint, options, loader.profile())}) so that AUTO counts the ring.
     *
     * @return the destination's profile
     */
    public DestinationProfile profile() {
        return destination.profile();
    }

    /**
     * Loads one plan; the loader may be used again for the next one (e.g. a reload), one at a time.
     *
     * @param plan the plan to run, made for a destination taking device memory
     * @return the tensors in device memory, owned by the caller until it closes them, and the report
     * @throws io.stload.StloadException {@link io.stload.ErrorKind#OutOfMemory} when the device lacks the memory,
     *                                   or the kind of the read or copy that failed; nothing stays allocated then;
     *                                   {@link ErrorKind#Usage} if {@code plan} is null
     */
    public synchronized DeviceWeights execute(LoadPlan plan) {
        StloadException.requireNonNull(plan, "a device load executes a plan, not null");
        LoadReport load = loader.execute(plan, destination, LoadListener.NONE);
        double read = load.seconds(Phase.IO) + load.seconds(Phase.COPY);
        DeviceReport report = new DeviceReport(load, device.name(), read, plan.options().threads(),
                load.seconds(Phase.H2D), load.seconds() - load.seconds(Phase.PLAN) - load.seconds(Phase.PIN));
        return destination.result(report);
    }

    /**
     * Loads a plan's slices to device addresses the caller holds (weights to overwrite in place, or an engine's own
     * buffers), through the staging ring; nothing is allocated on the device, and nothing freed if the load fails.
     *
     * @param plan        the plan to run
     * @param addresses   the device address of each slice's first byte, by name; each must hold the slice's bytes
     * @param overwriting run once, before the first copy into that memory is queued
     * @return the load's report
     * @throws io.stload.StloadException the kind of the read or copy that failed; {@link io.stload.ErrorKind#Usage}
     *                                   when a slice has no address
     */
    synchronized DeviceReport executeAt(LoadPlan plan, Map<String, Long> addresses, Runnable overwriting) {
        destination.placeAt(addresses, overwriting);
        LoadReport load = loader.execute(plan, destination, LoadListener.NONE);
        double read = load.seconds(Phase.IO) + load.seconds(Phase.COPY);
        return new DeviceReport(load, device.name(), read, plan.options().threads(), load.seconds(Phase.H2D),
                load.seconds() - load.seconds(Phase.PLAN) - load.seconds(Phase.PIN));
    }

    /**
     * Copies host bytes to device addresses through the staging ring and waits for them.
     *
     * @param parts       device address and the bytes that go there
     * @param overwriting run once, before the first copy is queued
     * @throws io.stload.StloadException the kind of the copy that failed
     */
    synchronized void upload(List<Map.Entry<Long, MemorySegment>> parts, Runnable overwriting) {
        try {
            destination.upload(parts, overwriting);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new StloadException(ErrorKind.Io, null, "interrupted while copying to "
                    + device.name(), e);
        }
    }

    /** Frees the staging ring; the device weights loaded stay valid until they are closed. */
    @Override
    public synchronized void close() {
        destination.close();
    }
}
