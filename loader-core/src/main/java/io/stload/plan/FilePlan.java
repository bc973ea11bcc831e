package io.stload.plan;

import io.stload.StloadException;
import io.stload.format.Header;
import java.util.List;

/**
 * One file of a plan: what was measured, the strategy chosen with its reasons, and the byte ranges this
 * rank reads from it (its slices' runs, merged across small gaps; sorted, disjoint).
 *
 * @param file     the file's header
 * @param facts    what was measured about it
 * @param decision the strategy chosen and why
 * @param reads    the byte ranges this rank reads, sorted and disjoint; copied
 */
public record FilePlan(Header file, FileFacts facts, FileDecision decision, List<ByteRange> reads) {
    /**
     * Copies the reads.
     *
     * @throws StloadException {@link io.stload.ErrorKind#Usage} if any component is null
     */
    public FilePlan {
        if (file == null || facts == null || decision == null || reads == null) {
            throw StloadException.usage("a file's plan needs its header, facts, decision and reads, not null");
        }
        reads = List.copyOf(reads);
    }

    /** {@return the strategy chosen for this file} */
    public LoadStrategy strategy() {
        return decision.strategy();
    }

    /** {@return the rule that chose it} */
    public DecisionRule rule() {
        return decision.rule();
    }
}
