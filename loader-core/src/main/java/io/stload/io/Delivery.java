package io.stload.io;

import io.stload.ErrorKind;
import io.stload.StloadException;
import io.stload.format.Header;
import io.stload.host.MemoryHeadroom;
import io.stload.host.RoomLedger;
import io.stload.plan.DestinationProfile;
import io.stload.plan.FilePlan;
import io.stload.plan.LoadPlan;
import io.stload.plan.RankSlices;
import io.stload.plan.Sizes;
import io.stload.plan.TensorSlice;
import io.stload.report.Phase;
import io.stload.sink.Destination;
import io.stload.sink.SliceScatter;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.util.IdentityHashMap;
import java.util.Map;

/**
 * The engine's side of one load's destination: its profile, read once and resolved against the plan's host facts,
 * and every call the engine makes into it. Here the engine puts a window's bytes where the destination wants them:
 * into the memory it gives for the window, or each slice's part into the memory it gives for the slice; a
 * destination never sees a mapping or an engine buffer. What the destination (the caller's code, or code calling the
 * caller's) throws leaves here as {@link ErrorKind#Callback}, unless it is already one of the loader's own errors,
 * so no failure of the caller's is blamed on a file.
 */
final class Delivery {
    private final Destination destination;
    private final DestinationProfile profile;
    private final long budgetBytes;
    private final long heldBytes;
    private final long largestSlice;
    /** What a memory cgroup can still give the process, -1 when nothing bounds it. */
    private final long room;
    private final int threads;
    /** Takes the load out of its memory cgroup's ledger of loads under way. */
    private Runnable release = () -> { };
    private final Map<Header, SliceScatter> scatters = new IdentityHashMap<>();

    Delivery(Destination destination, LoadPlan plan) {
        this.destination = destination;
        this.profile = destination.profile();
        this.budgetBytes = profile.budgetOn(plan.host());
        this.heldBytes = profile.heldBytes(plan.bytes(), plan.host());
        this.largestSlice = plan.largestSliceBytes();
        this.room = plan.host().anonymousRoomBytes();
        this.threads = plan.options().threads();
        for (FilePlan f : plan.files()) {
            scatters.put(f.file(), new SliceScatter(RankSlices.inFile(f.file(), plan.slices())));
        }
    }

    /** The window size the destination asks for, else the strategy's own. */
    long windowBytes(long proposed) {
        return profile.windowBytes() > 0 ? profile.windowBytes() : proposed;
    }

    /**
     * How far reads may run ahead of the consumers. A destination holding each slice until it has landed holds the
     * slices that windows read ahead touch, plus a slice cut by either end of that stretch: so reads run ahead by its
     * budget less twice the largest slice (or only on demand).
     */
    long aheadBytes(long proposed) {
        return holdsUntilLanded() ? Math.min(proposed, Math.max(0, budgetBytes - 2 * largestSlice)) : proposed;
    }

    /** True when a slice's bytes stay in the destination's memory from their first byte until the slice has landed. */
    boolean holdsUntilLanded() {
        return profile.holding() == DestinationProfile.Holding.UNTIL_LANDED;
    }

    /** The least contiguous slice worth cutting read windows at, so that it is read in place. */
    long inPlaceSliceBytes() {
        return profile.inPlaceSliceBytes();
    }

    /**
     * The memory a cgroup leaves the process beside what the destination holds (the rank's bytes, or a stream's
     * budget); -1 when nothing bounds it.
     */
    long roomBesideHeld() {
        return room < 0 ? -1 : Math.max(0, room - heldBytes);
    }

    /** Host memory the destination fills during the load, beside the page cache. */
    long heldBytes() {
        return heldBytes;
    }

    /**
     * A watch on the room a memory cgroup leaves the load, for the most it allocates for itself: what the destination
     * holds (or its largest slice, held whole) and its threads' own memory.
     */
    RoomWatch roomWatch() {
        return room < 0 ? RoomWatch.NONE : RoomWatch.ofHost(selfBytes());
    }

    /** The most the load allocates for itself: what the destination holds, or its largest slice, and its threads. */
    private long selfBytes() {
        return Math.max(heldBytes, profile.unavoidableBytes(heldBytes, largestSlice))
                + threads * MemoryHeadroom.RESERVE_PER_THREAD_BYTES;
    }

    /** The pieces of the plan's slices within file bytes {@code [offset, end)}. */
    SliceScatter scatterOf(Header file) {
        return scatters.get(file);
    }

    void begin(LoadPlan plan) {
        requireRoomFor();
        try {
            destination.begin(plan);
        } catch (IOException | RuntimeException e) {
            throw ours(e, "preparing the destination");
        }
    }

    /**
     * Refuses, before a byte is allocated, a load whose destination must hold more than a memory cgroup can ever give
     * it: the rank's bytes in host memory, or a stream's largest slice, which it holds whole. The kernel would kill
     * the process part way, with no word of why. The other loads of the group under way ({@link RoomLedger}) have a
     * share of the same room: what they still have to allocate is not this load's.
     */
    private void requireRoomFor() {
        if (room < 0) {
            return; // nothing bounds the process
        }
        long unavoidable = profile.unavoidableBytes(heldBytes, largestSlice);
        boolean host = profile.holding() == DestinationProfile.Holding.RANK_BYTES;
        String what = "the load does not fit in host memory: " + (host ? "the rank's " : "its largest slice, held"
                + " whole by the stream, ") + Sizes.human(unavoidable) + " beside what its memory cgroup already holds";
        String remedy = ", so the kernel would kill it part way; load fewer tensors, split them over more ranks"
                + (host ? ", or stream them" : "");
        if (unavoidable > room) {
            throw new StloadException(ErrorKind.OutOfMemory, null, what + " is more than its limit allows ("
                    + Sizes.human(room) + " left beside what the process and the load's threads run in, no swap)"
                    + remedy);
        }
        RoomLedger.Admission admission = RoomLedger.admit(threads, unavoidable, selfBytes());
        if (!admission.admitted() && admission.others() == 0) {
            // The room, read again under the ledger's lock, had shrunk: the group's other processes took it.
            throw new StloadException(ErrorKind.OutOfMemory, null, what + " is more than its limit allows ("
                    + Sizes.human(admission.roomBytes()) + " left, no swap)" + remedy);
        }
        if (!admission.admitted()) {
            throw new StloadException(ErrorKind.OutOfMemory, null, what + " and beside what " + admission.others()
                    + " other load(s) in the group still have to allocate (" + Sizes.human(admission.othersBytes())
                    + " of the " + Sizes.human(admission.roomBytes()) + " left, no swap) is more than its limit allows"
                    + remedy + ", or start the group's loads one after another");
        }
        release = admission.release();
    }

    MemorySegment readBuffer(Header file, long offset, long length) throws InterruptedException {
        MemorySegment m;
        try {
            m = destination.readBuffer(file, offset, length);
        } catch (IOException | RuntimeException e) {
            throw ours(e, "the destination's buffer for " + file.file().getFileName());
        }
        // Reads land in it by pread, which takes native memory only.
        return m == null ? null : writable(m, length, true, "bytes of " + file.file().getFileName());
    }

    void filled(Header file, long offset, MemorySegment bytes) {
        try {
            destination.filled(file, offset, bytes);
        } catch (IOException | RuntimeException e) {
            throw ours(e, "the destination taking bytes of " + file.file().getFileName());
        }
    }

    /**
     * Gives the destination its read buffer back after {@code why}. Where the destination had freed that buffer while
     * the engine wrote into it, that is the failure, told to the destination and thrown here; asked first, since
     * the destination may free the buffer when told.
     *
     * @throws StloadException {@link ErrorKind#Callback} where the destination freed the buffer during the write
     */
    void abandon(MemorySegment readBuffer, Throwable why) {
        StloadException freed = freedByDestination(readBuffer, why);
        Throwable failure = freed != null ? freed : why;
        try {
            destination.abandon(readBuffer, failure);
        } catch (RuntimeException e) {
            failure.addSuppressed(e);
        }
        if (freed != null) {
            throw freed;
        }
    }

    /**
     * Copies the parts of the plan's slices that file bytes {@code [offset, offset + bytes.byteSize())} hold, in
     * {@code bytes} (a mapping's view or an engine buffer), into the slices' memory. Only {@link MemorySegment#copy}
     * touches {@code bytes}, so a fault of a mapping here is one the caller's guard translates.
     *
     * @return the bytes copied
     */
    long scatter(Header file, long offset, MemorySegment bytes) {
        long copied = 0;
        for (SliceScatter.Piece p : scatters.get(file).pieces(offset, offset + bytes.byteSize())) {
            MemorySegment into = sliceBuffer(p.slice());
            try {
                p.copy(bytes, into);
            } catch (IllegalStateException e) {
                StloadException freed = freedByDestination(into, e);
                throw freed != null ? freed : e;
            }
            copied += p.bytes();
        }
        return copied;
    }

    /**
     * The failure of a write into memory the destination gave, as the destination's where it freed that memory while
     * the engine wrote (closed its arena from another thread): alive when given, it is no engine bug.
     *
     * @return {@link ErrorKind#Callback}, {@code failure} its cause, where {@code into} is freed; else null
     */
    static StloadException freedByDestination(MemorySegment into, Throwable failure) {
        return failure instanceof IllegalStateException && !into.scope().isAlive()
                ? new StloadException(ErrorKind.Callback, null, "the destination freed the memory it gave while the"
                        + " engine wrote into it", failure)
                : null;
    }

    private MemorySegment sliceBuffer(TensorSlice slice) {
        MemorySegment m;
        try {
            m = destination.sliceBuffer(slice);
        } catch (IOException | RuntimeException e) {
            throw ours(e, "the destination's buffer for " + slice.name());
        }
        return writable(m, slice.byteSize(), false, slice.name());
    }

    /**
     * Memory the destination gave, checked before the engine writes a byte: one that is missing, read-only, too
     * small, freed, confined to another thread or (for a read) not native is the destination's failure, said as such,
     * not an engine error.
     */
    private static MemorySegment writable(MemorySegment m, long bytes, boolean nativeOnly, String what) {
        if (m == null || m.isReadOnly() || m.byteSize() < bytes || !m.scope().isAlive()
                || !m.isAccessibleBy(Thread.currentThread()) || (nativeOnly && !m.isNative())) {
            throw new StloadException(ErrorKind.Callback, null, "the destination gave no "
                    + (nativeOnly ? "native " : "") + "writable memory of " + bytes
                    + " bytes, alive and open to the engine's threads, for " + what);
        }
        return m;
    }

    /** Has the destination write the slice's pad bytes, if it has any: zeros that no window brings. */
    void pad(TensorSlice slice) {
        if (slice.padBytes() == 0) {
            return;
        }
        try {
            destination.pad(slice);
        } catch (IOException | RuntimeException e) {
            throw ours(e, "the destination zeroing the pad rows of " + slice.name());
        }
    }

    void landed(TensorSlice slice) {
        try {
            destination.landed(slice);
        } catch (IOException | RuntimeException e) {
            throw ours(e, "the destination taking " + slice.name());
        }
    }

    void end(Throwable failure) throws InterruptedException {
        try {
            destination.end(failure);
        } catch (IOException | RuntimeException e) {
            throw ours(e, "ending the destination");
        } finally {
            release.run();
            release = () -> { };
        }
    }

    Map<Phase, Double> phases() {
        return destination.phases();
    }

    /** The destination's budget, where it holds to one. */
    long budgetBytes() {
        return switch (profile.holding()) {
            case AT_MOST, UNTIL_LANDED -> budgetBytes;
            case NONE, RANK_BYTES -> 0;
        };
    }

    /** The most the destination held at once during the load, as it says. */
    long peakHeldBytes() {
        try {
            return destination.peakHeldBytes();
        } catch (RuntimeException e) {
            throw ours(e, "the destination's peak of memory held");
        }
    }

    /** The loader's own errors pass; anything else the destination threw is the caller's. */
    private static StloadException ours(Exception e, String what) {
        return e instanceof StloadException se ? se : StloadException.callback(what + " failed", e);
    }
}
