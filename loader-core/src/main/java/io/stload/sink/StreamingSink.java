package io.stload.sink;

import static io.stload.sink.DestinationArguments.forFile;
import static io.stload.sink.DestinationArguments.requireFile;
import static io.stload.sink.DestinationArguments.requirePlan;
import static io.stload.sink.DestinationArguments.requireSlice;

import io.stload.ErrorKind;
import io.stload.StloadException;
import io.stload.format.Header;
import io.stload.nativeio.NativeAccess;
import io.stload.plan.DestinationProfile;
import io.stload.plan.FilePlan;
import io.stload.plan.LoadPlan;
import io.stload.plan.RankSlices;
import io.stload.plan.TensorSlice;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A destination that keeps nothing: each slice goes to a {@link TensorConsumer} as it lands, then its memory
 * is gone, so a rank's bytes larger than RAM load. The engine's own memory stays within a budget: a slice is held
 * in a buffer of its own from its first byte arriving until the consumer returns, consumers wait their turn while
 * the slices held for the others fill the budget, and reads run only so far ahead of the consumers as keeps the
 * slices they touch within the budget, plus one bounce buffer per I/O thread for direct reads. Direct reads (and object storage's) of a slice of a megabyte or more land in its buffer in place, all of it
 * but a page at each end; other bytes are copied there by the engine, from the mapping or a bounce buffer, so the
 * consumer never sees a file's mapping and a file truncated under the load fails the load rather than the consumer.
 * A single slice larger than the budget is still held whole while it is gathered, and the read window that finishes a
 * slice may begin the next: with a budget under twice the largest slice, the peak can reach about twice it. A buffer the consumer has returned
 * is kept for the next slice of its size while the budget has room, since fresh memory costs a page fault per page
 * and checkpoints repeat a few tensor sizes many times. One load at a time; the byte counters may be read from any
 * thread.
 *
 * <p>What the budget bounds, and what the process shows: the budget bounds these slice buffers, whose peak
 * {@link #peakHeldBytes()} and the load's report give. Beside it the engine holds a bounce buffer per I/O thread for
 * direct reads (a direct block each, 8 MiB by default). The process's resident set (RSS) is more than both under mmap
 * and prefetch: the pages of a file's mapping that the engine copies from count in RSS while the file is mapped (page
 * cache the kernel may reclaim, but a container limit that counts RSS sees it: a stream of 64 MiB of budget can show
 * gigabytes); under direct reads nothing is mapped, and RSS is the buffers plus the JVM's own memory. Plan with
 * {@code LoadOptions.withResidentLimit} where a limit counts RSS: AUTO then reads directly, and says so.
 *
 * <pre>{@code
 * StreamingSink sink = new StreamingSink((slice, bytes) -> gpu.upload(slice.name(), bytes), 0);
 * LoadReport r = new Loader().execute(plan, sink, LoadListener.NONE);
 * }</pre>
 */
public final class StreamingSink implements Destination {

    private final NativeAccess os = NativeAccess.get();
    private final TensorConsumer consumer;
    private final DestinationProfile profile;
    /** The budget of the running load, its default resolved against the host's headroom. */
    private volatile long budgetBytes;
    private final Map<Header, SliceScatter> scatters = new IdentityHashMap<>();
    private final Map<String, Gathering> gathering = new ConcurrentHashMap<>();
    /** Gathering buffers no slice uses, by size; guarded by itself. */
    private final Map<Long, ArrayDeque<Gathering>> spares = new HashMap<>();
    /** Slices' buffers, in use or spare: the memory this sink holds. */
    private final AtomicLong held = new AtomicLong();
    private final AtomicLong peak = new AtomicLong();

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
     * Makes a sink that hands each slice to {@code consumer}.
     *
     * @param consumer    takes each slice as it lands, on the engine's consumer threads, several at once; an
     *                    exception it throws fails the load with kind {@link io.stload.ErrorKind#Callback}
     * @param budgetBytes the most bytes of slices held at once; 0 for {@link DestinationProfile#defaultBudget} of
     *                    the host's headroom
     * @throws io.stload.StloadException {@link io.stload.ErrorKind#Usage} if the budget is negative or 1
     */
    public StreamingSink(TensorConsumer consumer, long budgetBytes) {
        StloadException.requireNonNull(consumer, "a stream needs a consumer, not null");
        this.profile = new DestinationProfile("stream budget", DestinationProfile.Holding.UNTIL_LANDED, budgetBytes,
                IN_PLACE_LEAST, 0);
        this.consumer = consumer;
        this.budgetBytes = budgetBytes;
    }

    /** Slices are held from their first byte until their consumer returns; large ones are read in place. */
    @Override
    public DestinationProfile profile() {
        return profile;
    }

    @Override
    public void begin(LoadPlan plan) {
        requirePlan(plan);
        scatters.clear();
        peak.set(0);
        budgetBytes = profile.budgetOn(plan.host());
        for (FilePlan f : plan.files()) {
            scatters.put(f.file(), new SliceScatter(RankSlices.inFile(f.file(), plan.slices())));
        }
    }

    /** A read window wholly inside one contiguous slice lands in that slice's buffer; others go by slice. */
    @Override
    public MemorySegment readBuffer(Header file, long offset, long length) {
        requireFile(file);
        SliceScatter.Piece p = forFile(scatters, file).singleRun(offset, length);
        if (p == null || !p.slice().isContiguous()) {
            return null;
        }
        return gatheringFor(p.slice()).memory().asSlice(p.sliceOffset(), length);
    }

    @Override
    public MemorySegment sliceBuffer(TensorSlice slice) {
        requireSlice(slice);
        return gatheringFor(slice).memory();
    }

    /** The slice's buffer, made by the first thread to need it while the others wait for it. */
    private Gathering gatheringFor(TensorSlice s) {
        return gathering.computeIfAbsent(s.name(), n -> gather(s));
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
        } catch (IOException | RuntimeException | OutOfMemoryError e) {
            arena.close();
            held.addAndGet(-size);
            throw new StloadException(ErrorKind.OutOfMemory, null, "cannot allocate " + size + " bytes for "
                    + s.name() + " (" + held.get() + " bytes of slices held): " + e.getMessage(), e);
        }
    }

    @Override
    public void landed(TensorSlice slice) {
        requireSlice(slice);
        Gathering g = gathering.remove(slice.name());
        MemorySegment bytes = g != null ? g.memory() : MemorySegment.NULL;
        try {
            consumer.accept(slice, bytes.asReadOnly());
            if (Thread.interrupted()) { // the thread is the engine's: an interrupt left on it would stop its next read
                throw new InterruptedException("the consumer returned with its thread interrupted");
            }
        } catch (Exception e) {
            throw StloadException.callback("the consumer failed on " + slice.name(), e);
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
    @Override
    public long peakHeldBytes() {
        return peak.get();
    }

    /** {@return the bytes of slices held right now: none once a load has ended, however it ended} */
    public long heldBytes() {
        return held.get();
    }

    /** {@return the most bytes of slices held at once: the budget given, or once a load began, its resolved default} */
    public long budgetBytes() {
        return budgetBytes;
    }
}
