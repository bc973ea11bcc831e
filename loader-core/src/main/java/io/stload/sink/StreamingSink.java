package io.stload.sink;

import io.stload.format.Header;
import io.stload.nativeio.NativeAccess;
import io.stload.plan.FilePlan;
import io.stload.plan.LoadPlan;
import io.stload.plan.LoadStrategy;
import io.stload.plan.RankSlices;
import io.stload.plan.TensorSlice;
import io.stload.sink.SliceScatter;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A destination that keeps nothing: each slice goes to a {@link TensorConsumer} as it lands, then its memory
 * is gone, so a rank's bytes larger than RAM load. The engine's own memory stays within a budget: a slice is held
 * only between its first byte arriving and the consumer returning, and reads run only so far ahead of the
 * consumers as keeps the slices they touch within the budget ({@link #aheadBytes}), plus one bounce buffer per
 * I/O thread for direct reads. A contiguous slice read through a mapping (mmap, prefetch) is handed over as a view
 * of the mapping, with no copy at all; other slices are gathered into a buffer of their own first, which direct
 * reads (and object storage's) fill in place, all of it but a page at each end for a slice of a megabyte or more
 * ({@link #inPlaceSliceBytes}). A single
 * slice larger than the budget is still held whole while it is gathered. A gathering buffer the consumer has returned
 * is kept for the next slice of its size while the budget has room, since fresh memory costs a page fault per page
 * and checkpoints repeat a few tensor sizes many times. One load at a time; the byte counters may be read from any
 * thread.
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

    private final NativeAccess os = NativeAccess.get();
    private final TensorConsumer consumer;
    private final long budgetBytes;
    private final Map<Header, SliceScatter> scatters = new IdentityHashMap<>();
    /** Files read by positional reads (direct, object storage), whose blocks can land in a slice's buffer. */
    private final Set<Header> readInPlace = Collections.newSetFromMap(new IdentityHashMap<>());
    private final Map<String, Gathering> gathering = new ConcurrentHashMap<>();
    /** Gathering buffers no slice uses, by size; guarded by itself. */
    private final Map<Long, ArrayDeque<Gathering>> spares = new HashMap<>();
    /** Slices' buffers, in use or spare: the memory this sink holds. */
    private final AtomicLong held = new AtomicLong();
    private final AtomicLong peak = new AtomicLong();
    private long largestSlice;

    /**
     * A slice's buffer while its bytes arrive, kept for reuse or freed once the consumer returns: {@code memory}
     * is the slice's bytes, placed in {@code whole} at the slice's own offset within a page, so that a read block
     * at an aligned file offset lands at an aligned address.
     */
    private record Gathering(Arena arena, MemorySegment whole, MemorySegment memory) {
        Gathering forSlice(TensorSlice s) {
            return new Gathering(arena, whole, whole.asSlice(pageOffset(s), s.byteSize()));
        }

        static long pageOffset(TensorSlice s) {
            return s.byteSize() < IN_PLACE_LEAST ? 0 : s.spanStart() % PAGE;
        }
    }

    private static final long PAGE = 4096;
    /** Smaller slices are never the whole of a read block: no page of padding for them. */
    private static final long IN_PLACE_LEAST = 1L << 20;

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
        readInPlace.clear();
        peak.set(0);
        largestSlice = plan.slices().values().stream().mapToLong(TensorSlice::byteSize).max().orElse(0);
        for (FilePlan f : plan.files()) {
            scatters.put(f.file(), new SliceScatter(RankSlices.inFile(f.file(), plan.slices())));
            if (f.strategy() == LoadStrategy.DIRECT || f.strategy() == LoadStrategy.S3) {
                readInPlace.add(f.file());
            }
        }
    }

    /** Slices large enough to get a page of padding, which puts their bytes at their file offsets' alignment. */
    @Override
    public long inPlaceSliceBytes() {
        return IN_PLACE_LEAST;
    }

    /** A read block wholly inside one contiguous slice lands in that slice's buffer; any other block is copied. */
    @Override
    public MemorySegment readBuffer(Header file, long offset, long length) throws IOException {
        if (!readInPlace.contains(file)) {
            return null; // a mapping's view costs no copy at all
        }
        List<SliceScatter.Piece> pieces = scatters.get(file).pieces(offset, offset + length);
        if (pieces.size() != 1) {
            return null;
        }
        SliceScatter.Piece p = pieces.getFirst();
        TensorSlice s = p.slice();
        if (!s.isContiguous() || p.blockOffset() != 0 || p.width() != length) {
            return null;
        }
        return gatheringFor(s).memory().asSlice(p.sliceOffset(), length);
    }

    @Override
    public void accept(Header file, long offset, MemorySegment bytes, Origin origin) throws IOException {
        if (origin == Origin.READ_BUFFER) {
            return; // in the slice's buffer already
        }
        for (SliceScatter.Piece p : scatters.get(file).pieces(offset, offset + bytes.byteSize())) {
            TensorSlice s = p.slice();
            if (origin == Origin.MAPPING && s.isContiguous()) {
                continue; // landed() gets it as a view of the mapping
            }
            p.copy(bytes, gatheringFor(s).memory());
        }
    }

    /** The slice's buffer, made by the first thread to need it while the others wait for it. */
    private Gathering gatheringFor(TensorSlice s) throws IOException {
        try {
            return gathering.computeIfAbsent(s.name(), n -> gather(s));
        } catch (UncheckedIOException e) {
            throw e.getCause();
        }
    }

    private Gathering gather(TensorSlice s) {
        long size = s.byteSize();
        List<Gathering> evicted = new ArrayList<>();
        synchronized (spares) {
            ArrayDeque<Gathering> same = spares.get(size);
            if (same != null && !same.isEmpty()) {
                return same.pop().forSlice(s);
            }
            // Make room for a new buffer by freeing spares of other sizes first.
            for (ArrayDeque<Gathering> other : spares.values()) {
                while (!other.isEmpty() && held.get() + size > budgetBytes) {
                    Gathering g = other.pop();
                    held.addAndGet(-g.memory().byteSize());
                    evicted.add(g);
                }
            }
            peak.accumulateAndGet(held.addAndGet(size), Math::max);
        }
        evicted.forEach(g -> g.arena().close());
        Arena arena = Arena.ofShared();
        try {
            // A large buffer is mapped (the kernel zeroes each page as a read first touches it) rather than taken
            // from Arena.allocate, which writes zeros over all of it first, on the thread whose read waits.
            MemorySegment whole = size >= IN_PLACE_LEAST ? os.allocate(size + PAGE, arena) : arena.allocate(size, 64);
            return new Gathering(arena, whole, null).forSlice(s);
        } catch (IOException | RuntimeException e) {
            arena.close();
            held.addAndGet(-size);
            throw e instanceof IOException io ? new UncheckedIOException(io) : (RuntimeException) e;
        }
    }

    @Override
    public void landed(TensorSlice slice, MemorySegment mapped) throws IOException {
        Gathering g = gathering.remove(slice.name());
        MemorySegment bytes = g != null ? g.memory() : mapped != null ? mapped : MemorySegment.NULL;
        try {
            consumer.accept(slice, bytes.asReadOnly());
        } finally {
            if (g != null) {
                keepOrFree(g);
            }
        }
    }

    /**
     * Keeps a returned buffer for the next slice of its size while the budget has room; {@link #gather} frees
     * spares when a slice of a new size needs the room.
     */
    private void keepOrFree(Gathering g) {
        synchronized (spares) {
            if (held.get() <= budgetBytes) {
                spares.computeIfAbsent(g.memory().byteSize(), k -> new ArrayDeque<>()).push(g);
                return;
            }
        }
        free(g);
    }

    private void free(Gathering g) {
        held.addAndGet(-g.memory().byteSize());
        g.arena().close();
    }

    @Override
    public void end(Throwable failure) {
        gathering.values().forEach(this::free);
        gathering.clear();
        synchronized (spares) {
            spares.values().forEach(same -> same.forEach(this::free));
            spares.clear();
        }
    }

    /** {@return the most bytes of slice buffers, in use or kept for reuse, held at once during the last load} */
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
