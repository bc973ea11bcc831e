package io.stload.jlama;

import io.stload.checkpoint.TensorRef;
import io.stload.format.Tensor;
import io.stload.format.TensorInfo;
import io.stload.load.LoadedWeights;
import io.stload.plan.LoadPlan;
import io.stload.plan.TensorSlice;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.atomic.LongAdder;

/**
 * Bytes an eager load put in memory: each tensor as the plan held it, whole, or a block of rows or of columns of
 * a rank. A cut inside what is held is a view of it (rows) or a copy from it (columns); a cut the load does not
 * hold (a tensor it left out, or a rank's part that does not match, as when a dimension does not divide by the world
 * size and Jlama's arithmetic and stload's differ) is read lazily, and counted.
 */
final class EagerBytes implements TensorBytes {
    /**
     * What the load holds of a tensor.
     *
     * @param data  the bytes
     * @param dim   -1 for the whole tensor, 0 for a block of rows, 1 for a block of columns of every row
     * @param first rows: the first byte of the block in the tensor; columns: the first byte of the block in a row
     * @param bytes rows: the bytes of the block; columns: the bytes of the block in each row
     */
    private record Held(MemorySegment data, int dim, long first, long bytes) {
    }

    private final Map<String, Held> held;
    private final TensorBytes lazy;
    private final Arena copies;
    private final LongAdder unplanned = new LongAdder();

    private EagerBytes(Map<String, Held> held, TensorBytes lazy, Arena copies) {
        this.held = held;
        this.lazy = lazy;
        this.copies = copies;
    }

    /**
     * What a load holds, by the plan it ran.
     *
     * @param plan    the plan
     * @param weights what the plan loaded
     * @param lazy    where cuts the load does not hold are read
     * @param copies  where copies are allocated; the loader closes it
     * @return the bytes
     */
    static EagerBytes of(LoadPlan plan, LoadedWeights weights, TensorBytes lazy, Arena copies) {
        Map<String, Held> held = new HashMap<>();
        for (TensorSlice s : plan.slices().values()) {
            Tensor t = weights.tensor(s.name());
            if (t == null) {
                continue;
            }
            MemorySegment data = t.data().asReadOnly();
            TensorInfo full = s.tensor().info();
            TensorInfo local = s.local();
            long offset = s.spanStart() - s.tensor().fileOffset();
            if (s.isWhole()) {
                held.put(s.name(), new Held(data, -1, 0, data.byteSize()));
            } else if (s.parts().size() != 1 || s.padBytes() != 0) {
                continue; // fused parts or pad rows are no cut of Jlama's: its reads of them go to the file
            } else if (local.dim(0) != full.dim(0)) {
                held.put(s.name(), new Held(data, 0, offset, data.byteSize()));
            } else if (full.rank() == 2 && local.dim(1) != full.dim(1)) {
                held.put(s.name(), new Held(data, 1, offset, s.parts().getFirst().runBytes()));
            }
        }
        return new EagerBytes(held, lazy, copies);
    }

    /** {@return the bytes cuts outside what the load holds have read lazily} */
    long unplannedBytes() {
        return unplanned.sum();
    }

    @Override
    public MemorySegment whole(TensorRef t) {
        Held h = held.get(t.name());
        if (h != null && h.dim() == -1) {
            return h.data();
        }
        return unplanned(lazy.whole(t));
    }

    @Override
    public MemorySegment rows(TensorRef t, long rowBytes, long first, long count) {
        Held h = held.get(t.name());
        long from = first * rowBytes;
        long bytes = count * rowBytes;
        if (h != null && (h.dim() == -1 || h.dim() == 0) && from >= h.first() && from + bytes <= h.first() + h.bytes()) {
            return h.data().asSlice(from - h.first(), bytes);
        }
        return unplanned(lazy.rows(t, rowBytes, first, count));
    }

    @Override
    public MemorySegment columns(TensorRef t, long rowBytes, long first, long count) {
        Held h = held.get(t.name());
        if (h != null && h.dim() == -1) {
            return Cuts.columns(h.data(), rowBytes, first, count, copies);
        }
        if (h != null && h.dim() == 1 && first >= h.first() && first + count <= h.first() + h.bytes()) {
            return first == h.first() && count == h.bytes() ? h.data()
                    : Cuts.columns(h.data(), h.bytes(), first - h.first(), count, copies);
        }
        return unplanned(lazy.columns(t, rowBytes, first, count));
    }

    private MemorySegment unplanned(MemorySegment read) {
        unplanned.add(read.byteSize());
        return read;
    }
}
