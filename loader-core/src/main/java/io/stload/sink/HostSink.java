package io.stload.sink;

import static io.stload.sink.DestinationArguments.forFile;
import static io.stload.sink.DestinationArguments.requireFile;
import static io.stload.sink.DestinationArguments.requirePlan;
import static io.stload.sink.DestinationArguments.requireSlice;

import io.stload.ErrorKind;
import io.stload.StloadException;
import io.stload.format.Header;
import io.stload.format.Tensor;
import io.stload.nativeio.NativeAccess;
import io.stload.nativeio.SharedArenas;
import io.stload.plan.DestinationProfile;
import io.stload.plan.FilePlan;
import io.stload.plan.LoadPlan;
import io.stload.plan.RankSlices;
import io.stload.plan.TensorSlice;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.HashMap;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The default destination: host memory the loader owns on the caller's behalf, off-heap, one page-aligned
 * region per file, freed all at once when the sink is closed (by whoever holds the loaded weights), or by the
 * engine when the load fails. Whole tensors get memory mirroring their files, so that direct reads land in
 * place; a rank holding slices, or only some experts, gets them packed, each contiguous and
 * {@link #SLICE_ALIGNMENT}-aligned, so it holds only its own bytes. Backed by transparent huge pages where the
 * kernel allows ({@link NativeAccess#allocate}).
 */
public final class HostSink implements Destination, AutoCloseable {
    /** Slices start on cache-line multiples wide enough for any SIMD load a consumer may use. */
    public static final int SLICE_ALIGNMENT = 64;

    private final Arena arena = Arena.ofShared();
    private final NativeAccess os;
    private final Map<Header, FileDestination> files = new IdentityHashMap<>();
    private LoadPlan plan;
    private long allocated;

    /** An empty sink; {@link #begin} allocates the memory of one load. */
    public HostSink() {
        this(NativeAccess.get());
    }

    /** A sink allocating through {@code os}, which tests replace to fail or count allocations. */
    HostSink(NativeAccess os) {
        this.os = os;
    }

    /** Host memory for every byte of the rank, held until the caller frees it. */
    @Override
    public DestinationProfile profile() {
        return DestinationProfile.HOST;
    }

    @Override
    public synchronized void begin(LoadPlan plan) {
        requirePlan(plan);
        if (this.plan != null) {
            throw StloadException.usage("a HostSink holds one load; the weights of the last one are still in it");
        }
        this.plan = plan;
        boolean partial = plan.isPartial();
        for (FilePlan f : plan.files()) {
            Header h = f.file();
            files.put(h, partial ? allocatePacked(h, RankSlices.inFile(h, plan.slices())) : allocateMirror(h, os.pageSize()));
        }
    }

    /** Memory mirroring a file takes every window of it in place; a rank's packed slices take theirs by slice. */
    @Override
    public MemorySegment readBuffer(Header file, long offset, long length) {
        requireFile(file);
        return files.get(file) instanceof MirroredDestination m ? m.slice(offset, length) : null;
    }

    @Override
    public MemorySegment sliceBuffer(TensorSlice slice) {
        requireSlice(slice);
        return forFile(files, slice.tensor().file()).of(slice);
    }

    @Override
    public void end(Throwable failure) {
        if (failure != null) {
            close();
        }
    }

    /**
     * {@return every slice of the load, by name, in checkpoint order; valid until the sink is closed}
     *
     * @throws StloadException {@link io.stload.ErrorKind#Usage} before a load has begun
     */
    public Map<String, Tensor> tensors() {
        if (plan == null) {
            throw StloadException.usage("no load has begun in this destination: it holds no tensors yet");
        }
        Map<String, Tensor> tensors = new LinkedHashMap<>();
        for (TensorSlice s : plan.slices().values()) {
            tensors.put(s.name(), new Tensor(s.local(), files.get(s.tensor().file()).of(s)));
        }
        return tensors;
    }

    /**
     * A destination for file bytes {@code [alignDown(dataStart), alignUp(fileSize))}: every aligned block
     * covering the data area fits, including a final block that runs past the end of the file.
     */
    private MirroredDestination allocateMirror(Header h, int alignment) {
        if (alignment > os.pageSize() || os.pageSize() % alignment != 0) {
            throw StloadException.usage("alignment must divide the page size " + os.pageSize());
        }
        long from = h.dataStart() / alignment * alignment;
        long to = from + regionBytes(h, alignment);
        return new MirroredDestination(h, from, allocate(h, to - from));
    }

    /** One region for a rank's slices of a file's tensors, each starting on a {@link #SLICE_ALIGNMENT} boundary. */
    private PackedDestination allocatePacked(Header h, List<TensorSlice> slices) {
        long size = 0;
        for (TensorSlice s : slices) {
            size = alignUp(size, SLICE_ALIGNMENT) + s.byteSize();
        }
        MemorySegment memory = allocate(h, size);
        Map<String, MemorySegment> at = new HashMap<>();
        long offset = 0;
        for (TensorSlice s : slices) {
            offset = alignUp(offset, SLICE_ALIGNMENT);
            at.put(s.name(), memory.asSlice(offset, s.byteSize()));
            offset += s.byteSize();
        }
        return new PackedDestination(h, at);
    }

    private MemorySegment allocate(Header h, long bytes) {
        try {
            MemorySegment memory = os.allocate(bytes, arena);
            allocated += bytes;
            return memory;
        } catch (OutOfMemoryError | IOException e) {
            throw new StloadException(ErrorKind.OutOfMemory, h.file(), "cannot allocate " + bytes
                    + " bytes of host memory for its tensors (" + allocated + " bytes already held): " + e.getMessage());
        }
    }

    private static long alignUp(long v, long a) {
        return (v + a - 1) / a * a;
    }

    /**
     * The host memory a whole load of a file takes: known from the header alone, so callers can budget before
     * loading (an upper bound for a rank's packed slices).
     *
     * @param h         the file's header
     * @param alignment the alignment of its memory's start, a divisor of the page size
     * @return the bytes
     * @throws StloadException {@link ErrorKind#Usage} if {@code h} is null
     */
    public static long regionBytes(Header h, int alignment) {
        requireFile(h);
        return alignUp(h.fileSize(), alignment) - h.dataStart() / alignment * alignment;
    }

    /** {@return host memory held, tensor bytes plus alignment padding} */
    public synchronized long allocatedBytes() {
        return allocated;
    }

    /** The host memory the tensors take, all of it held from the start of the load: {@link #allocatedBytes()}. */
    @Override
    public long peakHeldBytes() {
        return allocatedBytes();
    }

    @Override
    public synchronized void close() {
        SharedArenas.close(arena, "a tensor of this load");
    }
}
