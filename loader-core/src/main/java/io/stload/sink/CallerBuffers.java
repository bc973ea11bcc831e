package io.stload.sink;

import static io.stload.sink.DestinationArguments.forFile;
import static io.stload.sink.DestinationArguments.requireFile;
import static io.stload.sink.DestinationArguments.requirePlan;
import static io.stload.sink.DestinationArguments.requireSlice;

import io.stload.ErrorKind;
import io.stload.StloadException;
import io.stload.format.Header;
import io.stload.plan.DestinationProfile;
import io.stload.plan.FilePlan;
import io.stload.plan.LoadPlan;
import io.stload.plan.RankSlices;
import io.stload.plan.TensorSlice;
import java.lang.foreign.MemorySegment;
import java.util.IdentityHashMap;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Function;

/**
 * The caller's own memory: for each slice of the plan (the whole tensor for a single rank), the caller gives a
 * writable segment of at least its size (from its own arena, pinned or device-visible memory), and the slice's
 * bytes land there, row-major, as if it had been written on its own: read in place where a read window lies
 * inside one run of a slice, else gathered from the engine's buffer. The caller keeps ownership: a failed load
 * leaves the segments partly written, never freed. One load at a time; {@link #segment} may be called from any thread
 * once the load has returned.
 *
 * <pre>{@code
 * try (Arena arena = Arena.ofShared()) {
 *     CallerBuffers mine = new CallerBuffers(s -> arena.allocate(s.byteSize(), 64));
 *     new Loader().execute(plan, mine, LoadListener.NONE);
 *     MemorySegment q = mine.segment("model.layers.0.self_attn.q_proj.weight");
 * }
 * }</pre>
 */
public final class CallerBuffers implements Destination {
    private final Function<TensorSlice, MemorySegment> memoryOf;
    private final Map<String, MemorySegment> given = new ConcurrentHashMap<>();
    private final Map<Header, SliceScatter> scatters = new IdentityHashMap<>();

    /** Memory the caller allocated before the load; large slices take direct reads in place. */
    private static final DestinationProfile PROFILE = new DestinationProfile("the caller's memory",
            DestinationProfile.Holding.NONE, 0, 1L << 20, 0);

    /**
     * Makes a destination over the caller's memory.
     *
     * @param memoryOf the allocator: asked once per slice, in the plan's order, on the thread that runs the load, before
     *                 any read (so calls never overlap), for writable memory of at least {@code slice.byteSize()}; a
     *                 null, read-only or too small segment fails the load with {@link ErrorKind#Usage}, and a
     *                 {@link RuntimeException} it throws with {@link ErrorKind#Callback}, its exception the cause and
     *                 no file named; nothing is read then, and the memory it gave stays the caller's
     */
    public CallerBuffers(Function<TensorSlice, MemorySegment> memoryOf) {
        StloadException.requireNonNull(memoryOf, "the caller's buffers are given by an allocator, not null");
        this.memoryOf = memoryOf;
    }

    @Override
    public void begin(LoadPlan plan) {
        requirePlan(plan);
        given.clear();
        scatters.clear();
        for (TensorSlice s : plan.slices().values()) {
            MemorySegment m;
            try {
                m = memoryOf.apply(s);
            } catch (RuntimeException e) {
                throw StloadException.callback("the caller's allocator failed for " + s.name(), e);
            }
            if (m == null || m.isReadOnly() || m.byteSize() < s.byteSize()) {
                throw new StloadException(ErrorKind.Usage, s.tensor().file().file(), s.name() + " needs a writable "
                        + "segment of " + s.byteSize() + " bytes; the caller gave " + describe(m));
            }
            given.put(s.name(), m.asSlice(0, s.byteSize()));
        }
        for (FilePlan f : plan.files()) {
            scatters.put(f.file(), new SliceScatter(RankSlices.inFile(f.file(), plan.slices())));
        }
    }

    private static String describe(MemorySegment m) {
        return m == null ? "none" : (m.isReadOnly() ? "a read-only one of " : "one of ") + m.byteSize() + " bytes";
    }

    /**
     * The caller's memory, allocated before the load; a slice of a megabyte or more takes direct reads in place, as a
     * page read through a bounce buffer at each end of it costs nothing.
     */
    @Override
    public DestinationProfile profile() {
        return PROFILE;
    }

    /**
     * Where a window lies wholly inside one run of one slice, the caller's own memory for it: a positional read
     * lands there with no copy (a direct one, where the caller's address has the file offset's alignment).
     */
    @Override
    public MemorySegment readBuffer(Header file, long offset, long length) {
        requireFile(file);
        SliceScatter.Piece p = forFile(scatters, file).singleRun(offset, length);
        MemorySegment m = p == null ? null : given.get(p.slice().name());
        // A read lands in native memory only: a heap segment of the caller's takes its bytes by copy.
        return m == null || !m.isNative() ? null : m.asSlice(p.sliceOffset(), length);
    }

    @Override
    public MemorySegment sliceBuffer(TensorSlice slice) {
        requireSlice(slice);
        return given.get(slice.name());
    }

    @Override
    public void end(Throwable failure) {
    }

    /**
     * Returns the caller's segment holding a tensor's slice, cut to its size.
     *
     * @param name the tensor's name
     * @return the segment the caller gave for it
     * @throws StloadException {@link ErrorKind#TensorNotFound} if the tensor is not part of the load;
     *                         {@link ErrorKind#Usage} if {@code name} is null
     */
    public MemorySegment segment(String name) {
        MemorySegment m = find(name).orElse(null);
        if (m == null) {
            throw new StloadException(ErrorKind.TensorNotFound, null, "`" + name + "` is not part of the load");
        }
        return m;
    }

    /**
     * Looks the caller's segment for a tensor's slice up without failing.
     *
     * @param name the tensor's name
     * @return the segment the caller gave for it, cut to its size, or empty if the tensor is not part of the load
     * @throws StloadException {@link ErrorKind#Usage} if {@code name} is null
     */
    public Optional<MemorySegment> find(String name) {
        StloadException.requireNonNull(name, "a caller's segment is looked up by its tensor's name, not null");
        return Optional.ofNullable(given.get(name));
    }
}
