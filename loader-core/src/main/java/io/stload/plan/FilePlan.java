package io.stload.plan;

import io.stload.format.Header;
import java.util.List;

/**
 * One file of a plan: what was measured, the strategy chosen with its reasons, and the byte ranges this
 * rank reads from it (its slices' runs, merged across small gaps; sorted, disjoint).
 */
public record FilePlan(Header file, FileFacts facts, FileDecision decision, List<ByteRange> reads) {
    public FilePlan {
        reads = List.copyOf(reads);
    }

    public ReadStrategy strategy() {
        return decision.strategy();
    }

    public DecisionRule rule() {
        return decision.rule();
    }
}
