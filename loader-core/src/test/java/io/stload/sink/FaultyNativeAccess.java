package io.stload.sink;

import io.stload.nativeio.DelegatingNativeAccess;
import io.stload.nativeio.DelegatingNativeFile;
import io.stload.nativeio.NativeAccess;
import io.stload.nativeio.NativeFile;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The real {@link NativeAccess}, with chosen calls failing or delayed, and every read, populate, close and
 * allocation recorded with the time it happened. Call number {@link #failAt} of the calls that move file bytes
 * (pread, populate) fails once {@link #HELD} more calls have started; those wait, after the failure, until
 * {@link #freed} counts down or a short deadline passes: long enough that an engine freeing memory or closing
 * descriptors without waiting for them would do so while they are still inside the call.
 */
final class FaultyNativeAccess extends DelegatingNativeAccess {
    /** One call that moved bytes, from start to end (nanoTime). */
    record Call(String what, long start, long end) {
    }

    /** Calls held inside while the failure happens: the load's other I/O threads. */
    static final int HELD = 3;

    private final int failAt;
    private final AtomicInteger calls = new AtomicInteger();
    private final CountDownLatch failed = new CountDownLatch(1);
    final CountDownLatch freed = new CountDownLatch(1);
    final List<Call> transfers = new CopyOnWriteArrayList<>();
    final List<Long> closes = new CopyOnWriteArrayList<>();
    final List<MemorySegment> allocations = new CopyOnWriteArrayList<>();

    FaultyNativeAccess(int failAt) {
        super(NativeAccess.get());
        this.failAt = failAt;
    }

    /** Fails call {@code failAt}; delays the ones that follow it past the failure. */
    private void fault(String what) throws IOException {
        int n = calls.getAndIncrement();
        if (n == failAt) {
            // Fail only once the other I/O threads are inside calls of their own (or a deadline passed).
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
            while (calls.get() <= failAt + HELD && System.nanoTime() < deadline) {
                Thread.onSpinWait();
            }
            failed.countDown();
            throw new IOException("injected failure of " + what + " call " + n);
        }
        if (n > failAt) {
            // Like a real pread, a held call does not end early when its thread is interrupted.
            boolean interrupted = awaitUninterruptibly(failed, 10_000) | awaitUninterruptibly(freed, 300);
            if (interrupted) {
                Thread.currentThread().interrupt();
            }
        }
    }

    private static boolean awaitUninterruptibly(CountDownLatch latch, long millis) {
        long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(millis);
        boolean interrupted = false;
        while (true) {
            try {
                latch.await(Math.max(0, deadline - System.nanoTime()), TimeUnit.NANOSECONDS);
                return interrupted;
            } catch (InterruptedException e) {
                interrupted = true;
            }
        }
    }

    @Override
    public boolean populate(MemorySegment range) throws IOException {
        long start = System.nanoTime();
        try {
            fault("populate");
            return real.populate(range);
        } finally {
            transfers.add(new Call("populate", start, System.nanoTime()));
        }
    }

    @Override
    public MemorySegment allocate(long bytes, Arena arena) throws IOException {
        MemorySegment m = real.allocate(bytes, arena);
        allocations.add(m);
        return m;
    }

    @Override
    public NativeFile open(Path path, boolean direct) throws IOException {
        NativeFile f = real.open(path, direct);
        return new DelegatingNativeFile(f) {
            @Override
            public long read(MemorySegment dst, long offset) throws IOException {
                long start = System.nanoTime();
                try {
                    fault("pread");
                    return real.read(dst, offset);
                } finally {
                    transfers.add(new Call("pread", start, System.nanoTime()));
                }
            }

            @Override
            public void close() throws IOException {
                closes.add(System.nanoTime());
                real.close();
            }
        };
    }
}
