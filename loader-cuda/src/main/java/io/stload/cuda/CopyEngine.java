package io.stload.cuda;

import io.stload.StloadException;
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
     * {@code source}, to device address {@code deviceAddress}, {@code devicePitch} bytes apart there (end to end when
     * it is {@code width}): a strided slice's runs gathered in one call (cudaMemcpy2DAsync) instead of one call per
     * run. {@code source} spans exactly the rows, from the first byte of the first to the last byte of the last.
     *
     * @param source        pinned host memory spanning the rows
     * @param deviceAddress where the first row lands
     * @param width         bytes per row
     * @param rows          the number of rows, at least 1
     * @param sourcePitch   bytes from one row's start to the next's in {@code source}
     * @param devicePitch   bytes from one row's start to the next's on the device, at least {@code width}
     */
    record Copy(MemorySegment source, long deviceAddress, long width, long rows, long sourcePitch, long devicePitch) {
        /**
         * Checks that {@code source} spans exactly the rows.
         *
         * @throws StloadException {@link io.stload.ErrorKind#Usage} if {@code source} is null or does not span the
         *                         rows, or a count is out of range
         */
        public Copy {
            requireSource(source);
            if (rows < 1 || width < 0 || sourcePitch < width || devicePitch < width
                    || source.byteSize() != (rows - 1) * sourcePitch + width) {
                throw StloadException.usage("a copy of " + rows + " rows of " + width + " bytes, " + sourcePitch
                        + " apart, cannot have a source of " + source.byteSize() + " bytes");
            }
        }

        /**
         * Rows that land end to end on the device.
         *
         * @param source        pinned host memory spanning the rows
         * @param deviceAddress where the first row lands
         * @param width         bytes per row
         * @param rows          the number of rows, at least 1
         * @param sourcePitch   bytes from one row's start to the next's in {@code source}
         * @throws StloadException {@link io.stload.ErrorKind#Usage} if {@code source} is null
         */
        public Copy(MemorySegment source, long deviceAddress, long width, long rows, long sourcePitch) {
            this(source, deviceAddress, width, rows, sourcePitch, width);
        }

        /**
         * All of {@code source} to one device address: one row.
         *
         * @param source        pinned host memory
         * @param deviceAddress where it lands
         * @throws StloadException {@link io.stload.ErrorKind#Usage} if {@code source} is null
         */
        public Copy(MemorySegment source, long deviceAddress) {
            this(source, deviceAddress, requireSource(source).byteSize(), 1, source.byteSize());
        }

        private static MemorySegment requireSource(MemorySegment source) {
            return StloadException.requireNonNull(source, "a copy to the device is of a host segment, not null");
        }

        /** {@return the bytes that land on the device} */
        public long bytes() {
            return width * rows;
        }
    }

    /** {@return a short name for reports, e.g. {@code cuda:0 (NVIDIA H100 80GB HBM3)}} */
    String name();

    /**
     * Allocates page-locked host memory, usable as a copy source until {@link #freeStaging freed}.
     *
     * @param bytes the size
     * @return page-aligned memory the caller owns and frees with {@link #freeStaging}
     * @throws IOException if the memory cannot be allocated or pinned
     */
    MemorySegment allocateStaging(long bytes) throws IOException;

    /**
     * Frees memory from {@link #allocateStaging}; no copy from it may still be pending.
     *
     * @param buffer the memory
     */
    void freeStaging(MemorySegment buffer);

    /**
     * Asks the device how much memory is free right now.
     *
     * @return free device memory in bytes
     * @throws IOException if the device cannot be queried
     */
    long freeDeviceBytes() throws IOException;

    /**
     * Allocates device memory, at least 256-byte aligned.
     *
     * @param bytes the size
     * @return its device address; the caller owns it and frees it with {@link #freeDevice}
     * @throws IOException if the memory cannot be allocated
     */
    long allocateDevice(long bytes) throws IOException;

    /**
     * Frees device memory from {@link #allocateDevice}; no copy into it may still be pending.
     *
     * @param address the device address
     */
    void freeDevice(long address);

    /**
     * Queues {@code copies} in order, then an event that completes once they are all done. The sources must
     * stay untouched until then: that is what the ring's back-pressure guarantees.
     *
     * @param copies the copies, in order
     * @return the batch's event; the caller awaits and closes it
     * @throws IOException if a copy cannot be queued
     */
    CopyEvent copyToDevice(List<Copy> copies) throws IOException;

    /**
     * Writes zeros to {@code rows} rows of {@code width} device bytes, {@code pitch} apart from {@code deviceAddress}
     * (a padded slice's rows past its tensor's end), and waits for them: done before any copy into the allocation.
     *
     * @param deviceAddress the first byte
     * @param width         bytes per row
     * @param rows          the number of rows, at least 1
     * @param pitch         bytes from one row's start to the next's, at least {@code width}
     * @throws IOException if the device fails
     */
    void zeroDevice(long deviceAddress, long width, long rows, long pitch) throws IOException;

    /**
     * Copies device bytes back into host memory and waits for them (for digests and tests).
     *
     * @param deviceAddress the first device byte
     * @param destination   receives {@code destination.byteSize()} bytes
     * @throws IOException if the copy fails
     */
    void copyToHost(long deviceAddress, MemorySegment destination) throws IOException;

    /** Frees what the engine itself holds (stream, context use); buffers and allocations are freed by their owners. */
    @Override
    void close();
}
