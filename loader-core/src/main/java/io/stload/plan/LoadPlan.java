package io.stload.plan;

import io.stload.checkpoint.Checkpoint;
import io.stload.checkpoint.TensorRef;
import java.util.List;

/**
 * The decision, as data: a strategy per file with its reasons and inputs, and the order in which the
 * consumer will ask for tensors. {@code plan} prints it; {@code load} executes it.
 */
public record LoadPlan(Checkpoint checkpoint, LoadOptions options, HostFacts host, List<FilePlan> files,
                       List<TensorRef> order, long planNanos) {
    public LoadPlan {
        files = List.copyOf(files);
        order = List.copyOf(order);
    }

    public long bytes() {
        long sum = 0;
        for (FilePlan f : files) {
            sum += f.facts().bytesToRead();
        }
        return sum;
    }

    public FilePlan fileOf(TensorRef t) {
        for (FilePlan f : files) {
            if (f.file() == t.file()) {
                return f;
            }
        }
        throw new IllegalArgumentException(t.name() + " is not in this plan");
    }
}
