package io.stload.host;

import io.stload.format.Header;
import io.stload.plan.TensorSlice;
import java.lang.foreign.MemorySegment;

/** Where one file's tensors land in memory. */
sealed interface FileDestination permits MirroredDestination, PackedDestination {
    Header file();

    /** The memory of a rank-local slice: contiguous, row-major, as if the slice had been written on its own. */
    MemorySegment of(TensorSlice slice);
}
