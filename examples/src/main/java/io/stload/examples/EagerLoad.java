package io.stload.examples;

import io.stload.format.Tensor;
import io.stload.load.LoadedWeights;
import io.stload.load.Loader;
import io.stload.plan.LoadOptions;
import java.util.Arrays;

/** Eager: every tensor in host memory the caller owns, freed when the result is closed. */
final class EagerLoad {
    private EagerLoad() {
    }

    static String run(SampleCheckpoint checkpoint) {
        try (LoadedWeights weights = Loader.load(checkpoint.dir(), LoadOptions.DEFAULTS)) {
            long values = 0;
            for (Tensor t : weights.tensors().values()) {
                values += SampleCheckpoint.check(t);
            }
            Tensor embed = weights.tensor(SampleCheckpoint.EMBED);
            if (!Arrays.equals(embed.shape().toArray(), SampleCheckpoint.EMBED_SHAPE)) {
                throw new AssertionError(embed.name() + " has shape " + embed.shape());
            }
            return weights.tensors().size() + " tensors, " + values + " values checked, strategy "
                    + weights.report().files().getFirst().strategy();
        }
    }
}
