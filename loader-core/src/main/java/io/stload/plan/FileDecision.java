package io.stload.plan;

import io.stload.StloadException;
import java.util.List;

/**
 * The strategy chosen for one file, the rule that chose it, and the reasons, in words a person can check.
 *
 * @param strategy how the file is read
 * @param rule     the rule that fired
 * @param reasons  the measured facts the rule weighed, in words; copied
 */
public record FileDecision(LoadStrategy strategy, DecisionRule rule, List<String> reasons) {
    /**
     * Copies the reasons; a decision names the strategy that reads the file, never AUTO, which asks for one.
     *
     * @throws StloadException {@link io.stload.ErrorKind#Usage} for AUTO; if any component is null
     */
    public FileDecision {
        if (strategy == null || rule == null || reasons == null) {
            throw StloadException.usage("a decision needs its strategy, rule and reasons, not null");
        }
        if (strategy == LoadStrategy.AUTO) {
            throw StloadException.usage("a decision resolves AUTO to a strategy");
        }
        reasons = List.copyOf(reasons);
    }

    /** {@return one line, e.g. "ext4, 1.9 GiB for this rank, 3% resident, 20 GiB headroom -&gt; direct"} */
    public String summary() {
        return String.join(", ", reasons) + " -> " + strategy.flagValue();
    }
}
