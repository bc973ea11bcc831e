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
        return Matched.of(checkpoint, p).slices(p.rank());
    }

    /** Every rank's {@link #of slices}, indexed by rank; the rules are matched once for all of them. */
    public static List<Map<String, TensorSlice>> ofEveryRank(Checkpoint checkpoint, Partitioning p) {
        Matched matched = Matched.of(checkpoint, p);
        List<Map<String, TensorSlice>> out = new ArrayList<>();
        for (int r = 0; r < p.worldSize(); r++) {
            out.add(matched.slices(r));
        }
        return out;
    }

    /**
     * Each tensor with the rule that decides it (null: replicated; no rule is evaluated for a single rank), and
     * who holds each expert. Matching every name against every rule is the costly part of slicing a checkpoint
     * of thousands of expert tensors, so it is done once however many ranks are sliced.
     */
    private record Matched(List<TensorRef> tensors, List<PartitionRule> rules, ExpertAssignment experts,
                           int worldSize) {
        static Matched of(Checkpoint checkpoint, Partitioning p) {
            List<TensorRef> tensors = List.copyOf(checkpoint.tensors().values());
            List<PartitionRule> rules = new ArrayList<>(tensors.size());
            List<TensorRef> experts = new ArrayList<>();
            for (TensorRef t : tensors) {
                PartitionRule rule = p.worldSize() == 1 ? null : p.spec().ruleFor(t.name());
                rules.add(rule);
                if (rule != null && rule.assignsExperts()) {
                    experts.add(t);
                }
            }
            // An expert's owner depends on how many experts its group has, so all of them are counted first.
            return new Matched(tensors, rules, ExpertAssignment.of(experts, p.worldSize()), p.worldSize());
        }

        Map<String, TensorSlice> slices(int rank) {
            Map<String, TensorSlice> out = new LinkedHashMap<>();
            for (int i = 0; i < tensors.size(); i++) {
                TensorRef t = tensors.get(i);
                PartitionRule rule = rules.get(i);
                if (rule == null || rule.replicates()) {
                    out.put(t.name(), TensorSlice.whole(t));
                } else if (!rule.assignsExperts()) {
                    out.put(t.name(), TensorSlice.split(t, rule.dim(), rule.divisible(), rank, worldSize));
                } else if (experts.holds(t, rank)) {
                    out.put(t.name(), TensorSlice.whole(t));
                }
            }
            return out;
        }
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
