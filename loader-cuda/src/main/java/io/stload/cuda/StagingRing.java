package io.stload.cuda;

import io.stload.StloadException;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.LongAdder;

/**
 * A ring of page-locked staging windows between the readers and the device. A filler {@link #acquire()}s a
 * window, writes file bytes into it, and {@link #submit}s copies out of it; the window then goes to the back of
 * the ring with its copy event. A window comes round to a filler again only after that event completed, so the
 * device never reads a window while it is being refilled (back-pressure), and while the device drains window k
 * the fillers are already reading into window k+1. Fillers may run on several threads.
 *
 * <p>The first failure (a copy, a read, or a wait) is kept: every later call rethrows it. {@link #close()} waits
 * for copies still in flight, since the device may still be reading the windows, then frees them all. Every method
 * may be called from any thread; a null argument is a {@link io.stload.ErrorKind#Usage} error.
 */
public final class StagingRing implements AutoCloseable {

    /** One staging buffer and the event of the copies last submitted from it. */
    public static final class Window {
        private final MemorySegment buffer;
        private CopyEvent pending;

        private Window(MemorySegment buffer) {
            this.buffer = buffer;
        }

        /** {@return the window's pinned buffer, which the filler writes into until it submits the window} */
        public MemorySegment buffer() {
            return buffer;
        }
    }

    private final CopyEngine engine;
    private final List<Window> all = new ArrayList<>();
    private final ArrayDeque<Window> ready = new ArrayDeque<>();
    private final LongAdder copyNanos = new LongAdder();
    private IOException failure;
    private boolean closed;

    /**
     * Allocates every window now; on failure, frees those already allocated.
     *
     * @param engine  the device; it must outlive the ring
     * @param options how many windows, how large, how pinned
     * @throws IOException if pinned memory cannot be allocated
     */
    public StagingRing(CopyEngine engine, RingOptions options) throws IOException {
        this(engine, requireOptions(options).windows(), options.windowBytes());
    }

    private static RingOptions requireOptions(RingOptions options) {
        return StloadException.requireNonNull(options, "a staging ring is shaped by ring options, not null");
    }

    /**
     * Allocates {@code windows} windows of {@code windowBytes} now; on failure, frees those already allocated.
     *
     * @param engine      the device; it must outlive the ring
     * @param windows     the number of windows
     * @param windowBytes the size of each
     * @throws IOException if pinned memory cannot be allocated
     */
    public StagingRing(CopyEngine engine, int windows, long windowBytes) throws IOException {
        StloadException.requireNonNull(engine, "a staging ring pins its windows through a copy engine, not null");
        this.engine = engine;
        try {
            for (int i = 0; i < windows; i++) {
                Window w = new Window(engine.allocateStaging(windowBytes));
                all.add(w);
                ready.add(w);
            }
        } catch (IOException | RuntimeException e) {
            close();
            throw e;
        }
    }

    /** {@return the size of each window} */
    public long windowBytes() {
        return all.getFirst().buffer.byteSize();
    }

    /** {@return the number of windows} */
    public int windows() {
        return all.size();
    }

    /**
     * Takes the oldest window once its last copies are done; blocks while every window is out with a filler.
     *
     * @return a window the caller fills, then {@link #submit}s or {@link #abandon}s
     * @throws IOException if a copy of the load failed, now or before
     * @throws InterruptedException if interrupted while waiting
     */
    public Window acquire() throws IOException, InterruptedException {
        Window w;
        synchronized (this) {
            while (ready.isEmpty() && failure == null) {
                wait();
            }
            rethrow();
            w = ready.poll();
        }
        try {
            settle(w);
        } catch (IOException | InterruptedException | RuntimeException e) {
            release(w, null);
            throw e;
        }
        return w;
    }

    /**
     * Queues copies out of a window (none: hands it back unused) and returns it to the back of the ring.
     *
     * @param w      a window from {@link #acquire()}
     * @param copies copies whose sources lie in the window
     * @throws IOException if the copies cannot be queued; the window is returned and the ring fails
     */
    public void submit(Window w, List<CopyEngine.Copy> copies) throws IOException {
        requireWindow(w);
        StloadException.requireNonNull(copies,
                "a window is submitted with its copies, an empty list for none, not null");
        if (copies.isEmpty()) {
            release(w, null);
            return;
        }
        CopyEvent event;
        try {
            event = engine.copyToDevice(copies);
        } catch (IOException | RuntimeException e) {
            release(w, null);
            fail(e instanceof IOException io ? io : new IOException(e.getMessage(), e));
            throw e;
        }
        release(w, event);
    }

    /**
     * Hands back a window a filler could not fill; the load is failing anyway.
     *
     * @param w   a window from {@link #acquire()}
     * @param why the filler's failure, kept as the ring's
     */
    public void abandon(Window w, Throwable why) {
        requireWindow(w);
        StloadException.requireNonNull(why, "an abandoned window comes with the filler's failure, not null");
        release(w, null);
        fail(why instanceof IOException io ? io : new IOException(String.valueOf(why.getMessage()), why));
    }

    private static void requireWindow(Window w) {
        StloadException.requireNonNull(w, "a window handed back to the ring is one it gave, not null");
    }

    /**
     * Waits until every submitted copy is done.
     *
     * @throws IOException the first failure of the load
     * @throws InterruptedException if interrupted while waiting
     */
    public void drain() throws IOException, InterruptedException {
        for (Window w : all) {
            Window taken;
            synchronized (this) {
                while (!ready.contains(w) && failure == null) {
                    wait();
                }
                rethrow();
                taken = w;
            }
            settle(taken);
        }
        synchronized (this) {
            rethrow();
        }
    }

    /** {@return the device seconds of the copies awaited so far: the H2D phase, since one stream runs them in turn} */
    public double copySeconds() {
        return copyNanos.sum() / 1e9;
    }

    /** Waits for {@code w}'s last copies and forgets them; records their failure, if any, for everyone. */
    private void settle(Window w) throws IOException, InterruptedException {
        CopyEvent e;
        synchronized (this) {
            e = w.pending;
            w.pending = null;
        }
        if (e == null) {
            return;
        }
        try {
            e.await();
            copyNanos.add((long) (e.copySeconds() * 1e9));
        } catch (IOException ex) {
            fail(ex);
            throw ex;
        } finally {
            e.close();
        }
    }

    private synchronized void release(Window w, CopyEvent event) {
        w.pending = event;
        ready.add(w);
        notifyAll();
    }

    private synchronized void fail(IOException e) {
        if (failure == null) {
            failure = e;
        }
        notifyAll();
    }

    private void rethrow() throws IOException {
        if (failure != null) {
            throw new IOException(failure.getMessage(), failure);
        }
    }

    /**
     * Frees every window, best effort: a window whose copy failed or whose free throws (a sticky CUDA error makes
     * every later call on the context fail) does not keep the others allocated. The first error is thrown after
     * all were tried, with the rest attached as suppressed.
     */
    @Override
    public void close() {
        synchronized (this) {
            if (closed) {
                return;
            }
            closed = true;
        }
        RuntimeException first = null;
        for (Window w : all) {
            CopyEvent e = w.pending;
            w.pending = null;
            if (e != null) {
                first = attempt(first, () -> awaitAndClose(e));
            }
            first = attempt(first, () -> engine.freeStaging(w.buffer));
        }
        if (first != null) {
            throw first;
        }
    }

    /** Runs one step of freeing; returns the first failure so far, the step's attached to it when not first. */
    private static RuntimeException attempt(RuntimeException first, Runnable step) {
        try {
            step.run();
            return first;
        } catch (RuntimeException e) {
            if (first == null) {
                return e;
            }
            first.addSuppressed(e);
            return first;
        }
    }

    /** The device may still be reading the window: its copy must have stopped before the window is freed. */
    private static void awaitAndClose(CopyEvent e) {
        try {
            e.await();
        } catch (IOException ignored) {
            // Already failing; the copy has stopped, which is all that matters before freeing.
        } catch (InterruptedException ie) {
            Thread.currentThread().interrupt();
        } finally {
            e.close();
        }
    }
}
