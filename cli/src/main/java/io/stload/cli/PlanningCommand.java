package io.stload.cli;

import io.stload.checkpoint.Checkpoint;
import io.stload.plan.DestinationProfile;
import io.stload.plan.LoadPlan;
import io.stload.plan.Planner;
import picocli.CommandLine.Mixin;

/**
 * {@code plan} and {@code load}: both plan a load from the same flags, so that {@code plan} shows what {@code load}
 * carries out.
 */
abstract class PlanningCommand extends CheckpointCommand {
    @Mixin
    LoadFlags flags;

    @Mixin
    JsonFlag json;

    @Mixin
    SinkFlags sinkFlags;

    /** {@code --memory-budget} bounds what a stream holds; a host load keeps every tensor, whatever a budget says. */
    final void refuseBudgetUnlessStreamed() {
        if (!sinkFlags.streamed()) {
            refuseGiven("a load that keeps every tensor (it bounds --sink stream)", "--memory-budget");
        }
    }

    /** What PATH and the rank flags name; {@code --partition} does not apply to a resharded checkpoint's ranks. */
    final RankFolder ranked() {
        RankFolder ranked = RankFolder.of(path, flags);
        if (ranked.folder().isPresent()) {
            refuseGiven("a resharded checkpoint, whose rank folders hold the slices its own rules cut", "--partition");
        }
        return ranked;
    }

    /** The plan of the load of {@code ranked}'s rank into {@code destination}. */
    final LoadPlan plan(RankFolder ranked, DestinationProfile destination) {
        Checkpoint checkpoint = ranked.open(path, source, err());
        return new Planner().plan(checkpoint, ranked.options(checkpoint), destination);
    }
}
