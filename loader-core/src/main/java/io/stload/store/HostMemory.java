package io.stload.store;

import io.stload.StloadException;
import io.stload.format.Header;
import io.stload.format.Tensor;
import io.stload.load.Loader;
import io.stload.nativeio.NativeAccess;
import io.stload.nativeio.SharedArenas;
import io.stload.plan.DestinationProfile;
import io.stload.plan.LoadPlan;
import io.stload.plan.TensorSlice;
import io.stload.report.LoadListener;
import io.stload.report.LoadReport;
import io.stload.sink.CallerBuffers;
import io.stload.sink.Destination;
import io.stload.sink.HostSink;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.Consumer;
import java.util.function.Function;

/**
 * Host memory for a store: owned by the loader ({@link HostSink}, one region per file, packed for a subset), or the
 * caller's ({@link CallerBuffers} over the segments it gives). Either way a reader gets {@link Tensor}s, and a reload
 * in place writes over their segments.
 */
final class HostMemory implements StoreMemory<Tensor> {
    private static final DestinationProfile CALLERS = new CallerBuffers(s -> null).profile();

    private final Loader loader = new Loader();
    /** Null for memory the loader owns. */
    private final Function<TensorSlice, MemorySegment> allocate;
    private final Consumer<MemorySegment> release;

    HostMemory(Function<TensorSlice, MemorySegment> allocate, Consumer<MemorySegment> release) {
        this.allocate = allocate;
        this.release = release;
    }

    @Override
    public String describe() {
        return allocate == null ? "host memory" : "the caller's memory";
    }

    @Override
    public DestinationProfile profile() {
        return allocate == null ? DestinationProfile.HOST : CALLERS;
    }

    /**
     * What a load takes: a whole checkpoint, {@link HostSink}'s regions mirroring each file; a subset (the tensors a
     * reload reads, a rank's slices), one region of them packed ({@link PackedSlices}).
     */
    /** A tensor over a read-only view of the same bytes: a reader's write fails instead of changing the weights. */
    @Override
    public Tensor forReaders(Tensor tensor) {
        Tensor given = StoreMemory.super.forReaders(tensor);
        return new Tensor(given.info(), given.data().asReadOnly());
    }

    @Override
    public long bytesFor(LoadPlan plan) {
        requirePlan(plan);
        if (allocate != null) {
            return plan.bytes();
        }
        if (plan.isPartial()) {
            return new PackedSlices(plan).bytes();
        }
        int page = NativeAccess.get().pageSize();
        long sum = 0;
        for (var f : plan.files()) {
            sum += HostSink.regionBytes(f.file(), page);
        }
        return sum;
    }

    static long alignUp(long v, long a) {
        return (v + a - 1) / a * a;
    }

    @Override
    public Buffers<Tensor> load(LoadPlan plan) {
        requirePlan(plan);
        if (allocate == null && !plan.isPartial()) {
            HostSink sink = new HostSink();
            LoadReport report = loader.execute(plan, sink, LoadListener.NONE); // a failed load frees the sink
            return new HostBuffers(sink.tensors(), sink.allocatedBytes(), report, sink::close);
        }
        if (allocate == null) {
            // A subset: packed so that large tensors take direct reads in place, as a whole load's mirror does.
            PackedSlices packed = new PackedSlices(plan);
            Arena arena = Arena.ofShared();
            try {
                Map<String, MemorySegment> at = packed.allocate(plan, arena, "the tensors read");
                CallerBuffers into = new CallerBuffers(s -> at.get(s.name()));
                LoadReport report = loader.execute(plan, into, LoadListener.NONE);
                Map<String, Tensor> tensors = new LinkedHashMap<>();
                for (TensorSlice s : plan.slices().values()) {
                    tensors.put(s.name(), new Tensor(s.local(), at.get(s.name())));
                }
                return new HostBuffers(tensors, packed.bytes(), report,
                        () -> SharedArenas.close(arena, "a tensor of this version"));
            } catch (RuntimeException | Error e) {
                arena.close();
                throw e;
            }
        }
        List<MemorySegment> given = new ArrayList<>(); // asked for on this thread, in begin
        CallerBuffers buffers = new CallerBuffers(s -> {
            MemorySegment m = allocate.apply(s);
            if (m != null) {
                given.add(m);
            }
            return m;
        });
        LoadReport report;
        try {
            report = loader.execute(plan, buffers, LoadListener.NONE);
        } catch (RuntimeException e) {
            releaseAll(given, e);
            throw e;
        }
        Map<String, Tensor> tensors = new LinkedHashMap<>();
        for (TensorSlice s : plan.slices().values()) {
            tensors.put(s.name(), new Tensor(s.local(), buffers.segment(s.name())));
        }
        return new HostBuffers(tensors, plan.bytes(), report, () -> releaseAll(given, null));
    }

    /** Gives each segment back to the caller; what the caller's release throws is its own failure. */
    private void releaseAll(List<MemorySegment> given, Throwable failing) {
        for (MemorySegment m : given) {
            try {
                release.accept(m);
            } catch (RuntimeException e) {
                StloadException ours = StloadException.callback("the caller's release of a segment failed", e);
                if (failing == null) {
                    throw ours;
                }
                failing.addSuppressed(ours);
            }
        }
    }

    @Override
    public LoadReport overwrite(LoadPlan plan, Map<String, Tensor> live, Runnable overwriting) {
        requirePlan(plan);
        if (live == null || overwriting == null) {
            throw StloadException.usage("an overwrite needs the live tensors and a callback, not null");
        }
        CallerBuffers over = new CallerBuffers(s -> live.get(s.name()).data());
        return loader.execute(plan, new Overwriting(over, overwriting), LoadListener.NONE);
    }

    @Override
    public void write(List<Write<Tensor>> writes, Runnable overwriting) {
        if (writes == null || overwriting == null) {
            throw StloadException.usage("a write needs its list of writes and a callback, not null");
        }
        boolean first = true;
        for (Write<Tensor> w : writes) {
            MemorySegment to = w.target().data();
            if (w.bytes().byteSize() != to.byteSize() || to.isReadOnly()) {
                throw StloadException.usage(w.target().name() + ": " + w.bytes().byteSize()
                        + " staged bytes for " + (to.isReadOnly() ? "a read-only" : "a") + " tensor of "
                        + to.byteSize());
            }
            if (first) {
                overwriting.run();
                first = false;
            }
            MemorySegment.copy(w.bytes(), 0, to, 0, to.byteSize());
        }
    }

    private static void requirePlan(LoadPlan plan) {
        StloadException.requireNonNull(plan, "host memory needs a plan to load, not null");
    }

    private record HostBuffers(Map<String, Tensor> tensors, long bytes, LoadReport report, Runnable free)
            implements Buffers<Tensor> {
        @Override
        public void close() {
            free.run();
        }
    }

    /**
     * A destination writing over live memory, which says so before its first byte lands: the memory it gives for a
     * window or a slice is where the engine's next write goes.
     */
    static final class Overwriting implements Destination {
        private final Destination over;
        private final Runnable overwriting;
        private final AtomicBoolean started = new AtomicBoolean();

        Overwriting(Destination over, Runnable overwriting) {
            this.over = over;
            this.overwriting = overwriting;
        }

        private MemorySegment touching(MemorySegment m) {
            if (m != null && started.compareAndSet(false, true)) {
                overwriting.run();
            }
            return m;
        }

        @Override
        public DestinationProfile profile() {
            return over.profile();
        }

        @Override
        public void begin(LoadPlan plan) throws IOException {
            over.begin(plan);
        }

        @Override
        public MemorySegment readBuffer(Header file, long offset, long length) throws IOException,
                InterruptedException {
            return touching(over.readBuffer(file, offset, length));
        }

        @Override
        public MemorySegment sliceBuffer(TensorSlice slice) throws IOException {
            return touching(over.sliceBuffer(slice));
        }

        @Override
        public void filled(Header file, long offset, MemorySegment bytes) throws IOException {
            over.filled(file, offset, bytes);
        }

        @Override
        public void abandon(MemorySegment readBuffer, Throwable why) {
            over.abandon(readBuffer, why);
        }

        @Override
        public void landed(TensorSlice slice) throws IOException {
            over.landed(slice);
        }

        @Override
        public void end(Throwable failure) throws IOException, InterruptedException {
            over.end(failure);
        }
    }
}
