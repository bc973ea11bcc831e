package io.stload.cuda;

import io.stload.ErrorKind;
import io.stload.StloadException;
import io.stload.format.Header;
import io.stload.sink.SliceScatter;
import io.stload.plan.ByteRange;
import io.stload.plan.DestinationProfile;
import io.stload.report.Phase;
import io.stload.plan.FilePlan;
import io.stload.plan.LoadPlan;
import io.stload.plan.RankSlices;
import io.stload.plan.ReadRanges;
import io.stload.plan.Sizes;
import io.stload.plan.TensorSlice;
import io.stload.sink.Destination;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.EnumMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.LongAdder;

/**
 * GPU memory as a destination: every slice the plan's rank holds lives contiguous and row-major in one device
 * allocation ({@link DeviceLayout}), checked against the device's free memory before anything is read. The
 * engine reads each window of file bytes into a page-locked window of a {@link StagingRing} (direct reads land
 * there, mapped strategies copy there), and each window's runs of each slice go to the device in at most three
 * copies per slice part, the whole runs of a strided slice in one 2D copy. The zero rows of a padded split are
 * written on the device when the load begins.
 *
 * <p>The ring is sized to the plan (never more windows than its bytes need) and kept from one load to the next,
 * so pinning, which is slow, is paid once and reported as its own phase ({@code pin}); a failed load frees its
 * ring and its device memory, after waiting for the copies in flight.
 *
 * <p>For a reload in place, or weights in buffers an engine allocated itself, a load may instead land each slice at a
 * device address given for it ({@link #placeAt}): nothing is allocated then, and a failure frees only the ring. Host
 * bytes staged beforehand go to the device through the same ring ({@link #upload}).
 */
final class CudaDestination implements Destination, AutoCloseable {
    private final CopyEngine engine;
    private final RingOptions options;
    private final Map<Long, StagingRing.Window> lent = new ConcurrentHashMap<>();
    private final Map<Header, SliceScatter> scatters = new IdentityHashMap<>();
    private final LongAdder stageWaitNanos = new LongAdder();
    private StagingRing ring;
    private LoadPlan plan;
    private DeviceLayout layout;
    private long base;
    private double pinSeconds;
    private double h2dBefore;
    /** For the next load only: device addresses each slice lands at (memory already held), or null to allocate. */
    private Map<String, Long> placed;
    /** With {@link #placed}: run once, before the first copy into that memory is queued. */
    private Runnable overwriting;
    private final AtomicBoolean copying = new AtomicBoolean();

    CudaDestination(CopyEngine engine, RingOptions options) {
        this.engine = engine;
        this.options = options;
    }

    /** The staging ring is all the host memory it takes, and it reads in the ring's window size. */
    @Override
    public DestinationProfile profile() {
        return new DestinationProfile("staging ring", DestinationProfile.Holding.AT_MOST,
                Math.max(2, options.windows() * options.windowBytes()), Long.MAX_VALUE, options.windowBytes());
    }

    /**
     * Makes the next load land each slice at the device address given for it, in memory the caller holds already
     * (a reload in place, or an engine's own buffers), instead of a new allocation: nothing is allocated, and nothing
     * is freed if the load fails. {@code overwriting} runs once, before the first copy into that memory is queued.
     */
    void placeAt(Map<String, Long> addresses, Runnable overwriting) {
        this.placed = addresses;
        this.overwriting = overwriting;
        this.copying.set(false);
    }

    @Override
    public void begin(LoadPlan plan) {
        this.plan = plan;
        this.layout = new DeviceLayout(plan.slices().values());
        if (placed != null) {
            for (TensorSlice s : plan.slices().values()) {
                if (!placed.containsKey(s.name())) {
                    throw StloadException.usage("no device address given for " + s.name());
                }
            }
        } else {
            checkFits(plan, layout.bytes());
        }
        pinSeconds = 0;
        stageWaitNanos.reset();
        try {
            ensureRing(windowsFor(plan));
        } catch (IOException e) {
            throw new StloadException(ErrorKind.OutOfMemory, null, "pinning the staging ring failed: "
                    + e.getMessage(), e);
        }
        h2dBefore = ring.copySeconds();
        if (placed == null) {
            try {
                base = engine.allocateDevice(Math.max(layout.bytes(), DeviceLayout.ALIGNMENT));
            } catch (IOException e) {
                throw new StloadException(ErrorKind.OutOfMemory, null, e.getMessage(), e);
            }
        }
        scatters.clear();
        for (FilePlan f : plan.files()) {
            scatters.put(f.file(), new SliceScatter(RankSlices.inFile(f.file(), plan.slices())));
        }
        zeroPads(plan);
    }

    /**
     * Device memory is not zeroed when allocated: a padded split's rows past its tensor's end (never read from a file)
     * are zeroed here, before any copy, so {@link #pad} has nothing left to do.
     */
    private void zeroPads(LoadPlan plan) {
        try {
            for (TensorSlice s : plan.slices().values()) {
                for (TensorSlice.Pad p : s.pads()) {
                    engine.zeroDevice(base + layout.offset(s) + p.offset(), p.width(), p.rows(), p.pitch());
                }
            }
        } catch (IOException e) {
            throw deviceFailure(e);
        }
    }

    /** Zeroed when the load began ({@link #zeroPads}). */
    @Override
    public void pad(TensorSlice slice) {
    }

    /** Fails before any allocation or copy when the rank's slices cannot fit. */
    private void checkFits(LoadPlan plan, long needed) {
        long free;
        try {
            free = engine.freeDeviceBytes();
        } catch (IOException e) {
            throw new StloadException(ErrorKind.NoDevice, null, e.getMessage(), e);
        }
        if (needed > free) {
            int worldSize = plan.partitioning().worldSize();
            String who = worldSize == 1 ? "the checkpoint" : "rank " + plan.partitioning().rank() + " of " + worldSize;
            throw new StloadException(ErrorKind.OutOfMemory, null, who + " needs " + Sizes.human(needed)
                    + " of device memory and " + engine.name() + " has " + Sizes.human(free) + " free");
        }
    }

    /** Windows the plan's reads fill, widened to whole direct-read blocks, at most the ring's configured count. */
    private int windowsFor(LoadPlan plan) {
        long needed = 0;
        for (FilePlan f : plan.files()) {
            for (ByteRange r : ReadRanges.aligned(f.reads(), 4096, Long.MAX_VALUE)) {
                needed += (r.length() + options.windowBytes() - 1) / options.windowBytes();
            }
        }
        return (int) Math.max(1, Math.min(options.windows(), needed));
    }

    /** Keeps the ring if it has enough windows; a larger plan gets a larger one, pinned now. */
    private void ensureRing(int windows) throws IOException {
        if (ring != null && ring.windows() >= windows) {
            return;
        }
        closeRing();
        long begin = System.nanoTime();
        ring = new StagingRing(engine, windows, options.windowBytes());
        pinSeconds = (System.nanoTime() - begin) / 1e9;
    }

    @Override
    public MemorySegment readBuffer(Header file, long offset, long length) throws InterruptedException {
        long asked = System.nanoTime();
        StagingRing.Window w;
        try {
            w = ring.acquire();
        } catch (IOException e) {
            throw deviceFailure(e);
        }
        stageWaitNanos.add(System.nanoTime() - asked);
        lent.put(w.buffer().address(), w);
        return w.buffer();
    }

    /** The ring's failure (a copy, a query of the device), as the loader's error of the kind CUDA gave it. */
    private static StloadException deviceFailure(IOException e) {
        for (Throwable t = e; t != null; t = t.getCause()) {
            if (t instanceof StloadException se) {
                return se;
            }
        }
        return new StloadException(ErrorKind.Io, null, "copying to the device failed: " + e.getMessage(), e);
    }

    /** The window's runs of each slice go to the device: at most three copies per slice, a strided slice's in one. */
    @Override
    public void filled(Header file, long offset, MemorySegment bytes) {
        StagingRing.Window w = lent.remove(bytes.address());
        List<CopyEngine.Copy> copies = new ArrayList<>();
        for (SliceScatter.Piece p : scatters.get(file).pieces(offset, offset + bytes.byteSize())) {
            copies.add(new CopyEngine.Copy(w.buffer().asSlice(p.blockOffset(), p.span()),
                    addressOf(p.slice()) + p.sliceOffset(), p.width(), p.rows(), p.pitch(), p.slicePitch()));
        }
        if (placed != null && !copies.isEmpty() && copying.compareAndSet(false, true)) {
            overwriting.run();
        }
        try {
            ring.submit(w, copies);
        } catch (IOException e) {
            throw deviceFailure(e);
        }
    }

    /** Where a slice's first byte lands on the device. */
    private long addressOf(TensorSlice s) {
        return placed != null ? placed.get(s.name()) : base + layout.offset(s);
    }

    @Override
    public void abandon(MemorySegment readBuffer, Throwable why) {
        StagingRing.Window w = lent.remove(readBuffer.address());
        if (w != null) {
            ring.abandon(w, why);
        }
    }

    @Override
    public void end(Throwable failure) throws InterruptedException {
        boolean own = placed == null;
        placed = null;
        overwriting = null;
        if (failure == null) {
            try {
                ring.drain();
            } catch (IOException e) {
                closeRing(); // a ring keeps its first failure: the next load pins a new one
                throw deviceFailure(e);
            }
            return;
        }
        if (!own) {
            closeRing(); // waits for the copies in flight; the memory written is the caller's
            return;
        }
        // The device may still be copying out of the ring into the allocation: the ring waits for that first.
        // Both are freed whatever fails (a sticky CUDA error fails both); the first error is kept.
        RuntimeException first = null;
        try {
            closeRing();
        } catch (RuntimeException e) {
            first = e;
        }
        if (base != 0) {
            try {
                engine.freeDevice(base);
            } catch (RuntimeException e) {
                if (first == null) {
                    first = e;
                } else {
                    first.addSuppressed(e);
                }
            }
            base = 0;
        }
        if (first != null) {
            throw first;
        }
    }

    /**
     * Copies host bytes to device addresses through the staging ring, windows packed with as many pieces as fit, and
     * waits until every copy is done. {@code overwriting} runs once, before the first copy is queued.
     *
     * @param parts       device address and the host bytes that go there
     * @param overwriting run before the first byte on the device changes
     */
    void upload(List<Map.Entry<Long, MemorySegment>> parts, Runnable overwriting) throws InterruptedException {
        try {
            ensureRing(options.windows());
        } catch (IOException e) {
            throw new StloadException(ErrorKind.OutOfMemory, null, "pinning the staging ring failed: "
                    + e.getMessage(), e);
        }
        boolean first = true;
        try {
            StagingRing.Window w = null;
            long used = 0;
            List<CopyEngine.Copy> copies = new ArrayList<>();
            for (Map.Entry<Long, MemorySegment> part : parts) {
                MemorySegment bytes = part.getValue();
                for (long off = 0; off < bytes.byteSize(); ) {
                    if (w == null) {
                        w = ring.acquire();
                        used = 0;
                    }
                    long n = Math.min(bytes.byteSize() - off, w.buffer().byteSize() - used);
                    MemorySegment.copy(bytes, off, w.buffer(), used, n);
                    copies.add(new CopyEngine.Copy(w.buffer().asSlice(used, n), part.getKey() + off));
                    used += n;
                    off += n;
                    if (used == w.buffer().byteSize()) {
                        if (first) {
                            overwriting.run();
                            first = false;
                        }
                        ring.submit(w, List.copyOf(copies));
                        copies.clear();
                        w = null;
                    }
                }
            }
            if (w != null) {
                if (first && !copies.isEmpty()) {
                    overwriting.run();
                }
                ring.submit(w, List.copyOf(copies));
            }
            ring.drain();
        } catch (IOException e) {
            closeRing(); // a ring keeps its first failure: the next load pins a new one
            throw deviceFailure(e);
        }
    }

    /** The last load's tensors, on the device; the caller owns the allocation from here on. */
    DeviceWeights result(DeviceReport report) {
        Map<String, DeviceTensor> tensors = new LinkedHashMap<>();
        plan.slices().values().forEach(t -> tensors.put(t.name(), new DeviceTensor(t.name(), t.local().dtype(),
                t.local().shape(), base + layout.offset(t), t.byteSize())));
        DeviceWeights w = new DeviceWeights(engine, base, layout.bytes(), tensors, report);
        base = 0;
        return w;
    }

    @Override
    public Map<Phase, Double> phases() {
        Map<Phase, Double> phases = new EnumMap<>(Phase.class);
        phases.put(Phase.PIN, pinSeconds);
        phases.put(Phase.H2D, ring == null ? 0 : ring.copySeconds() - h2dBefore);
        phases.put(Phase.STAGE_WAIT, stageWaitNanos.sum() / 1e9);
        return phases;
    }

    private void closeRing() {
        if (ring != null) {
            ring.close();
            ring = null;
        }
    }

    @Override
    public void close() {
        closeRing();
    }
}
