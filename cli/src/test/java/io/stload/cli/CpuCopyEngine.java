package io.stload.cli;

import io.stload.cuda.CopyEngine;
import io.stload.cuda.CopyEvent;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.io.IOException;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * The CUDA destination's test seam, the smallest that works: "device memory" is host memory, and each batch of copies
 * runs at once, on the caller's thread, in order, as a stream would. Enough to run the CUDA destination where no GPU
 * is, with sources only this module's tests reach (S3 on S3Proxy).
 */
final class CpuCopyEngine implements CopyEngine {
    private final Arena arena = Arena.ofShared();
    private final TreeMap<Long, MemorySegment> device = new TreeMap<>();
    private int staging;

    @Override
    public String name() {
        return "cpu";
    }

    @Override
    public synchronized MemorySegment allocateStaging(long bytes) {
        staging++;
        return arena.allocate(bytes, 4096);
    }

    @Override
    public synchronized void freeStaging(MemorySegment buffer) {
        staging--;
    }

    @Override
    public long freeDeviceBytes() {
        return 1L << 30;
    }

    @Override
    public synchronized long allocateDevice(long bytes) {
        MemorySegment m = arena.allocate(bytes, 256);
        device.put(m.address(), m);
        return m.address();
    }

    @Override
    public synchronized void freeDevice(long address) {
        if (device.remove(address) == null) {
            throw new IllegalStateException("not a live device allocation");
        }
    }

    synchronized int liveDeviceAllocations() {
        return device.size();
    }

    synchronized int liveStagingBuffers() {
        return staging;
    }

    synchronized MemorySegment deviceBytes(long address, long length) {
        Map.Entry<Long, MemorySegment> e = device.floorEntry(address);
        return e.getValue().asSlice(address - e.getKey(), length);
    }

    @Override
    public synchronized void zeroDevice(long deviceAddress, long width, long rows, long pitch) {
        for (long r = 0; r < rows; r++) {
            deviceBytes(deviceAddress + r * pitch, width).fill((byte) 0);
        }
    }

    @Override
    public CopyEvent copyToDevice(List<Copy> copies) {
        for (Copy c : copies) {
            MemorySegment to = deviceBytes(c.deviceAddress(), (c.rows() - 1) * c.devicePitch() + c.width());
            for (long r = 0; r < c.rows(); r++) {
                MemorySegment.copy(c.source(), r * c.sourcePitch(), to, r * c.devicePitch(), c.width());
            }
        }
        return new CopyEvent() {
            @Override
            public boolean isDone() {
                return true;
            }

            @Override
            public void await() {
            }

            @Override
            public double copySeconds() {
                return 0;
            }

            @Override
            public void close() {
            }
        };
    }

    @Override
    public void copyToHost(long deviceAddress, MemorySegment destination) throws IOException {
        MemorySegment.copy(deviceBytes(deviceAddress, destination.byteSize()), 0, destination, 0,
                destination.byteSize());
    }

    @Override
    public void close() {
        arena.close();
    }
}
