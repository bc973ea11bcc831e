package io.stload.plan;

import java.util.List;

/** The strategy chosen for one file, the rule that chose it, and the reasons, in words a person can check. */
public record FileDecision(ReadStrategy strategy, DecisionRule rule, List<String> reasons) {
    public FileDecision {
        reasons = List.copyOf(reasons);
    }

    /** One line: "ext4, 1.9 GiB for this rank, 3% resident, 20 GiB headroom -> direct". */
    public String summary() {
        return String.join(", ", reasons) + " -> " + strategy.flagValue();
    }
}
