package io.stload.plan;

import io.stload.ErrorKind;
import io.stload.StloadException;
import io.stload.checkpoint.TensorRef;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Which rank holds each MoE expert under an experts rule (expert parallelism). An expert is named by the
 * number after an {@code experts.} component ({@code model.layers.3.mlp.experts.17.down_proj.weight} is expert
 * 17 of the group {@code model.layers.3.mlp.experts.}). Within a group of E distinct experts, rank r holds a
 * contiguous block of them, by position among the sorted indices (so gaps in the numbering change nothing),
 * with the first {@code E % W} ranks holding one more: the rule {@link TensorSlice#split} uses for indices.
 */
final class ExpertAssignment {
    /** Up to 18 digits, so every index fits a long. */
    private static final Pattern EXPERT = Pattern.compile("(?:^|\\.)experts\\.(\\d{1,18})\\.");

    /** The rank holding each expert tensor, by tensor name. */
    private final Map<String, Integer> ownerByName;

    private ExpertAssignment(Map<String, Integer> ownerByName) {
        this.ownerByName = ownerByName;
    }

    /** A tensor of expert {@code index} in {@code group}. */
    private record Expert(String tensor, String group, long index) {
    }

    /**
     * Deals the experts of the given tensors, all matched by an experts rule, to {@code worldSize} ranks.
     *
     * @throws StloadException Unsupported for a tensor whose name has no {@code experts.<N>.} component; Usage for a
     *         group with another number of experts than its rule says
     */
    static ExpertAssignment of(Collection<TensorRef> expertTensors, PartitionSpec spec, int worldSize) {
        List<Expert> experts = new ArrayList<>();
        Map<String, TreeSet<Long>> groups = new HashMap<>();
        for (TensorRef t : expertTensors) {
            Matcher m = expertIn(t);
            Expert e = new Expert(t.name(), t.name().substring(0, m.start(1)), Long.parseLong(m.group(1)));
            experts.add(e);
            groups.computeIfAbsent(e.group(), g -> new TreeSet<>()).add(e.index());
        }
        requireCounts(expertTensors, groups, spec);
        Map<String, long[]> sorted = new HashMap<>();
        groups.forEach((g, indices) -> sorted.put(g, indices.stream().mapToLong(Long::longValue).toArray()));
        Map<String, Integer> owners = new HashMap<>();
        for (Expert e : experts) {
            long[] indices = sorted.get(e.group());
            owners.put(e.tensor(), owner(Arrays.binarySearch(indices, e.index()), indices.length, worldSize));
        }
        return new ExpertAssignment(owners);
    }

    /**
     * A group must have as many experts as the rule matching it says ({@code "experts": N}, which auto takes from the
     * model's config), so that a checkpoint missing an expert is not dealt out differently from the engine's layout.
     */
    private static void requireCounts(Collection<TensorRef> tensors, Map<String, TreeSet<Long>> groups,
                                      PartitionSpec spec) {
        Map<String, Boolean> checked = new HashMap<>();
        for (TensorRef t : tensors) {
            String group = t.name().substring(0, expertIn(t).start(1));
            if (checked.putIfAbsent(group, Boolean.TRUE) != null) {
                continue;
            }
            PartitionRule rule = spec.ruleFor(t.name());
            int have = groups.get(group).size();
            if (rule != null && rule.expertCount() > 0 && rule.expertCount() != have) {
                throw new StloadException(ErrorKind.Usage, t.file().file(), group + "*: the rule " + rule + " expects "
                        + rule.expertCount() + " experts per group, the checkpoint has " + have);
            }
        }
    }

    /**
     * The rank whose block of a group's {@code count} experts holds the one at {@code position}: the inverse of
     * {@link TensorSlice#firstIndex}, computed rather than searched, so dealing is independent of the world size.
     */
    static int owner(int position, int count, int worldSize) {
        int base = count / worldSize;
        int larger = count % worldSize; // ranks below this hold base + 1
        int inLarger = larger * (base + 1);
        return position < inLarger ? position / (base + 1) : larger + (position - inLarger) / base;
    }

    /** Whether {@code rank} holds the expert that {@code t}, one of the tensors this was made of, belongs to. */
    boolean holds(TensorRef t, int rank) {
        return owner(t) == rank;
    }

    /** The rank that holds the expert {@code t}, one of the tensors this was made of, belongs to. */
    int owner(TensorRef t) {
        return ownerByName.get(t.name());
    }

    private static Matcher expertIn(TensorRef t) {
        Matcher m = EXPERT.matcher(t.name());
        if (!m.find()) {
            throw new StloadException(ErrorKind.Unsupported, t.file().file(), t.name()
                    + ": matched by an experts rule, but has no `experts.<N>.` component naming its expert;"
                    + " replicate or split it with an earlier rule");
        }
        return m;
    }
}
