package io.stload.io;

import io.stload.format.Header;
import io.stload.plan.ByteRange;
import io.stload.plan.TensorSlice;
import java.io.IOException;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;

/**
 * The strategies that move bytes in the background, front to back through their files in windows, while
 * consumers wait only for the windows their slice needs: {@link PrefetchReader} and {@link DirectReader}.
 */
abstract class WindowedReader implements TensorReader {
    protected final List<Header> files;
    protected final IoStats stats;
    private final int ioThreads;
    private final Map<Header, Integer> fileIndex = new IdentityHashMap<>();
    private WindowLayout layout;
    private WindowScheduler scheduler;

    WindowedReader(List<Header> files, int ioThreads, IoStats stats) {
        this.files = List.copyOf(files);
        this.ioThreads = ioThreads;
        this.stats = stats;
        for (int i = 0; i < files.size(); i++) {
            fileIndex.put(files.get(i), i);
        }
    }

    /** Lays out windows over each file's ranges; call once from the subclass constructor. */
    protected final void layOut(List<List<ByteRange>> rangesPerFile, long windowSize, long aheadBytes,
                                List<TensorSlice> slices) {
        layout = new WindowLayout(rangesPerFile, windowSize);
        scheduler = new WindowScheduler(layout.windows(), layout.unconsumed(slices, this::fileIndexOf), aheadBytes);
    }

    /** Moves one window's bytes (populate the page cache, or read into the destination). */
    protected abstract void transfer(Header file, Window w) throws IOException;

    /** After the slice's windows are in: whatever is left to get it into its destination. */
    protected abstract void finish(TensorSlice s) throws IOException;

    @Override
    public void start(ExecutorService io) {
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
                transfer(files.get(w.file()), w);
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

    @Override
    public void materialize(TensorSlice s) throws IOException, InterruptedException {
        if (s.byteSize() == 0) {
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
            Throwable cause = e.getCause();
            if (cause instanceof IOException io) {
                throw new IOException(io.getMessage(), io);
            }
            throw new IOException("background I/O failed: " + cause, cause);
        }
        stats.waitNanos.add(System.nanoTime() - begin);
        finish(s);
        for (int i = first; i <= last; i++) {
            scheduler.consumed(i, layout.overlap(layout.windows().get(i), start, end));
        }
    }

    /** Stops background I/O (a failed or abandoned load). */
    protected final void abort(Throwable why) {
        if (scheduler != null) {
            scheduler.failed(why);
        }
    }
}
