package io.stload.io;

import io.stload.checkpoint.TensorRef;
import io.stload.format.Header;
import io.stload.nativeio.NativeAccess;
import io.stload.plan.LoadOptions;
import io.stload.plan.LoadStrategy;
import io.stload.plan.Thresholds;
import io.stload.sink.FileDestination;
import java.io.IOException;
import java.util.List;
import java.util.Map;

/** The one place a strategy becomes a reader. */
public final class Readers {
    private Readers() {
    }

    /**
     * A reader for the files a plan assigned to {@code strategy}.
     *
     * @param tensors the tensors of those files that consumers will materialize
     */
    public static TensorReader create(LoadStrategy strategy, NativeAccess os, List<Header> files,
                                      Map<Header, FileDestination> destinations, List<TensorRef> tensors,
                                      LoadOptions options, IoStats stats) throws IOException {
        Thresholds t = options.thresholds();
        return switch (strategy) {
            case MMAP -> new MmapReader(files, destinations, stats);
            case PREFETCH -> new PrefetchReader(os, files, destinations, tensors, t.prefetchWindow(),
                    t.prefetchAhead(), options.threads(), stats);
            case DIRECT -> new DirectReader(os, files, destinations, tensors, t.directBlock(), options.threads(), stats);
            case AUTO -> throw new IllegalArgumentException("a plan never leaves a file on auto");
        };
    }
}
