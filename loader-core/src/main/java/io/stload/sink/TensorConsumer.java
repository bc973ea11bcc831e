package io.stload.sink;

import io.stload.plan.TensorSlice;
import java.io.IOException;
import java.lang.foreign.MemorySegment;

/**
 * Takes each tensor (a tensor-parallel rank's slice of it) of a streamed load as it lands.
 *
 * <p>Threads: called on the engine's consumer threads ({@code LoadOptions.threads()} of them), never on the thread
 * that started the load; calls overlap, one per tensor, so a consumer must be thread-safe. Each tensor is taken
 * exactly once, once all its bytes are in place; tensors start in the plan's order, but finish in any order. A
 * consumer must not wait for another tensor's consumer: while it waits it holds its thread and, in a stream, its
 * slice's share of the budget, and the tensors after it wait their turn behind it.
 *
 * <p>Memory: {@code bytes} is the loader's own buffer (never a file's mapping, so a file truncated under the load
 * fails the load, not the consumer), read-only and valid only during the call: copy, convert, upload or hash it, but
 * do not keep it. The buffer counts against the stream's budget until the call returns.
 *
 * <p>Failures: whatever the consumer throws (an {@link IOException}, any {@link RuntimeException}, even a
 * {@link io.stload.StloadException} of its own) ends the load: the stream throws {@link io.stload.StloadException} of
 * kind {@link io.stload.ErrorKind#Callback}, with the consumer's exception as its cause and no file named. The engine
 * stops its reads, interrupts and waits for the calls still running on other threads, frees its buffers, and starts
 * no further call. An {@link Error} other than {@link OutOfMemoryError} passes through as it is. A consumer that
 * returns with its thread's interrupt flag set (restoring an interrupt it caught) fails the load the same way, its
 * cause an {@link InterruptedException}: the thread is the engine's, not the caller's.
 */
@FunctionalInterface
public interface TensorConsumer {
    /**
     * Takes one tensor.
     *
     * @param slice the rank-local tensor: {@code slice.local()} has its name, dtype and shape
     * @param bytes its bytes, read-only and valid only during the call
     * @throws IOException to fail the load; the stream then throws {@link io.stload.ErrorKind#Callback} with this as
     *                     its cause
     */
    void accept(TensorSlice slice, MemorySegment bytes) throws IOException;
}
