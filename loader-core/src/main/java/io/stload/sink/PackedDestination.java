package io.stload.sink;

import io.stload.format.Header;
import io.stload.plan.TensorSlice;
import java.lang.foreign.MemorySegment;
import java.util.Map;

/** A rank's slices of one file's tensors, each contiguous, packed one after another. */
record PackedDestination(Header file, Map<String, MemorySegment> slices) implements FileDestination {
    public PackedDestination {
        slices = Map.copyOf(slices);
    }

    @Override
    public MemorySegment of(TensorSlice s) {
        MemorySegment m = slices.get(s.name());
        if (m == null) {
            throw new IllegalStateException(s.name() + " has no place in the destination of " + file.file());
        }
        return m;
    }
}
