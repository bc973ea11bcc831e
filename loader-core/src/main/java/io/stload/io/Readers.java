package io.stload.io;

import io.stload.checkpoint.Checkpoint;
import io.stload.nativeio.NativeAccess;
import io.stload.plan.FilePlan;
import io.stload.plan.LoadOptions;
import io.stload.plan.LoadStrategy;
import io.stload.plan.TensorSlice;
import io.stload.plan.Thresholds;
import io.stload.format.Header;
import io.stload.sink.FileDestination;
import java.io.IOException;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;

/** The one place a strategy becomes a reader. */
public final class Readers {
    private Readers() {
    }

    /**
     * A reader for the files a plan assigned to {@code strategy}.
     *
     * @param files  those files' plans: the ranges to read from each
     * @param slices the slices of those files that consumers will materialize
     * @param checkpoint where the files are read from when they are remote
     */
    public static TensorReader create(LoadStrategy strategy, NativeAccess os, List<FilePlan> files,
                                      Map<Header, FileDestination> destinations, List<TensorSlice> slices,
                                      LoadOptions options, Checkpoint checkpoint, IoStats stats) throws IOException {
        Thresholds t = options.thresholds();
        return switch (strategy) {
            case MMAP -> new MmapReader(files, destinations, stats);
            case PREFETCH -> new PrefetchReader(os, files, destinations, slices, t.prefetchWindow(),
                    t.prefetchAhead(), options.threads(), stats);
            case DIRECT -> new DirectReader(os, files, destinations, slices, t.directBlock(), options.threads(), stats);
            case S3 -> new RangeReader(checkpoint.remote(), names(checkpoint, files), files, destinations, slices, stats);
            case AUTO -> throw new IllegalArgumentException("a plan never leaves a file on auto");
        };
    }

    private static Map<Header, String> names(Checkpoint checkpoint, List<FilePlan> files) {
        Map<Header, String> names = new IdentityHashMap<>();
        files.forEach(f -> names.put(f.file(), checkpoint.nameOf(f.file())));
        return names;
    }
}
