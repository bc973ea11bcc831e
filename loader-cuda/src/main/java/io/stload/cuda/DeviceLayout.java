package io.stload.cuda;

import io.stload.plan.TensorSlice;
import java.util.Collection;
import java.util.HashMap;
import java.util.Map;

/**
 * Where each of a rank's slices lives in the load's one device allocation: in the given order, each contiguous
 * and row-major (the rank-local tensor, as if written on its own), at an offset aligned to {@link #ALIGNMENT}
 * bytes, which is what cudaMalloc guarantees for its own allocations and what vectorized kernels expect of a
 * tensor's first element. A whole tensor is the slice a single rank holds.
 */
public final class DeviceLayout {
    public static final long ALIGNMENT = 256;

    private final Map<String, Long> offsets = new HashMap<>();
    private final long bytes;

    public DeviceLayout(Collection<TensorSlice> slices) {
        long next = 0;
        for (TensorSlice s : slices) {
            offsets.put(s.name(), next);
            next = alignUp(next + s.byteSize());
        }
        this.bytes = next;
    }

    /** Offset of the slice from the start of the allocation. */
    public long offset(TensorSlice s) {
        Long off = offsets.get(s.name());
        if (off == null) {
            throw new IllegalArgumentException(s.name() + " is not in this layout");
        }
        return off;
    }

    /** Bytes of the whole allocation, padding included. */
    public long bytes() {
        return bytes;
    }

    static long alignUp(long n) {
        return (n + ALIGNMENT - 1) / ALIGNMENT * ALIGNMENT;
    }
}
