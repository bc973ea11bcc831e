package io.stload.sink;

import static io.stload.sink.DestinationArguments.requireBuffer;
import static io.stload.sink.DestinationArguments.requireFile;
import static io.stload.sink.DestinationArguments.requireSlice;

import io.stload.StloadException;
import io.stload.format.Header;
import io.stload.plan.DestinationProfile;
import io.stload.plan.LoadPlan;
import io.stload.plan.TensorSlice;
import io.stload.report.Phase;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.util.Map;

/**
 * Where a load's bytes land: the one thing that varies between a load into host memory the loader owns
 * ({@link HostSink}), into the caller's buffers ({@link CallerBuffers}), into a streaming consumer
 * ({@link StreamingSink}) or into GPU memory. The engine reads the plan's byte ranges of each file in windows, with
 * whatever strategy the plan chose for the file, and puts each window's bytes where the destination says:
 * <ul>
 *   <li>into memory the destination gives for the whole window ({@link #readBuffer}: host memory mirroring the
 *       file, a staging window, a slice's own buffer where the window lies inside it), after which
 *       {@link #filled} tells it they are there;</li>
 *   <li>otherwise, each part of a slice the window holds into the memory the destination gives for that slice
 *       ({@link #sliceBuffer}), row-major, as if the slice had been written on its own.</li>
 * </ul>
 * The engine does every copy itself, so a destination never sees a file's mapping: a file truncated under a load
 * is an error of the load ({@link io.stload.ErrorKind#Io}), never a fault in a destination's or a consumer's code.
 *
 * <p>Threads: {@link #begin} and {@link #end} are called on the thread that runs the load; {@link #readBuffer},
 * {@link #sliceBuffer}, {@link #filled} and {@link #abandon} on the engine's I/O threads, and {@link #pad} and
 * {@link #landed} on its consumer threads, several at once (one call per window or slice, in no particular order between threads). Lifecycle,
 * one load at a time: {@link #begin}, then the calls above, then, once every engine thread has stopped, {@link #end}
 * exactly once, on success and on failure alike. Calls on the I/O threads overlap each other and those on the
 * consumer threads, for different windows and slices.
 *
 * <p>Failures: an exception a destination throws from any of these ({@link IOException} or any
 * {@link RuntimeException}) fails the load with kind {@link io.stload.ErrorKind#Callback}, the exception as its cause
 * and no file named; a {@link io.stload.StloadException} passes as it is, keeping its kind (a destination built on
 * the loader's own, such as {@link StreamingSink}, wraps its consumer's failures itself). One from {@link #abandon} is
 * added to the load's failure as suppressed. After a failure no new call starts but {@link #end}, which comes once
 * every call in progress has returned.
 *
 * <p>The engine passes no null but {@link #end}'s on success; the loader's destinations, and these defaults, refuse
 * any other null with {@link io.stload.ErrorKind#Usage}.
 */
public interface Destination {

    /**
     * Describes how this destination uses memory, once per load: the planner counts it against the host's
     * headroom, and the engine sizes its windows and read-ahead by it.
     *
     * @return the profile; the default, {@link DestinationProfile#EXTERNAL}: memory of its own, no window preference
     */
    default DestinationProfile profile() {
        return DestinationProfile.EXTERNAL;
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
     * Memory to put file bytes {@code [offset, offset + length)} into so that they land in place (page-aligned,
     * so that direct reads can fill it), or null to have each slice's part of them put in {@link #sliceBuffer}.
     * May block until memory is free (back-pressure). {@code length} may run past the end of the file: an aligned
     * read covers whole blocks.
     *
     * @param file   the file read
     * @param offset the window's first file byte
     * @param length the window's length
     * @return memory the destination owns, of at least {@code length} bytes, or null
     * @throws IOException if the destination failed
     * @throws InterruptedException if the I/O thread is interrupted while waiting for memory (the load is stopping)
     */
    default MemorySegment readBuffer(Header file, long offset, long length) throws IOException, InterruptedException {
        requireFile(file);
        return null;
    }

    /**
     * The memory a slice's bytes go to, row-major, for windows {@link #readBuffer} gave no memory for. Asked for
     * each part of the slice a window holds, possibly from several threads at once; the same memory every time.
     *
     * @param slice the slice a window holds part of
     * @return writable memory of at least {@code slice.byteSize()} bytes
     * @throws IOException if the destination failed or cannot give memory
     */
    default MemorySegment sliceBuffer(TensorSlice slice) throws IOException {
        requireSlice(slice);
        throw new IOException("the destination gives no memory for " + slice.name()
                + " (a destination gives a read buffer for every window or a slice buffer for every slice)");
    }

    /**
     * The buffer {@link #readBuffer} gave for a window now holds its bytes.
     *
     * @param file   the file read
     * @param offset the file offset of the buffer's first byte
     * @param bytes  the buffer, cut to the window's bytes within the file
     * @throws IOException if the destination failed
     */
    default void filled(Header file, long offset, MemorySegment bytes) throws IOException {
        requireFile(file);
        requireBuffer(bytes);
    }

    /**
     * Learns that a buffer {@link #readBuffer} gave will never be filled: the read failed.
     *
     * @param readBuffer the buffer, which the destination may reuse
     * @param why        the read's failure
     */
    default void abandon(MemorySegment readBuffer, Throwable why) {
        requireBuffer(readBuffer);
        StloadException.requireNonNull(why, "an abandoned read buffer comes with the read's failure, not null");
    }

    /**
     * Makes the slice's pad bytes zeros ({@link TensorSlice#pads()}: the rows a padded split adds past the tensor's
     * end, which are never read from a file). Called once for each slice that has pad bytes, on a consumer thread,
     * after its file bytes are in place and before {@link #landed}. The default writes zeros into
     * {@link #sliceBuffer}; a destination without slice buffers (one that takes every window in {@link #readBuffer})
     * writes them its own way.
     *
     * @param slice a slice with pad bytes
     * @throws IOException if the destination failed or cannot give memory
     */
    default void pad(TensorSlice slice) throws IOException {
        requireSlice(slice);
        MemorySegment memory = sliceBuffer(slice);
        for (TensorSlice.Pad p : slice.pads()) {
            for (long r = 0; r < p.rows(); r++) {
                memory.asSlice(p.offset() + r * p.pitch(), p.width()).fill((byte) 0);
            }
        }
    }

    /**
     * Every byte of {@code slice} is in place. Called from the consumer threads, in the plan's order.
     *
     * @param slice the slice that is complete
     * @throws IOException if the destination failed
     */
    default void landed(TensorSlice slice) throws IOException {
        requireSlice(slice);
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

    /** {@return seconds per phase of the last load that the destination measured itself (e.g. {@link Phase#H2D})} */
    default Map<Phase, Double> phases() {
        return Map.of();
    }

    /**
     * The most bytes of host memory of the loader's the destination held at once during the last load, for the load's
     * report ({@code LoadReport.Memory}); asked once, on the thread that runs the load, after {@link #end}.
     *
     * @return the peak in bytes; the default, 0, for a destination whose memory is not the loader's (the caller's
     *         own, a device's)
     */
    default long peakHeldBytes() {
        return 0;
    }
}
