package io.stload.plan;

import io.stload.ErrorKind;
import io.stload.StloadException;
import io.stload.checkpoint.TensorRef;
import java.util.Arrays;
import java.util.Collection;
import java.util.HashMap;
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

    /** Per group, its distinct expert indices in ascending order. */
    private final Map<String, long[]> indicesByGroup;

    private ExpertAssignment(Map<String, long[]> indicesByGroup) {
        this.indicesByGroup = indicesByGroup;
    }

    /**
     * The groups of the given tensors, all matched by an experts rule.
     *
     * @throws StloadException Unsupported for a tensor whose name has no {@code experts.<N>.} component
     */
    static ExpertAssignment of(Collection<TensorRef> expertTensors) {
        Map<String, TreeSet<Long>> groups = new HashMap<>();
        for (TensorRef t : expertTensors) {
            Matcher m = expertIn(t);
            groups.computeIfAbsent(group(t, m), g -> new TreeSet<>()).add(Long.parseLong(m.group(1)));
        }
        Map<String, long[]> sorted = new HashMap<>();
        groups.forEach((g, indices) -> sorted.put(g, indices.stream().mapToLong(Long::longValue).toArray()));
        return new ExpertAssignment(sorted);
    }

    /** Whether rank {@code rank} of {@code worldSize} holds the expert {@code t} belongs to. */
    boolean holds(TensorRef t, int rank, int worldSize) {
        Matcher m = expertIn(t);
        long[] indices = indicesByGroup.get(group(t, m));
        int position = Arrays.binarySearch(indices, Long.parseLong(m.group(1)));
        return position >= TensorSlice.firstIndex(indices.length, rank, worldSize)
                && position < TensorSlice.firstIndex(indices.length, rank + 1, worldSize);
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

    /** The name up to the index: {@code model.layers.3.mlp.experts.} */
    private static String group(TensorRef t, Matcher m) {
        return t.name().substring(0, m.start(1));
    }
}
