package io.stload.sink;

import io.stload.format.Header;
import io.stload.plan.TensorSlice;
import java.lang.foreign.MemorySegment;

/** Where one file's tensors land in memory: the layout of a {@link HostSink} load, per file. */
sealed interface FileDestination permits MirroredDestination, PackedDestination {
    Header file();

    /**
     * Finds a slice's memory.
     *
     * @param slice a rank-local slice of one of the file's tensors
     * @return its memory: contiguous, row-major, as if the slice had been written on its own
     * @throws IllegalStateException if the slice has no place here (a bug: the plan gave it one)
     */
    MemorySegment of(TensorSlice slice);
}
