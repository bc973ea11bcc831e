package io.stload.io;

import io.stload.checkpoint.RemoteFolder;
import io.stload.format.Header;
import io.stload.plan.FilePlan;
import io.stload.plan.TensorSlice;
import io.stload.sink.FileDestination;
import io.stload.sink.MirroredDestination;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;

/**
 * {@code s3}: the plan's ranges read from each file's {@link RangeSource} in part-sized windows, as many in
 * flight as the folder allows, front to back. Where the destination mirrors the file, a part lands in place;
 * where it packs a rank's slices, the part lands in one of a few reusable buffers (one per request in flight)
 * and is scattered to the slices it holds. Memory beyond the destination: concurrency x part size at most.
 */
final class RangeReader extends WindowedReader {
    private final List<RangeSource> sources = new ArrayList<>();
    private final List<MirroredDestination> inPlace = new ArrayList<>();
    private final List<SliceScatter> scatters = new ArrayList<>();
    private final BlockingQueue<MemorySegment> buffers;

    RangeReader(RemoteFolder folder, Map<Header, String> names, List<FilePlan> files,
                Map<Header, FileDestination> destinations, List<TensorSlice> slices, IoStats stats) throws IOException {
        super(files.stream().map(FilePlan::file).toList(), folder.concurrency(), stats);
        boolean anyPacked = false;
        try {
            for (FilePlan p : files) {
                Header h = p.file();
                FileDestination d = destinations.get(h);
                sources.add(folder.open(names.get(h)));
                inPlace.add(d instanceof MirroredDestination m ? m : null);
                scatters.add(new SliceScatter(slices.stream().filter(s -> s.tensor().file() == h).toList(), d::of));
                anyPacked |= !(d instanceof MirroredDestination);
            }
        } catch (IOException | RuntimeException e) {
            close();
            throw e;
        }
        buffers = anyPacked ? buffers(folder.concurrency(), folder.partBytes()) : null;
        layOut(files.stream().map(FilePlan::reads).toList(), folder.partBytes(), Long.MAX_VALUE, slices);
    }

    /** An automatic arena frees them: a request may still be landing when an aborted load closes this reader. */
    private static BlockingQueue<MemorySegment> buffers(int n, long partBytes) {
        BlockingQueue<MemorySegment> q = new ArrayBlockingQueue<>(n);
        Arena arena = Arena.ofAuto();
        for (int i = 0; i < n; i++) {
            q.add(arena.allocate(partBytes, 64));
        }
        return q;
    }

    @Override
    protected void transfer(Header file, Window w) throws IOException {
        RangeSource source = sources.get(w.file());
        MirroredDestination mirror = inPlace.get(w.file());
        if (mirror != null) {
            source.read(w.offset(), mirror.slice(w.offset(), w.length()));
            stats.bytesRead.add(w.length());
            return;
        }
        MemorySegment buffer;
        try {
            buffer = buffers.take();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("load interrupted", e);
        }
        try {
            MemorySegment part = buffer.asSlice(0, w.length());
            source.read(w.offset(), part);
            stats.bytesRead.add(w.length());
            scatters.get(w.file()).scatter(w.offset(), part);
        } finally {
            buffers.add(buffer);
        }
    }

    @Override
    protected void finish(TensorSlice s) {
        // Parts landed in place or were scattered as they arrived: nothing left to copy.
    }

    @Override
    public Map<Header, String> notes() {
        return Map.of();
    }

    @Override
    public void close() throws IOException {
        abort(new IOException("load closed"));
        IOException first = null;
        for (RangeSource s : sources) {
            try {
                s.close();
            } catch (IOException e) {
                first = first == null ? e : first;
            }
        }
        if (first != null) {
            throw first;
        }
    }
}
