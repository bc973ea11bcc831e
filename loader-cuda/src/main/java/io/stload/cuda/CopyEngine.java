package io.stload.cuda;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.util.List;

/**
 * What the staging ring needs from a device: page-locked host buffers, one device allocation per load, and
 * asynchronous host-to-device copies in submission order with an event per batch. {@link CudaCopyEngine}
 * is the real one; tests drive the ring with a CPU implementation of the same contract.
 *
 * <p>Device memory is addressed by raw device pointers ({@code long}); host memory by segments.
 */
public interface CopyEngine extends AutoCloseable {

    /** One asynchronous copy: all of {@code source} to device address {@code deviceAddress}. */
    record Copy(MemorySegment source, long deviceAddress) {
    }

    /** A short name for reports, e.g. {@code cuda:0 (NVIDIA H100 80GB HBM3)}. */
    String name();

    /** Page-locked host memory of {@code bytes} (page-aligned), usable as a copy source until freed. */
    MemorySegment allocateStaging(long bytes) throws IOException;

    void freeStaging(MemorySegment buffer);

    /** Device memory free right now, in bytes. */
    long freeDeviceBytes() throws IOException;

    /** {@code bytes} of device memory (at least 256-byte aligned); returns its device address. */
    long allocateDevice(long bytes) throws IOException;

    void freeDevice(long address);

    /**
     * Queues {@code copies} in order, then an event that completes once they are all done. The sources must
     * stay untouched until then: that is what the ring's back-pressure guarantees.
     */
    CopyEvent copyToDevice(List<Copy> copies) throws IOException;

    /** Copies device bytes back into host memory and waits for them (for digests and tests). */
    void copyToHost(long deviceAddress, MemorySegment destination) throws IOException;

    /** Frees what the engine itself holds (stream, context use); buffers and allocations are freed by their owners. */
    @Override
    void close();
}
