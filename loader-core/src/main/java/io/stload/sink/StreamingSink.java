package io.stload.sink;

import io.stload.format.Header;
import io.stload.io.SliceScatter;
import io.stload.plan.FilePlan;
import io.stload.plan.LoadPlan;
import io.stload.plan.RankSlices;
import io.stload.plan.TensorSlice;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.IdentityHashMap;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A destination that keeps nothing: each slice goes to a {@link TensorConsumer} as it lands, then its memory
 * is gone, so a rank's bytes larger than RAM load. The engine's own memory stays within a budget: a slice is held
 * only between its first byte arriving and the consumer returning, and reads run only so far ahead of the
 * consumers as keeps the slices they touch within the budget ({@link #aheadBytes}), plus one bounce buffer per
 * I/O thread for direct reads. A contiguous slice read through a mapping (mmap, prefetch) is handed over as a view
 * of the mapping, with no copy at all; other slices are gathered into a buffer of their own first. A single
 * slice larger than the budget is still held whole while it is gathered. One load at a time; the byte counters may be
 * read from any thread.
 *
 * <pre>{@code
 * StreamingSink sink = new StreamingSink((slice, bytes) -> gpu.upload(slice.name(), bytes), StreamingSink.DEFAULT_BUDGET);
 * LoadReport r = new Loader().execute(plan, sink, LoadListener.NONE);
 * }</pre>
 */
public final class StreamingSink implements Destination {
    /** One GiB: the most a stream holds at once unless told otherwise. */
    public static final long DEFAULT_BUDGET = 1L << 30;
    /** The least default budget: room for a few windows when the headroom reads (nearly) nothing. */
    private static final long LEAST_DEFAULT_BUDGET = 16L << 20;

    private final TensorConsumer consumer;
    private final long budgetBytes;
    private final Map<Header, SliceScatter> scatters = new IdentityHashMap<>();
    private final Map<String, Gathering> gathering = new ConcurrentHashMap<>();
    private final AtomicLong held = new AtomicLong();
    private final AtomicLong peak = new AtomicLong();
    private long largestSlice;

    /** A slice's buffer while its bytes arrive; freed as soon as the consumer returns. */
    private record Gathering(Arena arena, MemorySegment memory) {
    }

    /**
     * The budget to use when none is given: {@link #DEFAULT_BUDGET}, but never more than a quarter of the memory
     * {@code headroomBytes} leaves (-1: unknown), since the page cache the reads go through, direct reads' bounce
     * buffers and the runtime's own growth share that memory; so a load in a 512 MiB container streams within it
     * with no flag.
     *
     * @param headroomBytes the memory available, or -1 when unknown
     * @return the budget in bytes
     */
    public static long defaultBudget(long headroomBytes) {
        if (headroomBytes < 0) {
            return DEFAULT_BUDGET;
        }
        return Math.min(DEFAULT_BUDGET, Math.max(LEAST_DEFAULT_BUDGET, headroomBytes / 4));
    }

    /**
     * Makes a sink that hands each slice to {@code consumer}.
     *
     * @param consumer    takes each slice as it lands, on the engine's threads
     * @param budgetBytes the most bytes of slices held at once
     * @throws IllegalArgumentException if the budget is below 2 bytes
     */
    public StreamingSink(TensorConsumer consumer, long budgetBytes) {
        if (budgetBytes < 2) {
            throw new IllegalArgumentException("a memory budget must be positive: " + budgetBytes);
        }
        this.consumer = consumer;
        this.budgetBytes = budgetBytes;
    }

    /**
     * Held at once: the slices that windows read ahead of the consumers touch, plus a slice cut by either end of
     * that stretch; so reads run ahead by the budget less twice the largest slice (or only on demand). Consumers
     * asking out of file order add the slice each of them waits for beyond that stretch, and no more: windows then
     * hold one slice each ({@link #holdsUntilLanded}).
     */
    @Override
    public long aheadBytes(long proposed) {
        return Math.min(proposed, Math.max(0, budgetBytes - 2 * largestSlice));
    }

    /** Its budget: slices are gathered into memory allocated as their bytes arrive. */
    @Override
    public long bytesToFill() {
        return budgetBytes;
    }

    @Override
    public boolean holdsUntilLanded() {
        return true;
    }

    @Override
    public void begin(LoadPlan plan) {
        scatters.clear();
        peak.set(0);
        largestSlice = plan.slices().values().stream().mapToLong(TensorSlice::byteSize).max().orElse(0);
        for (FilePlan f : plan.files()) {
            scatters.put(f.file(), new SliceScatter(RankSlices.inFile(f.file(), plan.slices())));
        }
    }

    @Override
    public void accept(Header file, long offset, MemorySegment bytes, Origin origin) {
        for (SliceScatter.Piece p : scatters.get(file).pieces(offset, offset + bytes.byteSize())) {
            TensorSlice s = p.slice();
            if (origin == Origin.MAPPING && isContiguous(s)) {
                continue; // landed() gets it as a view of the mapping
            }
            p.copy(bytes, gathering.computeIfAbsent(s.name(), n -> gather(s)).memory());
        }
    }

    private Gathering gather(TensorSlice s) {
        Arena arena = Arena.ofShared();
        Gathering g = new Gathering(arena, arena.allocate(s.byteSize(), 64));
        peak.accumulateAndGet(held.addAndGet(s.byteSize()), Math::max);
        return g;
    }

    private static boolean isContiguous(TensorSlice s) {
        return s.count() <= 1 || s.runBytes() == s.stride();
    }

    @Override
    public void landed(TensorSlice slice, MemorySegment mapped) throws IOException {
        Gathering g = gathering.remove(slice.name());
        MemorySegment bytes = g != null ? g.memory() : mapped != null ? mapped : MemorySegment.NULL;
        try {
            consumer.accept(slice, bytes.asReadOnly());
        } finally {
            if (g != null) {
                release(g);
            }
        }
    }

    private void release(Gathering g) {
        held.addAndGet(-g.memory().byteSize());
        g.arena().close();
    }

    @Override
    public void end(Throwable failure) {
        gathering.values().forEach(this::release);
        gathering.clear();
    }

    /** {@return the most bytes of slices this sink held at once during the last load} */
    public long peakHeldBytes() {
        return peak.get();
    }

    /** {@return the bytes of slices held right now: none once a load has ended, however it ended} */
    public long heldBytes() {
        return held.get();
    }

    /** {@return the most bytes of slices held at once} */
    public long budgetBytes() {
        return budgetBytes;
    }
}
