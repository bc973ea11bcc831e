package io.stload.io;

import io.stload.format.Header;
import io.stload.nativeio.NativeAccess;
import io.stload.nativeio.NativeFile;
import io.stload.plan.ByteRange;
import io.stload.plan.FilePlan;
import io.stload.plan.ReadRanges;
import io.stload.plan.TensorSlice;
import io.stload.sink.FileDestination;
import io.stload.sink.MirroredDestination;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;

/**
 * {@code direct}: O_DIRECT reads of large aligned blocks covering the plan's ranges, several in flight,
 * bypassing the page cache. Where the destination mirrors the file (whole tensors), blocks land in place:
 * no bounce buffer, no copy. Where it packs a rank's slices, each block lands in one of a few reusable aligned
 * bounce buffers and is scattered to the slices it holds. Unaligned edges are covered by reading the whole
 * aligned block around them. Where the filesystem refuses O_DIRECT (tmpfs does), the same blocks are read
 * with buffered pread, and the report says so.
 */
final class DirectReader extends WindowedReader {
    private final List<NativeFile> handles = new ArrayList<>();
    private final List<MirroredDestination> inPlace = new ArrayList<>();
    private final List<SliceScatter> scatters = new ArrayList<>();
    private final BlockingQueue<MemorySegment> bounceBuffers;
    private final Map<Header, String> notes = new IdentityHashMap<>();

    DirectReader(NativeAccess os, List<FilePlan> files, Map<Header, FileDestination> destinations,
                 List<TensorSlice> slices, long blockBytes, int ioThreads, IoStats stats) throws IOException {
        super(files.stream().map(FilePlan::file).toList(), ioThreads, stats);
        long alignment = os.pageSize();
        List<List<ByteRange>> ranges = new ArrayList<>();
        boolean anyBounced = false;
        try {
            for (FilePlan p : files) {
                Header h = p.file();
                FileDestination d = destinations.get(h);
                NativeFile f = os.open(h.file(), true);
                if (f.isDirect() && (alignment % f.directAlignment() != 0 || blockBytes % f.directAlignment() != 0)) {
                    notes.put(h, "O_DIRECT needs " + f.directAlignment() + "-byte alignment here: buffered reads");
                    f.close();
                    f = os.open(h.file(), false);
                } else if (!f.isDirect()) {
                    notes.put(h, os.isNative() ? "O_DIRECT refused by this filesystem: buffered reads"
                            : "no native access (" + os.fallbackReason() + "): buffered reads");
                }
                handles.add(f);
                inPlace.add(d instanceof MirroredDestination m ? m : null);
                List<TensorSlice> inFile = slices.stream().filter(s -> s.tensor().file() == h).toList();
                scatters.add(new SliceScatter(inFile, d::of));
                anyBounced |= !(d instanceof MirroredDestination);
                // O_DIRECT lengths must be aligned too: the last block may reach past the end of the file.
                ranges.add(ReadRanges.aligned(p.reads(), alignment, Long.MAX_VALUE));
            }
            bounceBuffers = anyBounced ? bounceBuffers(os, ioThreads, blockBytes) : null;
        } catch (IOException | RuntimeException e) {
            close();
            throw e;
        }
        layOut(ranges, blockBytes, Long.MAX_VALUE, slices);
    }

    /**
     * One per I/O thread, so a thread never waits for a buffer. An automatic arena frees them: an I/O thread
     * may still be inside a read when an aborted load closes this reader.
     */
    private static BlockingQueue<MemorySegment> bounceBuffers(NativeAccess os, int n, long blockBytes) throws IOException {
        BlockingQueue<MemorySegment> q = new ArrayBlockingQueue<>(n);
        Arena arena = Arena.ofAuto();
        for (int i = 0; i < n; i++) {
            q.add(os.allocate(blockBytes, arena));
        }
        return q;
    }

    @Override
    protected void transfer(Header file, Window w) throws IOException {
        MirroredDestination mirror = inPlace.get(w.file());
        if (mirror != null) {
            checkFull(file, w, read(w, mirror.slice(w.offset(), w.length())));
            return;
        }
        MemorySegment buffer;
        try {
            buffer = bounceBuffers.take();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("load interrupted", e);
        }
        try {
            long n = read(w, buffer.asSlice(0, w.length()));
            checkFull(file, w, n);
            scatters.get(w.file()).scatter(w.offset(), buffer.asSlice(0, n));
        } finally {
            bounceBuffers.add(buffer);
        }
    }

    private long read(Window w, MemorySegment into) throws IOException {
        long n = handles.get(w.file()).read(into, w.offset());
        stats.bytesRead.add(n);
        return n;
    }

    /** A block may end past the end of the file; short of that, a short read means the file changed. */
    private static void checkFull(Header file, Window w, long n) throws IOException {
        if (n < w.length() && w.offset() + n < file.fileSize()) {
            throw new IOException(file.file() + ": short read at offset " + (w.offset() + n)
                    + " (file truncated during the load?)");
        }
    }

    @Override
    protected void finish(TensorSlice s) {
        // The blocks were read in place or scattered as they arrived: nothing left to copy.
    }

    @Override
    public Map<Header, String> notes() {
        return Map.copyOf(notes);
    }

    @Override
    public void close() throws IOException {
        abort(new IOException("load closed"));
        IOException first = null;
        for (NativeFile f : handles) {
            try {
                f.close();
            } catch (IOException e) {
                first = first == null ? e : first;
            }
        }
        if (first != null) {
            throw first;
        }
    }
}
