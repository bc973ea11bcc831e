package io.stload.cuda;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.LongAdder;
import java.util.zip.CRC32;

/**
 * A {@link CopyEngine} on the CPU: "device memory" is host memory, and one worker thread runs the copies in
 * submission order like a CUDA stream, each batch completing its event (a future). Tests can make copy number
 * {@code n} fail, or hold the worker before copy number {@code n} until a latch is released. The engine checks
 * that no source changed between submission and copy, which is what a window refilled too early would do. A
 * copy of several rows gathers them as cudaMemcpy2DAsync does: row {@code r} of the source, at
 * {@code r * sourcePitch}, lands at {@code r * devicePitch} on the device. Fresh device memory holds garbage, not
 * zeros, as cudaMalloc's may.
 */
final class FakeCopyEngine implements CopyEngine {
    private final long deviceCapacity;
    private final Arena arena = Arena.ofShared();
    private final ExecutorService stream = Executors.newSingleThreadExecutor(r -> {
        Thread t = new Thread(r, "fake-stream");
        t.setDaemon(true);
        return t;
    });
    private final TreeMap<Long, MemorySegment> device = new TreeMap<>();
    private final List<MemorySegment> staging = new ArrayList<>();
    private final AtomicInteger submitted = new AtomicInteger();
    private final AtomicInteger executed = new AtomicInteger();
    private final AtomicInteger stagingAllocations = new AtomicInteger();
    private final AtomicInteger stridedCopies = new AtomicInteger();
    private final LongAdder bytesToDevice = new LongAdder();
    private final LongAdder zeroedBytes = new LongAdder();
    private volatile int failAt = -1;
    private volatile int holdAt = -1;
    private volatile int failFreeAt = -1;
    private volatile boolean failFreeDevice;
    private int frees;
    private final CountDownLatch release = new CountDownLatch(1);
    private final CountDownLatch held = new CountDownLatch(1);
    private volatile String overwritten;
    private volatile IOException poisoned;

    /** What fresh "device memory" holds: not zeros, as cudaMalloc's memory need not be. */
    static final byte GARBAGE = (byte) 0xA5;

    FakeCopyEngine(long deviceCapacity) {
        this.deviceCapacity = deviceCapacity;
    }

    /** Copy number {@code n} (0-based, over the engine's life) fails, and so does every later one. */
    FakeCopyEngine failCopy(int n) {
        failAt = n;
        return this;
    }

    /** Copies work again: a device reset, for tests that recover from a failed copy. */
    FakeCopyEngine heal() {
        failAt = -1;
        poisoned = null;
        return this;
    }

    /** Free number {@code n} of a staging buffer, and every later one, throws and frees nothing: a sticky error. */
    FakeCopyEngine failFreeStaging(int n) {
        failFreeAt = n;
        return this;
    }

    /** Every free of device memory throws and frees nothing, as after a sticky CUDA error. */
    FakeCopyEngine failFreeDevice() {
        failFreeDevice = true;
        return this;
    }

    /** The worker stops before copy number {@code n} until {@link #release()}. */
    FakeCopyEngine holdBeforeCopy(int n) {
        holdAt = n;
        return this;
    }

    void release() {
        release.countDown();
    }

    /** Waits until the worker is held. */
    void awaitHeld() throws InterruptedException {
        held.await();
    }

    int copiesSubmitted() {
        return submitted.get();
    }

    int copiesExecuted() {
        return executed.get();
    }

    int stagingAllocations() {
        return stagingAllocations.get();
    }

    /** Copies submitted with more than one row. */
    int stridedCopies() {
        return stridedCopies.get();
    }

    /** Bytes copied to the device so far. */
    long bytesToDevice() {
        return bytesToDevice.sum();
    }

    synchronized int liveStagingBuffers() {
        return staging.size();
    }

    synchronized int liveDeviceAllocations() {
        return device.size();
    }

    /** Non-null when a source changed between its submission and its copy. */
    String overwrittenSource() {
        return overwritten;
    }

    @Override
    public String name() {
        return "fake";
    }

    @Override
    public synchronized MemorySegment allocateStaging(long bytes) {
        MemorySegment s = arena.allocate(bytes, 4096);
        staging.add(s);
        stagingAllocations.incrementAndGet();
        return s;
    }

    @Override
    public synchronized void freeStaging(MemorySegment buffer) {
        int n = frees++;
        if (failFreeAt >= 0 && n >= failFreeAt) {
            throw new IllegalStateException("fake sticky error freeing staging buffer " + n);
        }
        if (!staging.removeIf(s -> s.address() == buffer.address())) {
            throw new IllegalStateException("not a live staging buffer");
        }
    }

    @Override
    public synchronized long freeDeviceBytes() {
        return deviceCapacity - device.values().stream().mapToLong(MemorySegment::byteSize).sum();
    }

    @Override
    public synchronized long allocateDevice(long bytes) throws IOException {
        if (bytes > freeDeviceBytes()) {
            throw new IOException("fake device out of memory");
        }
        MemorySegment m = arena.allocate(bytes, 256);
        m.fill(GARBAGE); // like cudaMalloc's, the memory holds whatever was there before
        device.put(m.address(), m);
        return m.address();
    }

    @Override
    public synchronized void freeDevice(long address) {
        if (failFreeDevice) {
            throw new IllegalStateException("fake sticky error freeing device memory");
        }
        if (device.remove(address) == null) {
            throw new IllegalStateException("not a live device allocation");
        }
    }

    /** The device bytes at {@code address}, bounds-checked against the allocation holding them. */
    synchronized MemorySegment deviceBytes(long address, long length) {
        Map.Entry<Long, MemorySegment> e = device.floorEntry(address);
        if (e == null) {
            throw new IllegalArgumentException("no device allocation at " + address);
        }
        return e.getValue().asSlice(address - e.getKey(), length);
    }

    @Override
    public CopyEvent copyToDevice(List<Copy> copies) {
        List<Runnable> work = new ArrayList<>();
        for (Copy c : copies) {
            int n = submitted.getAndIncrement();
            long crc = crc(c.source());
            MemorySegment dst = deviceBytes(c.deviceAddress(), (c.rows() - 1) * c.devicePitch() + c.width());
            stridedCopies.addAndGet(c.rows() > 1 ? 1 : 0);
            work.add(() -> execute(n, c, crc, dst));
        }
        CompletableFuture<Double> done = new CompletableFuture<>();
        stream.execute(() -> {
            long begin = System.nanoTime();
            try {
                work.forEach(Runnable::run);
                done.complete((System.nanoTime() - begin) / 1e9);
            } catch (RuntimeException e) {
                done.completeExceptionally(e.getCause() instanceof IOException io ? io : e);
            }
        });
        return new CopyEvent() {
            @Override
            public boolean isDone() {
                return done.isDone();
            }

            @Override
            public void await() throws IOException, InterruptedException {
                try {
                    done.get();
                } catch (ExecutionException e) {
                    throw e.getCause() instanceof IOException io ? io : new IOException(e.getCause());
                }
            }

            @Override
            public double copySeconds() {
                return done.getNow(0.0);
            }

            @Override
            public void close() {
            }
        };
    }

    private void execute(int n, Copy c, long crc, MemorySegment dst) {
        if (n == holdAt) {
            held.countDown();
            try {
                release.await();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new java.io.UncheckedIOException(new IOException("interrupted"));
            }
        }
        if (n == failAt) {
            poisoned = new IOException("fake copy " + n + " failed");
        }
        if (poisoned != null) {
            throw new java.io.UncheckedIOException(poisoned);
        }
        if (crc(c.source()) != crc) {
            overwritten = "copy " + n + ": source changed before the copy ran";
        }
        for (long r = 0; r < c.rows(); r++) {
            MemorySegment.copy(c.source(), r * c.sourcePitch(), dst, r * c.devicePitch(), c.width());
        }
        bytesToDevice.add(c.bytes());
        executed.incrementAndGet();
    }

    private static long crc(MemorySegment s) {
        CRC32 c = new CRC32();
        c.update(s.asByteBuffer());
        return c.getValue();
    }

    /** Zeroes on the caller's thread once the copies queued before have run, as the real engine's synchronize does. */
    @Override
    public void zeroDevice(long deviceAddress, long width, long rows, long pitch) throws IOException {
        try {
            stream.submit(() -> {
                for (long r = 0; r < rows; r++) {
                    deviceBytes(deviceAddress + r * pitch, width).fill((byte) 0);
                }
                zeroedBytes.add(width * rows);
            }).get();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted", e);
        } catch (ExecutionException e) {
            throw new IOException(e.getCause());
        }
    }

    /** Device bytes zeroed so far. */
    long zeroedBytes() {
        return zeroedBytes.sum();
    }

    @Override
    public void copyToHost(long deviceAddress, MemorySegment destination) {
        MemorySegment.copy(deviceBytes(deviceAddress, destination.byteSize()), 0, destination, 0, destination.byteSize());
    }

    @Override
    public void close() {
        stream.shutdownNow();
        arena.close();
    }
}
