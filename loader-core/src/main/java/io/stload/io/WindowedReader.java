package io.stload.io;

import io.stload.ErrorKind;
import io.stload.StloadException;
import io.stload.format.Header;
import io.stload.plan.ByteRange;
import io.stload.plan.FilePlan;
import io.stload.plan.TensorSlice;
import java.io.IOException;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;

/**
 * One strategy's share of a load: background threads move the plan's byte ranges of its files, front to back
 * in windows, to the destination, while consumers wait only for the windows their slice needs. The strategies
 * differ only in how a window's bytes are obtained ({@link #transfer}): {@link MmapReader} and
 * {@link PrefetchReader} through the file's mapping, {@link DirectReader} by positional reads.
 */
abstract class WindowedReader implements AutoCloseable {
    protected final List<Header> files;
    protected final Delivery destination;
    protected final IoStats stats;
    private final int ioThreads;
    private final Map<Header, Integer> fileIndex = new IdentityHashMap<>();
    private WindowLayout layout;
    private WindowScheduler scheduler;
    private long windowedBytes;

    WindowedReader(List<Header> files, Delivery destination, int ioThreads, IoStats stats) {
        this.files = List.copyOf(files);
        this.destination = destination;
        this.ioThreads = ioThreads;
        this.stats = stats;
        for (int i = 0; i < files.size(); i++) {
            fileIndex.put(files.get(i), i);
        }
    }

    /** Lays out windows over each file's ranges; call once from the subclass constructor. */
    protected final void layOut(List<List<ByteRange>> rangesPerFile, long windowSize, long aheadBytes,
                                List<TensorSlice> slices) {
        layOut(rangesPerFile, windowSize, aheadBytes, slices, MemoryPressure.NONE);
    }

    /** As above, with read-ahead also held within what {@code pressure} allows as the load goes on. */
    protected final void layOut(List<List<ByteRange>> rangesPerFile, long windowSize, long aheadBytes,
                                List<TensorSlice> slices, MemoryPressure pressure) {
        layout = new WindowLayout(rangesPerFile, destination.windowBytes(windowSize));
        windowedBytes = layout.windows().stream().mapToLong(Window::length).sum();
        long ahead = destination.aheadBytes(aheadBytes);
        scheduler = new WindowScheduler(layout.windows(), layout.unconsumed(slices, this::fileIndexOf),
                () -> pressure.aheadBound(ahead));
    }

    /**
     * Per file, the runs of its slices, each slice on its own, in file order: windows cut over these hold one slice's
     * bytes each (or part of one), so a window issued for one consumer brings nobody else's bytes.
     */
    static List<List<ByteRange>> rangesPerSlice(List<FilePlan> files, List<TensorSlice> slices, long maxGap) {
        List<List<ByteRange>> ranges = new ArrayList<>();
        for (FilePlan f : files) {
            ranges.add(slices.stream().filter(s -> s.tensor().file() == f.file())
                    .sorted(Comparator.comparingLong(TensorSlice::spanStart))
                    .flatMap(s -> s.reads(maxGap).stream()).toList());
        }
        return ranges;
    }

    /**
     * True when windows must hold one slice each, whatever the strategy: the destination holds a slice's bytes
     * until its consumer comes, and consumers ask for {@code slices} (in their order) out of file order, so a window
     * read for one consumer would have it hold every other slice the window touches, beyond its budget and up to
     * the rank's bytes, long before their consumers come.
     */
    protected final boolean heldOutOfOrder(List<TensorSlice> slices) {
        if (!destination.holdsUntilLanded()) {
            return false;
        }
        for (int i = 1; i < slices.size(); i++) {
            TensorSlice a = slices.get(i - 1);
            TensorSlice b = slices.get(i);
            int byFile = Integer.compare(fileIndexOf(a), fileIndexOf(b));
            if (byFile > 0 || byFile == 0 && a.spanStart() > b.spanStart()) {
                return true;
            }
        }
        return false;
    }

    /** Bytes of all the windows: what this reader moves in all. */
    protected final long windowedBytes() {
        return windowedBytes;
    }

    /** Called once no consumer needs window {@code w}'s bytes any more (on a consumer thread). */
    protected void released(Header file, Window w) throws IOException, InterruptedException {
    }

    /** Moves one window's bytes to the destination. */
    protected abstract void transfer(Header file, Window w) throws IOException, InterruptedException;

    /** Per file, what happened that the plan did not say (e.g. "O_DIRECT refused: buffered reads"). */
    abstract Map<Header, String> notes();

    /** Starts the background threads on {@code io}; they stop by themselves once every window is moved. */
    final void start(ExecutorService io) {
        int threads = Math.max(1, Math.min(ioThreads, scheduler.size()));
        for (int i = 0; i < threads; i++) {
            io.execute(this::ioLoop);
        }
    }

    protected final int fileIndexOf(TensorSlice s) {
        return fileIndex.get(s.tensor().file());
    }

    private void ioLoop() {
        try {
            Window w;
            while ((w = scheduler.next()) != null) {
                long begin = System.nanoTime();
                Header h = files.get(w.file());
                try {
                    transfer(h, w);
                } catch (IOException e) {
                    // The engine's edge for I/O errors: each is converted here, once, naming its file.
                    throw new StloadException(ErrorKind.Io, h.file(), e.getMessage(), e);
                }
                stats.ioNanos.add(System.nanoTime() - begin);
                scheduler.completed(w);
            }
        } catch (InterruptedException e) {
            scheduler.failed(e);
            Thread.currentThread().interrupt();
        } catch (Throwable t) {
            scheduler.failed(t);
        }
    }

    /**
     * Blocks until every file byte of the slice reached the destination, has its pad bytes zeroed, then tells the
     * destination the slice is complete.
     */
    final void materialize(TensorSlice s) throws InterruptedException {
        if (s.fileBytes() == 0) {
            land(s);
            return;
        }
        int f = fileIndexOf(s);
        long start = s.spanStart();
        long end = s.spanEnd();
        int first = layout.first(f, start);
        int last = layout.last(f, end);
        long begin = System.nanoTime();
        try {
            scheduler.await(first, last);
        } catch (WindowScheduler.WindowFailedException e) {
            throw LoadErrors.convert(e.getCause());
        }
        stats.waitNanos.add(System.nanoTime() - begin);
        land(s);
        for (int i = first; i <= last; i++) {
            Window w = layout.windows().get(i);
            if (scheduler.consumed(i, layout.overlap(w, start, end))) {
                release(w);
            }
        }
    }

    private void release(Window w) throws InterruptedException {
        Header h = files.get(w.file());
        try {
            released(h, w);
        } catch (IOException e) {
            throw new StloadException(ErrorKind.Io, h.file(), "releasing consumed pages failed: " + e.getMessage(), e);
        }
    }

    private void land(TensorSlice s) {
        destination.pad(s);
        destination.landed(s);
    }

    /** Stops issuing windows (a failed or abandoned load); threads inside a window finish it. */
    final void stop(Throwable why) {
        if (scheduler != null) {
            scheduler.failed(why);
        }
    }

    /** Releases what the reader holds; only once no engine thread runs. */
    @Override
    public abstract void close() throws IOException;
}
