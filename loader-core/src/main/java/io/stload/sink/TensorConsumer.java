package io.stload.sink;

import io.stload.plan.TensorSlice;
import java.io.IOException;
import java.lang.foreign.MemorySegment;

/**
 * Takes each tensor (a tensor-parallel rank's slice of it) of a streamed load as it lands. Called from the
 * engine's threads, possibly several at once. {@code bytes} is read-only and valid only during the call: copy,
 * convert, upload or hash it, but do not keep it.
 */
@FunctionalInterface
public interface TensorConsumer {
    /**
     * Takes one tensor.
     *
     * @param slice the rank-local tensor: {@code slice.local()} has its name, dtype and shape
     * @param bytes its bytes, read-only and valid only during the call
     * @throws IOException to fail the load; it stops, and the stream throws this as the load's failure
     */
    void accept(TensorSlice slice, MemorySegment bytes) throws IOException;
}
