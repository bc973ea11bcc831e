package io.stload.cuda;

import io.stload.StloadException;
import io.stload.TensorLookup;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.util.Collections;
import java.util.Map;

/**
 * Every tensor of a device load (for a tensor-parallel rank, its slice of each tensor it holds), in one device
 * allocation the caller owns: closing frees it, after which the device pointers must not be used. The
 * {@link CopyEngine} must stay open until then. The accessors may be called from any thread; close may be called
 * more than once.
 */
public final class DeviceWeights implements TensorLookup<DeviceTensor>, AutoCloseable {
    private final CopyEngine engine;
    private final long allocation;
    private final long allocationBytes;
    private final Map<String, DeviceTensor> tensors;
    private final DeviceReport report;
    private boolean closed;

    DeviceWeights(CopyEngine engine, long allocation, long allocationBytes, Map<String, DeviceTensor> tensors,
                  DeviceReport report) {
        this.engine = engine;
        this.allocation = allocation;
        this.allocationBytes = allocationBytes;
        this.tensors = Collections.unmodifiableMap(tensors);
        this.report = report;
    }

    /** {@return the tensors (the plan's slices) by name, in checkpoint order} */
    @Override
    public Map<String, DeviceTensor> tensors() {
        return tensors;
    }

    /** {@return what the load did and how fast} */
    public DeviceReport report() {
        return report;
    }

    /** {@return the device memory held, in bytes (tensor bytes plus alignment padding)} */
    public long deviceBytes() {
        return allocationBytes;
    }

    /**
     * Copies a tensor's bytes back to native host memory of at least its size (for digests and checks). A heap
     * segment is refused: its address is an offset into a Java array, not memory the device can write.
     *
     * @param t           one of this load's tensors
     * @param destination native memory of at least {@code t.byteSize()} bytes
     * @throws IOException if the copy fails
     * @throws io.stload.StloadException {@link io.stload.ErrorKind#Usage} if {@code destination} is a heap segment;
     *                                   if {@code t} or {@code destination} is null
     */
    public void copyToHost(DeviceTensor t, MemorySegment destination) throws IOException {
        if (t == null || destination == null) {
            throw StloadException.usage("copyToHost copies a device tensor into a segment, neither null");
        }
        if (!destination.isNative()) {
            throw StloadException.usage("copyToHost needs native memory (an Arena's), not a heap segment");
        }
        if (t.byteSize() > 0) {
            engine.copyToHost(t.devicePointer(), destination.asSlice(0, t.byteSize()));
        }
    }

    /** Frees the device allocation; further calls do nothing. */
    @Override
    public synchronized void close() {
        if (!closed) {
            closed = true;
            engine.freeDevice(allocation);
        }
    }
}
