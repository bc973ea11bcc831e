package io.stload.cuda;

import io.stload.StloadException;
import io.stload.plan.DestinationProfile;
import io.stload.plan.LoadPlan;
import io.stload.plan.TensorSlice;
import io.stload.report.LoadReport;
import io.stload.store.StoreMemory;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * GPU memory for a {@link io.stload.store.WeightStore}: every version's tensors on one device, loaded through the
 * pinned staging ring of a {@link DeviceLoader}, readers getting {@link DeviceTensor}s (raw device pointers).
 *
 * <ul>
 *   <li>Beside, each load's changed tensors get new device memory: one allocation per load that stload makes and
 *   frees ({@link #DeviceStoreMemory(CopyEngine, RingOptions)}), or buffers the engine allocates and takes back
 *   itself ({@link #engineBuffers}).</li>
 *   <li>In place, for weights the device cannot hold twice (bound into the engine's kernels), the changed bytes are
 *   written over the device buffers the serving version lives in: from host staging, through the ring, when they
 *   fit the store's staging bound, else read from the files straight through the ring into those buffers.</li>
 * </ul>
 *
 * <pre>{@code
 * try (CopyEngine gpu = CudaCopyEngine.open(0, Pinning.HOST_ALLOC);
 *      DeviceStoreMemory memory = DeviceStoreMemory.engineBuffers(gpu, RingOptions.DEFAULTS, engineBuffers);
 *      WeightStore<DeviceTensor> store = WeightStore.open(source, memory, LoadOptions.DEFAULTS, Long.MAX_VALUE)) {
 *     store.reload(next, ReloadOptions.inPlace(Duration.ofSeconds(30)));
 * }
 * }</pre>
 *
 * The copy engine must stay open until this memory and every store over it are closed. One store at a time. A null
 * argument is a {@link io.stload.ErrorKind#Usage} error.
 */
public final class DeviceStoreMemory implements StoreMemory<DeviceTensor>, AutoCloseable {
    /**
     * Device buffers an engine allocates itself (the buffers its kernels are bound to): asked for one per slice a load
     * holds, given back when no version holds it.
     */
    public interface EngineBuffers {
        /**
         * Gives the device memory a slice lands in.
         *
         * @param slice the slice (the whole tensor for a single rank), with its rank-local dtype and shape
         * @return the device address of at least {@code slice.byteSize()} bytes
         */
        long allocate(TensorSlice slice);

        /**
         * Takes back memory {@link #allocate} gave, once no version of the weights holds it (also when the load that
         * asked for it failed).
         *
         * @param address the address {@link #allocate} returned
         */
        void release(long address);
    }

    private final CopyEngine device;
    private final DeviceLoader loader;
    private final EngineBuffers buffers;

    /**
     * Device memory stload allocates: one allocation per load, checked against the device's free memory first.
     *
     * @param device the device; the caller keeps owning it and closes it after this memory
     * @param ring   the staging ring's window size and count
     */
    public DeviceStoreMemory(CopyEngine device, RingOptions ring) {
        this(device, ring, null);
    }

    private DeviceStoreMemory(CopyEngine device, RingOptions ring, EngineBuffers buffers) {
        if (device == null || ring == null) {
            throw StloadException.usage("device memory needs a copy engine and ring options, not null");
        }
        this.device = device;
        this.loader = new DeviceLoader(device, ring);
        this.buffers = buffers;
    }

    /**
     * Device buffers the engine allocates and releases itself: the first version lands in the buffers it gives,
     * reloads in place write over them, and reloads beside ask it for buffers for the changed tensors.
     *
     * @param device  the device; the caller keeps owning it and closes it after this memory
     * @param ring    the staging ring's window size and count
     * @param buffers gives and takes back the engine's buffers; called on the thread that opens or reloads the store,
     *                and for a release, on whichever thread lets the last version holding a buffer go
     * @return the memory
     */
    public static DeviceStoreMemory engineBuffers(CopyEngine device, RingOptions ring, EngineBuffers buffers) {
        StloadException.requireNonNull(buffers, "the engine's buffers are given by EngineBuffers, not null");
        return new DeviceStoreMemory(device, ring, buffers);
    }

    @Override
    public String describe() {
        return device.name();
    }

    @Override
    public DestinationProfile profile() {
        return loader.profile();
    }

    /** stload's allocation, alignment included; for the engine's buffers, the slices' bytes. */
    @Override
    public long bytesFor(LoadPlan plan) {
        requirePlan(plan);
        return buffers == null ? Math.max(new DeviceLayout(plan.slices().values()).bytes(), DeviceLayout.ALIGNMENT)
                : plan.bytes();
    }

    @Override
    public Buffers<DeviceTensor> load(LoadPlan plan) {
        requirePlan(plan);
        if (buffers == null) {
            DeviceWeights w = loader.execute(plan);
            return new DeviceBuffers(w.tensors(), w.deviceBytes(), w.report().load(), w::close);
        }
        Map<String, Long> addresses = new LinkedHashMap<>();
        List<Long> given = new ArrayList<>();
        try {
            for (TensorSlice s : plan.slices().values()) {
                long address;
                try {
                    address = buffers.allocate(s);
                } catch (RuntimeException e) {
                    throw StloadException.callback("the engine's buffer for " + s.name() + " failed", e);
                }
                given.add(address);
                addresses.put(s.name(), address);
            }
            DeviceReport report = loader.executeAt(plan, addresses, () -> {
            });
            Map<String, DeviceTensor> tensors = new LinkedHashMap<>();
            for (TensorSlice s : plan.slices().values()) {
                tensors.put(s.name(), new DeviceTensor(s.name(), s.local().dtype(), s.local().shape(),
                        addresses.get(s.name()), s.byteSize()));
            }
            return new DeviceBuffers(tensors, plan.bytes(), report.load(), () -> releaseAll(given));
        } catch (RuntimeException e) {
            try {
                releaseAll(given);
            } catch (RuntimeException r) {
                e.addSuppressed(r);
            }
            throw e;
        }
    }

    private void releaseAll(List<Long> given) {
        RuntimeException first = null;
        for (long a : given) {
            try {
                buffers.release(a);
            } catch (RuntimeException e) {
                if (first == null) {
                    first = StloadException.callback("the engine's release of a device buffer failed", e);
                } else {
                    first.addSuppressed(e);
                }
            }
        }
        if (first != null) {
            throw first;
        }
    }

    @Override
    public LoadReport overwrite(LoadPlan plan, Map<String, DeviceTensor> live, Runnable overwriting) {
        requirePlan(plan);
        if (live == null || overwriting == null) {
            throw StloadException.usage("an overwrite needs the live tensors and what to run before it, not null");
        }
        Map<String, Long> addresses = new LinkedHashMap<>();
        for (TensorSlice s : plan.slices().values()) {
            DeviceTensor t = live.get(s.name());
            if (t == null || t.byteSize() != s.byteSize()) {
                throw StloadException.usage(s.name() + " has no live device tensor of " + s.byteSize() + " bytes");
            }
            addresses.put(s.name(), t.devicePointer());
        }
        return loader.executeAt(plan, addresses, overwriting).load();
    }

    @Override
    public void write(List<Write<DeviceTensor>> writes, Runnable overwriting) {
        if (writes == null || overwriting == null) {
            throw StloadException.usage("a write needs its writes and what to run before it, not null");
        }
        List<Map.Entry<Long, MemorySegment>> parts = new ArrayList<>();
        for (Write<DeviceTensor> w : writes) {
            if (w.bytes().byteSize() != w.target().byteSize()) {
                throw StloadException.usage(w.target().name() + ": " + w.bytes().byteSize()
                        + " staged bytes for a device tensor of " + w.target().byteSize());
            }
            parts.add(Map.entry(w.target().devicePointer(), w.bytes()));
        }
        loader.upload(parts, overwriting);
    }

    private static void requirePlan(LoadPlan plan) {
        StloadException.requireNonNull(plan, "device memory is sized and loaded for a plan, not null");
    }

    /** Frees the staging ring; device memory is freed by the store that holds it, or given back to the engine. */
    @Override
    public void close() {
        loader.close();
    }

    private record DeviceBuffers(Map<String, DeviceTensor> tensors, long bytes, LoadReport report, Runnable free)
            implements Buffers<DeviceTensor> {
        @Override
        public void close() {
            free.run();
        }
    }
}
