package io.stload.io;

import io.stload.ErrorKind;
import io.stload.StloadException;
import io.stload.format.Header;
import io.stload.nativeio.NativeAccess;
import io.stload.plan.ByteRange;
import io.stload.plan.FilePlan;
import io.stload.plan.ReadRanges;
import io.stload.plan.TensorSlice;
import io.stload.sink.Destination;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.LinkedBlockingQueue;

/**
 * {@code direct}: positional reads of large blocks covering the plan's ranges, several in flight, through a
 * {@link RangeSource} per file (for a local file, O_DIRECT, bypassing the page cache, else buffered pread).
 * Where the destination gives memory for a block (host memory mirroring the file, a staging window), the read
 * lands there: no bounce buffer, no copy. Otherwise each block lands in one of a few reusable bounce buffers,
 * one per I/O thread at most, and the destination takes its slices' parts from it.
 */
final class DirectReader extends WindowedReader {
    /** Opens a file for positional reads of whole blocks of the given size. */
    @FunctionalInterface
    interface Sources {
        RangeSource open(Header file, long blockBytes) throws IOException;

        static Sources local(NativeAccess os) {
            return (h, block) -> LocalRangeSource.open(os, h, block);
        }
    }

    private final NativeAccess os;
    private final List<RangeSource> sources = new ArrayList<>();
    private final long blockBytes;
    private final Arena bounceArena = Arena.ofShared();
    private final LinkedBlockingQueue<MemorySegment> bounceBuffers = new LinkedBlockingQueue<>();

    DirectReader(NativeAccess os, Sources opener, List<FilePlan> files, Destination destination,
                 List<TensorSlice> slices, long blockBytes, int ioThreads, IoStats stats) throws IOException {
        super(files.stream().map(FilePlan::file).toList(), destination, ioThreads, stats);
        this.os = os;
        this.blockBytes = destination.windowBytes(blockBytes);
        List<List<ByteRange>> ranges = new ArrayList<>();
        try {
            for (FilePlan p : files) {
                RangeSource s = opener.open(p.file(), this.blockBytes);
                sources.add(s);
                // Aligned reads cover whole blocks: the last may reach past the end of the file.
                ranges.add(ReadRanges.aligned(p.reads(), s.alignment(), Long.MAX_VALUE));
            }
        } catch (IOException | RuntimeException e) {
            close();
            throw e;
        }
        layOut(ranges, this.blockBytes, Long.MAX_VALUE, slices);
    }

    @Override
    protected void transfer(Header file, Window w) throws IOException, InterruptedException {
        RangeSource source = sources.get(w.file());
        long fileBytes = Math.min(w.length(), source.size() - w.offset());
        MemorySegment into = destination.readBuffer(file, w.offset(), w.length());
        if (into != null && into.address() % source.alignment() == 0) {
            try {
                read(source, w, into);
                destination.accept(file, w.offset(), into.asSlice(0, fileBytes), Destination.Origin.READ_BUFFER);
            } catch (IOException | RuntimeException e) {
                destination.abandon(into, e);
                throw e;
            }
            return;
        }
        MemorySegment bounce = takeBounceBuffer();
        try {
            read(source, w, bounce);
            if (into != null) {
                MemorySegment.copy(bounce, 0, into, 0, fileBytes);
                destination.accept(file, w.offset(), into.asSlice(0, fileBytes), Destination.Origin.READ_BUFFER);
            } else {
                destination.accept(file, w.offset(), bounce.asSlice(0, fileBytes), Destination.Origin.ENGINE_BUFFER);
            }
        } catch (IOException | RuntimeException e) {
            if (into != null) {
                destination.abandon(into, e);
            }
            throw e;
        } finally {
            bounceBuffers.add(bounce);
        }
    }

    private void read(RangeSource source, Window w, MemorySegment into) throws IOException {
        try {
            source.read(w.offset(), into.asSlice(0, w.length()));
        } catch (IOException e) {
            // A local file's error is named by its path at the engine's edge; a source no path can name (a path
            // prints s3://bucket/key as s3:/bucket/key) is named here, by its own name.
            if (!source.name().equals(files.get(w.file()).file().toString())) {
                throw namedBy(source, e);
            }
            throw e;
        }
        stats.bytesRead.add(Math.min(w.length(), source.size() - w.offset()));
    }

    private static StloadException namedBy(RangeSource source, IOException e) {
        String message = String.valueOf(e.getMessage());
        return new StloadException(ErrorKind.Io, null,
                message.startsWith(source.name()) ? message : source.name() + ": " + message, e);
    }

    /** A free bounce buffer; allocated on first need, so a load whose reads all land in place has none. */
    private MemorySegment takeBounceBuffer() throws IOException {
        MemorySegment b = bounceBuffers.poll();
        if (b != null) {
            return b;
        }
        synchronized (bounceArena) {
            // At most one per I/O thread exists, and each thread holds at most one: allocating never outgrows that.
            return os.allocate(blockBytes, bounceArena);
        }
    }

    @Override
    Map<Header, String> notes() {
        Map<Header, String> notes = new IdentityHashMap<>();
        for (int i = 0; i < sources.size(); i++) {
            if (sources.get(i).note() != null) {
                notes.put(files.get(i), sources.get(i).note());
            }
        }
        return notes;
    }

    /** Only once no I/O thread runs: then no read can land in a freed buffer or use a closed descriptor. */
    @Override
    public void close() throws IOException {
        IOException first = null;
        for (RangeSource s : sources) {
            try {
                s.close();
            } catch (IOException e) {
                first = first == null ? e : first;
            }
        }
        bounceArena.close();
        if (first != null) {
            throw first;
        }
    }
}
