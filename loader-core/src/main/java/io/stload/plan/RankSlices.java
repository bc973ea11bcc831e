package io.stload.plan;

import io.stload.checkpoint.Checkpoint;
import io.stload.checkpoint.TensorRef;
import java.util.LinkedHashMap;
import java.util.Map;

/** Applies a partition spec to a checkpoint: the slice of every tensor that one rank holds. */
public final class RankSlices {
    private RankSlices() {
    }

    /** By tensor name, in checkpoint order. */
    public static Map<String, TensorSlice> of(Checkpoint checkpoint, Partitioning p) {
        Map<String, TensorSlice> out = new LinkedHashMap<>();
        for (TensorRef t : checkpoint.tensors().values()) {
            out.put(t.name(), slice(t, p));
        }
        return out;
    }

    public static TensorSlice slice(TensorRef t, Partitioning p) {
        PartitionRule rule = p.worldSize() == 1 ? null : p.spec().ruleFor(t.name());
        return rule == null || rule.replicates() ? TensorSlice.whole(t)
                : TensorSlice.split(t, rule.dim(), rule.divisible(), p.rank(), p.worldSize());
    }

    public static long bytes(Map<String, TensorSlice> slices) {
        long sum = 0;
        for (TensorSlice s : slices.values()) {
            sum += s.byteSize();
        }
        return sum;
    }
}
