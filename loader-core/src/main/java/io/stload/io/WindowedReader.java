package io.stload.io;

import io.stload.checkpoint.TensorRef;
import io.stload.format.Header;
import java.io.IOException;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;

/**
 * The strategies that move bytes in the background, front to back through their files in windows, while
 * consumers wait only for the windows their tensor needs: {@link PrefetchReader} and {@link DirectReader}.
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

    /** Lays out windows over each file's range; call once from the subclass constructor. */
    protected final void layOut(List<WindowLayout.Range> ranges, long windowSize, long aheadBytes, List<TensorRef> tensors) {
        layout = new WindowLayout(ranges, windowSize);
        scheduler = new WindowScheduler(layout.windows(), layout.unconsumed(tensors, t -> fileIndex.get(t.file())), aheadBytes);
    }

    /** Moves one window's bytes (populate the page cache, or read into the destination). */
    protected abstract void transfer(Header file, Window w) throws IOException;

    /** After the tensor's windows are in: whatever is left to get it into its destination. */
    protected abstract void finish(TensorRef t) throws IOException;

    @Override
    public void start(ExecutorService io) {
        int threads = Math.max(1, Math.min(ioThreads, scheduler.size()));
        for (int i = 0; i < threads; i++) {
            io.execute(this::ioLoop);
        }
    }

    protected final int indexOf(Header file) {
        return fileIndex.get(file);
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
    public void materialize(TensorRef t) throws IOException, InterruptedException {
        long size = t.info().byteSize();
        if (size == 0) {
            return;
        }
        int f = fileIndex.get(t.file());
        long start = t.fileOffset();
        long end = start + size;
        int first = layout.first(f, start);
        int last = layout.last(f, start, end);
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
        finish(t);
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
