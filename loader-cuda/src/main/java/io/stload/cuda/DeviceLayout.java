package io.stload.cuda;

import io.stload.checkpoint.TensorRef;
import java.util.Collection;
import java.util.IdentityHashMap;
import java.util.Map;

/**
 * Where each tensor lives in the load's one device allocation: in the given order, each at an offset aligned to
 * {@link #ALIGNMENT} bytes, which is what cudaMalloc guarantees for its own allocations and what vectorized
 * kernels expect of a tensor's first element.
 */
public final class DeviceLayout {
    public static final long ALIGNMENT = 256;

    private final Map<TensorRef, Long> offsets = new IdentityHashMap<>();
    private final long bytes;

    public DeviceLayout(Collection<TensorRef> tensors) {
        long next = 0;
        for (TensorRef t : tensors) {
            offsets.put(t, next);
            next = alignUp(next + t.info().byteSize());
        }
        this.bytes = next;
    }

    /** Offset of the tensor from the start of the allocation. */
    public long offset(TensorRef t) {
        Long off = offsets.get(t);
        if (off == null) {
            throw new IllegalArgumentException(t.name() + " is not in this layout");
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
