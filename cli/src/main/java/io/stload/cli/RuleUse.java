package io.stload.cli;

import io.stload.checkpoint.TensorRef;
import io.stload.plan.LoadPlan;
import io.stload.plan.PartitionRule;
import io.stload.plan.PartitionSpec;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * How a partition rule applied to a checkpoint, as {@code plan} shows it: the rule, the tensors it was the
 * first match for, how many of those this rank holds (fewer than matched only under an experts rule), and what
 * each rank gets of the first of them.
 *
 * @param rule    the rule as written ({@code *.experts.* -> experts}), or the fallback for unmatched tensors
 * @param tensors tensors it was the first match for
 * @param held    of those, the ones this rank holds some or all of
 * @param example the first tensor it matched
 * @param gets    what each rank holds of {@code example} ({@code 4 heads of 64 over 8 ranks, each held by 2})
 */
record RuleUse(String rule, int tensors, int held, String example, String gets) {
    private static final String UNMATCHED = "(no rule) -> replicate";

    /** The rules that matched some tensor, in rule order, then the unmatched tensors if any. */
    static List<RuleUse> of(LoadPlan plan) {
        PartitionSpec spec = plan.partitioning().spec();
        int worldSize = plan.partitioning().worldSize();
        Map<String, int[]> counts = new LinkedHashMap<>();
        Map<String, String[]> examples = new LinkedHashMap<>();
        for (PartitionRule r : spec.rules()) {
            counts.put(r.toString(), new int[2]);
        }
        counts.put(UNMATCHED, new int[2]);
        for (TensorRef t : plan.checkpoint().tensors().values()) {
            PartitionRule r = spec.ruleFor(t.name());
            String key = r == null ? UNMATCHED : r.toString();
            int[] c = counts.get(key);
            c[0]++;
            c[1] += plan.find(t.name()).isPresent() ? 1 : 0;
            examples.computeIfAbsent(key, k -> new String[] {t.name(),
                    r == null ? "whole on every rank" : r.describe(t.info(), worldSize)});
        }
        List<RuleUse> out = new ArrayList<>();
        counts.forEach((rule, c) -> {
            if (c[0] > 0) {
                String[] e = examples.get(rule);
                out.add(new RuleUse(rule, c[0], c[1], e[0], e[1]));
            }
        });
        return out;
    }
}
