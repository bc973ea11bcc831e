package io.stload.plan;

import io.stload.format.Header;

/** One file of a plan: what was measured, and the strategy chosen with its reasons. */
public record FilePlan(Header file, FileFacts facts, FileDecision decision) {
    public LoadStrategy strategy() {
        return decision.strategy();
    }
}
