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

    /**
     * One asynchronous copy of {@code rows} rows of {@code width} bytes, {@code sourcePitch} bytes apart in
     * {@code source}, to {@code rows * width} contiguous bytes at device address {@code deviceAddress}: a
     * strided slice's runs gathered in one call (cudaMemcpy2DAsync) instead of one call per run. {@code source}
     * spans exactly the rows, from the first byte of the first to the last byte of the last.
     */
    record Copy(MemorySegment source, long deviceAddress, long width, long rows, long sourcePitch) {
        public Copy {
            if (rows < 1 || width < 0 || sourcePitch < width || source.byteSize() != (rows - 1) * sourcePitch + width) {
                throw new IllegalArgumentException("a copy of " + rows + " rows of " + width + " bytes, " + sourcePitch
                        + " apart, cannot have a source of " + source.byteSize() + " bytes");
            }
        }

        /** All of {@code source} to device address {@code deviceAddress}: one row. */
        public Copy(MemorySegment source, long deviceAddress) {
            this(source, deviceAddress, source.byteSize(), 1, source.byteSize());
        }

        /** Bytes that land on the device. */
        public long bytes() {
            return width * rows;
        }
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
