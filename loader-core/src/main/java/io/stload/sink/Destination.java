package io.stload.sink;

import io.stload.format.Header;
import io.stload.plan.LoadPlan;
import io.stload.plan.TensorSlice;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.util.Map;

/**
 * Where a load's bytes land: the one thing that varies between a load into host memory the loader owns
 * (the loader's own), into the caller's buffers ({@link CallerBuffers}), into a streaming consumer
 * ({@link StreamingSink}) or into GPU memory. The engine reads the plan's byte ranges of each file in windows,
 * with whatever strategy the plan chose for the file, and hands each window's bytes to {@link #accept}; a
 * destination takes the parts of its slices a window holds ({@link io.stload.io.SliceScatter} cuts them).
 *
 * <p>Lifecycle, one load at a time: {@link #begin}, then {@link #readBuffer}/{@link #accept}/{@link #abandon}
 * from I/O threads and {@link #landed} from consumer threads, all possibly concurrent; then, once every
 * engine thread has stopped, {@link #end} exactly once, on success and on failure alike.
 */
public interface Destination {

    /** Where the bytes given to {@link #accept} live. */
    enum Origin {
        /** In the memory {@link #readBuffer} returned for this window: already where the destination wants them. */
        READ_BUFFER,
        /** In a buffer of the engine's, reused once the call returns. */
        ENGINE_BUFFER,
        /**
         * A read-only view of the file's mapping, valid only during the call: the engine may unmap the file once
         * no call uses it. For a contiguous slice (one run) the engine also passes such a view to {@link #landed},
         * so a destination may skip it here.
         */
        MAPPING
    }

    /** Once per load, before any read: make room for the plan's slices, or throw (kind OutOfMemory). */
    void begin(LoadPlan plan) throws IOException;

    /** Bytes per window, given the strategy's own choice (a staging ring reads in its window size). */
    default long windowBytes(long proposed) {
        return proposed;
    }

    /** How many bytes reads may run ahead of the consumers, given the strategy's own bound. */
    default long aheadBytes(long proposed) {
        return proposed;
    }

    /**
     * Memory to put file bytes {@code [offset, offset + length)} into so that they land in place (page-aligned,
     * so that direct reads can fill it), or null to have the engine read them into memory of its own. May block
     * until memory is free (back-pressure). {@code length} may run past the end of the file: an aligned read
     * covers whole blocks.
     */
    default MemorySegment readBuffer(Header file, long offset, long length) throws IOException, InterruptedException {
        return null;
    }

    /** File bytes from {@code offset}, all within the file: take what belongs to the plan's slices. */
    void accept(Header file, long offset, MemorySegment bytes, Origin origin) throws IOException;

    /** A buffer {@link #readBuffer} gave will never be accepted: the read failed. */
    default void abandon(MemorySegment readBuffer, Throwable why) {
    }

    /**
     * Every byte of {@code slice} was accepted. Called from the consumer threads, in the plan's order.
     *
     * @param mapped for a contiguous slice read through a mapping, a read-only view of its bytes there, valid only
     *               during the call; else null
     */
    default void landed(TensorSlice slice, MemorySegment mapped) throws IOException {
    }

    /**
     * The load is over and no engine thread touches memory any more: wait for the destination's own
     * asynchronous work; on failure ({@code failure} not null) free what this load allocated.
     */
    void end(Throwable failure) throws IOException, InterruptedException;

    /** Seconds per phase of the last load that the destination measured itself (e.g. {@code h2d}). */
    default Map<String, Double> phases() {
        return Map.of();
    }
}
