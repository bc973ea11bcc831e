package io.stload.cli;

import io.stload.plan.DestinationProfile;
import io.stload.sink.StreamingSink;
import io.stload.sink.TensorConsumer;
import picocli.CommandLine.Option;

/**
 * {@code --sink} and {@code --memory-budget}: where a host load's tensors land, for {@code load}, and for {@code plan},
 * whose AUTO decisions count what that destination takes from memory.
 */
final class SinkFlags implements CheckedFlags {
    /**
     * Where a host load's tensors land; picocli turns the flag's text into one (in any case). The constants are
     * spelled as the flag takes them, since picocli lists their names when it refuses a value.
     */
    enum Sink {
        /** Host memory the load keeps. */
        host,
        /** Each tensor handed to a consumer as it lands, then dropped. */
        stream
    }

    /** The least {@code --memory-budget}: one page. */
    static final long LEAST_MEMORY_BUDGET = 4096;

    @Option(names = "--sink", paramLabel = "host|stream", defaultValue = "host",
            description = "Where tensors land: host (memory the load keeps) or stream (each tensor handed to a "
                    + "consumer as it lands, then dropped; --digest hashes it there) (default: ${DEFAULT-VALUE}).")
    Sink sink;

    @Option(names = "--memory-budget", paramLabel = "SIZE",
            description = "--sink stream: the most memory the load itself holds, at least 4KiB (default: a quarter "
                    + "of the memory headroom, at most 1GiB).")
    String memoryBudget;

    boolean streamed() {
        return sink == Sink.stream;
    }

    /** A stream handing each slice to {@code consumer}, within the budget the flag gives (0: the default). */
    StreamingSink stream(TensorConsumer consumer) {
        return new StreamingSink(consumer, budget());
    }

    private long budget() {
        return memoryBudget != null ? FlagValue.size("--memory-budget", memoryBudget, LEAST_MEMORY_BUDGET) : 0;
    }

    @Override
    public void check() {
        budget();
    }

    /** What the chosen destination takes from memory, for the planner. */
    DestinationProfile profile() {
        return streamed() ? stream((slice, bytes) -> { }).profile() : DestinationProfile.HOST;
    }
}
