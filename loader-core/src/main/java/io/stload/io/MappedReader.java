package io.stload.io;

import io.stload.format.Header;
import io.stload.nativeio.FileAdvice;
import io.stload.nativeio.MappedFile;
import io.stload.nativeio.MemoryAdvice;
import io.stload.nativeio.NativeAccess;
import io.stload.nativeio.NativeFile;
import io.stload.plan.FilePlan;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.List;

/**
 * The strategies that read through the page cache: a window's bytes are the file's mapping's; they are copied
 * into the destination's read buffer if it gives one, or handed over as a view. A file is mapped when the plan
 * reaches it, and a bounded number are mapped at once ({@link OpenFiles}), so tens of thousands of shards do not
 * exhaust the process's mappings; a mapping is held while a window is copied out of it and while a view of it is
 * with the destination, and unmapped only after. Under memory pressure a window no consumer needs any more leaves
 * memory at once: unmapped here (MADV_DONTNEED), then dropped from the page cache (POSIX_FADV_DONTNEED, which
 * skips pages still mapped), so the pages still to be consumed are not the ones the kernel reclaims.
 */
abstract class MappedReader extends WindowedReader {
    /** One file's mapping, in an arena of its own so that it can be unmapped alone. */
    private record Mapping(Arena arena, MemorySegment bytes) {
    }

    private final OpenFiles<Mapping> mappings;
    protected final NativeAccess os;
    protected final MemoryPressure pressure;
    /**
     * The windows being populated and copied: while the headroom cannot hold the load, at most half of it at once
     * ({@link RoomGate}).
     */
    private final RoomGate inFlight;

    MappedReader(NativeAccess os, List<FilePlan> files, Delivery destination, MemoryPressure pressure,
                 int ioThreads, IoStats stats) {
        super(files.stream().map(FilePlan::file).toList(), destination, ioThreads, stats);
        this.os = os;
        this.pressure = pressure;
        this.mappings = new OpenFiles<>(OpenFiles.boundFor(ioThreads), this::map, m -> m.arena().close());
        this.inFlight = new RoomGate(() -> pressure.isLow(footprint(windowedBytes())) ? pressure.headroom() / 2
                : Long.MAX_VALUE);
    }

    private Mapping map(int file) {
        Arena arena = Arena.ofShared();
        try {
            return new Mapping(arena, files.get(file).map(arena));
        } catch (RuntimeException e) {
            arena.close();
            throw e;
        }
    }

    /**
     * What the load takes from the memory the page cache lives in: {@code readBytes} through the page cache and
     * what the destination is still to fill. The page cache holds the bytes read only if the headroom holds both.
     */
    protected final long footprint(long readBytes) {
        return readBytes + destination.heldBytes();
    }

    /** Before the window's bytes are taken: whatever brings them into memory ahead of the copy. */
    protected abstract void prepare(Header file, MemorySegment window) throws IOException;

    /** Bytes of the window the destination reads when handed the mapping's view: the pages that fault in. */
    protected abstract long bytesTouched(Window w);

    @Override
    protected final void transfer(Header file, Window w) throws IOException, InterruptedException {
        inFlight.enter(w.length());
        Mapping mapping = mappings.acquire(w.file());
        try {
            transfer(file, w, mapping.bytes().asSlice(w.offset(), w.length()));
        } finally {
            mappings.release(w.file());
            inFlight.leave(w.length());
        }
    }

    /**
     * Copies the window out of the mapping, into the destination's buffer for it or into its slices' memory. Only
     * this copy reads the mapping, under the guard that turns a truncated file's fault into the load's error: no
     * destination or consumer is ever handed the mapping.
     */
    private void transfer(Header file, Window w, MemorySegment window) throws IOException, InterruptedException {
        prepare(file, window);
        MemorySegment into = destination.readBuffer(file, w.offset(), w.length());
        long begin = System.nanoTime();
        if (into == null) {
            MappedFile.reading(file.file(), () -> destination.scatter(file, w.offset(), window));
        } else {
            try {
                MappedFile.reading(file.file(), () -> MemorySegment.copy(window, 0, into, 0, w.length()));
            } catch (RuntimeException e) {
                destination.abandon(into, e);
                throw e;
            }
            destination.filled(file, w.offset(), into.asSlice(0, w.length()));
        }
        stats.copyNanos.add(System.nanoTime() - begin);
        stats.bytesRead.add(into != null ? w.length() : bytesTouched(w));
    }

    /** Whole pages inside the window only: a page it shares with a neighbour may still be needed there. */
    @Override
    protected final void released(Header file, Window w) throws IOException, InterruptedException {
        if (!pressure.isLow(footprint(windowedBytes()))) {
            return;
        }
        long page = os.pageSize();
        long start = (w.offset() + page - 1) / page * page;
        long end = (w.offset() + w.length()) / page * page;
        if (end <= start) {
            return;
        }
        Mapping mapping = mappings.acquire(w.file());
        try {
            os.madvise(mapping.bytes().asSlice(start, end - start), MemoryAdvice.DONTNEED);
        } finally {
            mappings.release(w.file());
        }
        // A descriptor of its own, for this call only: the bounded pool holds mappings, not descriptors.
        try (NativeFile f = os.open(file.file(), false)) {
            f.fadvise(start, end - start, FileAdvice.DONTNEED);
        }
    }

    @Override
    public void close() throws IOException {
        mappings.close();
    }
}
