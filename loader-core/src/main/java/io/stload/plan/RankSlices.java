package io.stload.plan;

import io.stload.checkpoint.Checkpoint;
import io.stload.checkpoint.TensorRef;
import io.stload.format.Header;
import io.stload.format.TensorInfo;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Applies a partition spec to a checkpoint: the slice of every tensor that one rank holds. A tensor the rank
 * does not hold at all (an MoE expert assigned to another rank) has no entry: no read is planned for it, it
 * takes no memory, and it is not among the rank's weights.
 */
public final class RankSlices {
    private RankSlices() {
    }

    /** By tensor name, in checkpoint order; only the tensors this rank holds. */
    public static Map<String, TensorSlice> of(Checkpoint checkpoint, Partitioning p) {
        Map<String, TensorSlice> out = new LinkedHashMap<>();
        if (p.worldSize() == 1) {
            checkpoint.tensors().values().forEach(t -> out.put(t.name(), TensorSlice.whole(t)));
            return out;
        }
        List<TensorRef> tensors = List.copyOf(checkpoint.tensors().values());
        List<PartitionRule> rules = new ArrayList<>(tensors.size());
        List<TensorRef> experts = new ArrayList<>();
        for (TensorRef t : tensors) {
            PartitionRule rule = p.spec().ruleFor(t.name());
            rules.add(rule);
            if (rule != null && rule.assignsExperts()) {
                experts.add(t);
            }
        }
        // An expert's owner depends on how many experts its group has, so all of them are counted first.
        ExpertAssignment assignment = ExpertAssignment.of(experts);
        for (int i = 0; i < tensors.size(); i++) {
            TensorRef t = tensors.get(i);
            PartitionRule rule = rules.get(i);
            if (rule == null || rule.replicates()) {
                out.put(t.name(), TensorSlice.whole(t));
            } else if (!rule.assignsExperts()) {
                out.put(t.name(), TensorSlice.split(t, rule.dim(), rule.divisible(), p.rank(), p.worldSize()));
            } else if (assignment.holds(t, p.rank(), p.worldSize())) {
                out.put(t.name(), TensorSlice.whole(t));
            }
        }
        return out;
    }

    /** The slices held of one file's tensors, in file order. */
    public static List<TensorSlice> inFile(Header h, Map<String, TensorSlice> slices) {
        List<TensorSlice> out = new ArrayList<>();
        for (TensorInfo t : h.tensors()) {
            TensorSlice s = slices.get(t.name());
            if (s != null) {
                out.add(s);
            }
        }
        return out;
    }

    public static long bytes(Map<String, TensorSlice> slices) {
        long sum = 0;
        for (TensorSlice s : slices.values()) {
            sum += s.byteSize();
        }
        return sum;
    }
}
