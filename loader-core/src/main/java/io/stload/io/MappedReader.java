package io.stload.io;

import io.stload.format.Header;
import io.stload.plan.FilePlan;
import io.stload.plan.TensorSlice;
import io.stload.sink.Destination;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;

/**
 * The strategies that read through the page cache: each file is mapped once, and a window's bytes are the
 * mapping's; they are copied into the destination's read buffer if it gives one, or handed over as a view.
 */
abstract class MappedReader extends WindowedReader {
    private final Arena mappings = Arena.ofShared();
    private final List<MemorySegment> mapped = new ArrayList<>();

    MappedReader(List<FilePlan> files, Destination destination, int ioThreads, IoStats stats) {
        super(files.stream().map(FilePlan::file).toList(), destination, ioThreads, stats);
        try {
            for (FilePlan f : files) {
                mapped.add(Mappings.map(f.file(), mappings));
            }
        } catch (RuntimeException e) {
            mappings.close();
            throw e;
        }
    }

    /** Before the window's bytes are taken: whatever brings them into memory ahead of the copy. */
    protected abstract void prepare(Header file, MemorySegment window) throws IOException;

    /** Bytes of the window the destination reads when handed the mapping's view: the pages that fault in. */
    protected abstract long bytesTouched(Window w);

    @Override
    protected final void transfer(Header file, Window w) throws IOException, InterruptedException {
        MemorySegment window = mapped.get(w.file()).asSlice(w.offset(), w.length());
        prepare(file, window);
        MemorySegment into = destination.readBuffer(file, w.offset(), w.length());
        long begin = System.nanoTime();
        try {
            Mappings.touching(file, () -> {
                if (into != null) {
                    MemorySegment.copy(window, 0, into, 0, w.length());
                    destination.accept(file, w.offset(), into.asSlice(0, w.length()), Destination.Origin.READ_BUFFER);
                } else {
                    destination.accept(file, w.offset(), window, Destination.Origin.MAPPING);
                }
            });
        } catch (IOException | RuntimeException e) {
            if (into != null) {
                destination.abandon(into, e);
            }
            throw e;
        }
        stats.copyNanos.add(System.nanoTime() - begin);
        stats.bytesRead.add(into != null ? w.length() : bytesTouched(w));
    }

    @Override
    protected final MemorySegment mappedView(TensorSlice s) {
        boolean contiguous = s.count() <= 1 || s.runBytes() == s.stride();
        return contiguous ? mapped.get(fileIndexOf(s)).asSlice(s.spanStart(), s.byteSize()) : null;
    }

    @Override
    public void close() {
        mappings.close();
    }
}
