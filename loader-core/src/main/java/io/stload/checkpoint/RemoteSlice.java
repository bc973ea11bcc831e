package io.stload.checkpoint;

import io.stload.format.SliceSpec;
import io.stload.format.RangeSource;
import java.io.IOException;
import java.io.InterruptedIOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

/**
 * A slice of a tensor in a remote file, fetched run by run ({@link SliceSpec#forEachRun}): runs closer than
 * the folder's gap bound are fetched by one read, which lands straight in the slice when its runs are
 * contiguous there too, else in a scratch buffer they are copied from. Reads run concurrently; the source
 * bounds the requests in flight. Once {@link #read} returns, nothing more lands in the slice. A slice in memory only
 * the calling thread may touch (a confined arena's) is filled through a shared buffer, copied on that thread.
 */
final class RemoteSlice {
    private RemoteSlice() {
    }

    static void read(RangeSource source, long tensorOffset, SliceSpec spec, MemorySegment out, long maxGap)
            throws IOException {
        List<Group> groups = new ArrayList<>();
        spec.forEachRun((offset, at, length) -> {
            long from = tensorOffset + offset;
            if (!groups.isEmpty() && from - groups.getLast().to <= maxGap) {
                groups.getLast().add(from, at, length);
            } else {
                groups.add(new Group(from, at, length));
            }
        });
        if (groups.size() == 1) {
            groups.getFirst().fetch(source, out);
            return;
        }
        if (!out.isAccessibleBy(Thread.ofVirtual().unstarted(() -> { }))) {
            // Memory only this thread may touch (a confined arena's): the reads, on threads of their own, fill a
            // shared buffer of its size, copied into it here once they are all in.
            try (Arena arena = Arena.ofShared()) {
                MemorySegment shared = arena.allocate(out.byteSize(), 64);
                fetchConcurrently(source, groups, shared);
                out.copyFrom(shared);
            }
            return;
        }
        fetchConcurrently(source, groups, out);
    }

    private static void fetchConcurrently(RangeSource source, List<Group> groups, MemorySegment out) throws IOException {
        try (ExecutorService reads = Executors.newVirtualThreadPerTaskExecutor()) {
            List<Future<Void>> done = new ArrayList<>();
            for (Group g : groups) {
                done.add(reads.submit(() -> {
                    g.fetch(source, out);
                    return null;
                }));
            }
            try {
                for (Future<Void> f : done) {
                    f.get();
                }
            } catch (ExecutionException e) {
                reads.shutdownNow();
                // An I/O error is the caller's to name; anything else is a bug and stays one.
                switch (e.getCause()) {
                    case IOException io -> throw io;
                    case RuntimeException bug -> throw bug;
                    case Error error -> throw error;
                    default -> throw new IllegalStateException(e.getCause());
                }
            } catch (InterruptedException e) {
                reads.shutdownNow();
                Thread.currentThread().interrupt();
                throw new InterruptedIOException("interrupted while fetching a slice");
            }
        }
    }

    /** File bytes {@code [from, to)}, read at once, holding runs of the slice (file offset, slice offset, length). */
    private static final class Group {
        final long from;
        final long at;
        long to;
        boolean contiguous = true;
        final List<long[]> runs = new ArrayList<>();

        Group(long from, long at, long length) {
            this.from = from;
            this.at = at;
            this.to = from;
            add(from, at, length);
        }

        void add(long runFrom, long runAt, long length) {
            contiguous &= runFrom == to && runAt == at + (to - from);
            runs.add(new long[] {runFrom, runAt, length});
            to = runFrom + length;
        }

        void fetch(RangeSource source, MemorySegment out) throws IOException {
            if (contiguous) {
                source.read(from, out.asSlice(at, to - from));
                return;
            }
            try (Arena arena = Arena.ofShared()) { // the source's own threads write into it
                MemorySegment scratch = arena.allocate(to - from);
                source.read(from, scratch);
                for (long[] r : runs) {
                    MemorySegment.copy(scratch, r[0] - from, out, r[1], r[2]);
                }
            }
        }
    }
}
