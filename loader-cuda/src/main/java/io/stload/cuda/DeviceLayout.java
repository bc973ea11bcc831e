package io.stload.cuda;

import io.stload.StloadException;
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
    /** Bytes every slice's offset is a multiple of. */
    public static final long ALIGNMENT = 256;

    private final Map<String, Long> offsets = new HashMap<>();
    private final long bytes;

    /**
     * Lays slices out one after another, each aligned.
     *
     * @param slices the rank's slices, in the order they are placed
     * @throws StloadException {@link io.stload.ErrorKind#Usage} if {@code slices} is null
     */
    public DeviceLayout(Collection<TensorSlice> slices) {
        StloadException.requireNonNull(slices, "a device layout places a collection of slices, not null");
        long next = 0;
        for (TensorSlice s : slices) {
            offsets.put(s.name(), next);
            next = alignUp(next + s.byteSize());
        }
        this.bytes = next;
    }

    /**
     * Finds a slice in the allocation.
     *
     * @param s one of the slices laid out
     * @return its offset from the start of the allocation
     * @throws StloadException {@link io.stload.ErrorKind#Usage} if {@code s} is null or not one of the slices laid
     *                         out
     */
    public long offset(TensorSlice s) {
        StloadException.requireNonNull(s, "an offset in the layout is of a slice, not null");
        Long off = offsets.get(s.name());
        if (off == null) {
            throw StloadException.usage(s.name() + " is not one of the slices of this layout");
        }
        return off;
    }

    /** {@return the bytes of the whole allocation, padding included} */
    public long bytes() {
        return bytes;
    }

    static long alignUp(long n) {
        return (n + ALIGNMENT - 1) / ALIGNMENT * ALIGNMENT;
    }
}
