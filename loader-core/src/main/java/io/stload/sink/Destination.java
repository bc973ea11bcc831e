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
 * destination takes the parts of its slices a window holds ({@link io.stload.sink.SliceScatter} cuts them).
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

    /**
     * Makes room for the plan's slices; called once per load, before any read.
     *
     * @param plan the plan about to be executed
     * @throws IOException if the destination cannot be prepared
     * @throws io.stload.StloadException {@link io.stload.ErrorKind#OutOfMemory} when the memory cannot be had
     */
    void begin(LoadPlan plan) throws IOException;

    /**
     * Chooses the bytes per read window (a staging ring reads in its own window size).
     *
     * @param proposed the strategy's own choice
     * @return the window size to use; the default keeps the proposal
     */
    default long windowBytes(long proposed) {
        return proposed;
    }

    /**
     * Bounds how many bytes reads may run ahead of the consumers.
     *
     * @param proposed the strategy's own bound
     * @return the bound to use; the default keeps the proposal
     */
    default long aheadBytes(long proposed) {
        return proposed;
    }

    /**
     * Memory the destination fills during the load that the memory headroom does not show when the reads are laid
     * out: memory it was given for every slice in {@link #begin} takes pages only as the bytes land. Strategies
     * that read through the page cache count it with their own bytes, since the page cache must make room for it.
     *
     * @return bytes still to be filled; the default, 0, for a destination whose memory is not the host's
     */
    default long bytesToFill() {
        return 0;
    }

    /**
     * True when the bytes of a slice are held in memory of the destination's own from the first {@link #accept} of
     * them until the slice {@link #landed} (a streaming consumer's): then a window read for one consumer makes it
     * hold every other slice the window touches until their own consumers come. Memory the destination gave for
     * all of the plan's slices up front ({@link #begin}) holds nothing more and answers false.
     *
     * @return whether a slice's bytes stay in the destination's own memory until it has landed
     */
    default boolean holdsUntilLanded() {
        return false;
    }

    /**
     * The least size of a slice whose own memory takes a read window that lies wholly within it ({@link #readBuffer});
     * the engine then cuts its windows at both ends of every contiguous slice of that size, so that all but a page
     * at each end of it land in place. The default, {@code Long.MAX_VALUE}: no cuts, for a destination that gives
     * memory for any window (host memory mirroring the files) or none.
     *
     * @return the least slice size worth cutting windows for
     */
    default long inPlaceSliceBytes() {
        return Long.MAX_VALUE;
    }

    /**
     * Memory to put file bytes {@code [offset, offset + length)} into so that they land in place (page-aligned,
     * so that direct reads can fill it), or null to have the engine read them into memory of its own. May block
     * until memory is free (back-pressure). {@code length} may run past the end of the file: an aligned read
     * covers whole blocks.
     *
     * @param file   the file read
     * @param offset the window's first file byte
     * @param length the window's length
     * @return memory the destination owns, of at least {@code length} bytes, or null
     * @throws IOException if the destination failed
     * @throws InterruptedException if the I/O thread is interrupted while waiting for memory (the load is stopping)
     */
    default MemorySegment readBuffer(Header file, long offset, long length) throws IOException, InterruptedException {
        return null;
    }

    /**
     * Takes the file bytes that belong to the plan's slices; called from I/O threads, possibly at once.
     *
     * @param file   the file read
     * @param offset the file offset of {@code bytes}' first byte
     * @param bytes  file bytes, all within the file; see {@code origin} for how long they stay valid
     * @param origin where {@code bytes} live
     * @throws IOException if the destination failed
     */
    void accept(Header file, long offset, MemorySegment bytes, Origin origin) throws IOException;

    /**
     * Learns that a buffer {@link #readBuffer} gave will never be accepted: the read failed.
     *
     * @param readBuffer the buffer, which the destination may reuse
     * @param why        the read's failure
     */
    default void abandon(MemorySegment readBuffer, Throwable why) {
    }

    /**
     * Every byte of {@code slice} was accepted. Called from the consumer threads, in the plan's order.
     *
     * @param slice  the slice that is complete
     * @param mapped for a contiguous slice read through a mapping, a read-only view of its bytes there, valid only
     *               during the call; else null
     * @throws IOException if the destination failed
     */
    default void landed(TensorSlice slice, MemorySegment mapped) throws IOException {
    }

    /**
     * The load is over and no engine thread touches memory any more: wait for the destination's own
     * asynchronous work; on failure ({@code failure} not null) free what this load allocated.
     *
     * @param failure why the load failed, or null on success
     * @throws IOException if the destination's own work failed
     * @throws InterruptedException if interrupted while waiting for that work
     */
    void end(Throwable failure) throws IOException, InterruptedException;

    /** {@return seconds per phase of the last load that the destination measured itself (e.g. {@code h2d})} */
    default Map<String, Double> phases() {
        return Map.of();
    }
}
