package io.stload.sink;

import io.stload.StloadException;
import io.stload.format.Header;
import io.stload.plan.LoadPlan;
import io.stload.plan.TensorSlice;
import java.lang.foreign.MemorySegment;
import java.util.Map;

/**
 * The null checks of a {@link Destination}'s calls, shared by its defaults and the loader's destinations: the engine
 * never passes null, so a null is a caller's own call gone wrong, a Usage error rather than an NPE deep in a load.
 */
final class DestinationArguments {
    private DestinationArguments() {
    }

    static void requirePlan(LoadPlan plan) {
        StloadException.requireNonNull(plan, "a destination begins a load with its plan, not null");
    }

    static void requireSlice(TensorSlice slice) {
        StloadException.requireNonNull(slice, "a destination is called for a slice of the plan, not null");
    }

    static void requireFile(Header file) {
        StloadException.requireNonNull(file, "a read window is of one of the plan's files, not null");
    }

    /**
     * What a destination keeps for one file of the load it began; a file of no such load (or a call before
     * {@code begin}) is the caller's misuse.
     */
    static <V> V forFile(Map<Header, V> byFile, Header file) {
        V kept = byFile.get(file);
        if (kept == null) {
            throw StloadException.usage(file.file() + " is not a file of a load this destination began");
        }
        return kept;
    }

    static void requireBuffer(MemorySegment buffer) {
        StloadException.requireNonNull(buffer, "a destination is handed back the read buffer it gave, not null");
    }
}
