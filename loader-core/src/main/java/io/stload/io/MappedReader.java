package io.stload.io;

import io.stload.format.Header;
import io.stload.nativeio.FileAdvice;
import io.stload.nativeio.MemoryAdvice;
import io.stload.nativeio.NativeAccess;
import io.stload.nativeio.NativeFile;
import io.stload.plan.FilePlan;
import io.stload.plan.TensorSlice;
import io.stload.sink.Destination;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import io.stload.plan.ByteRange;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * The strategies that read through the page cache: each file is mapped once, and a window's bytes are the
 * mapping's; they are copied into the destination's read buffer if it gives one, or handed over as a view.
 * Under memory pressure a window no consumer needs any more leaves memory at once: unmapped here
 * (MADV_DONTNEED), then dropped from the page cache (POSIX_FADV_DONTNEED, which skips pages still mapped), so
 * the pages still to be consumed are not the ones the kernel reclaims.
 */
abstract class MappedReader extends WindowedReader {
    private final Arena mappings = Arena.ofShared();
    private final List<MemorySegment> mapped = new ArrayList<>();
    /** Descriptors for dropping pages from the page cache, opened the first time pressure asks for it. */
    private final Map<Integer, NativeFile> dropping = new HashMap<>();
    protected final NativeAccess os;
    protected final MemoryPressure pressure;

    MappedReader(NativeAccess os, List<FilePlan> files, Destination destination, MemoryPressure pressure,
                 int ioThreads, IoStats stats) {
        super(files.stream().map(FilePlan::file).toList(), destination, ioThreads, stats);
        this.os = os;
        this.pressure = pressure;
        try {
            for (FilePlan f : files) {
                mapped.add(Mappings.map(f.file(), mappings));
            }
        } catch (RuntimeException e) {
            mappings.close();
            throw e;
        }
    }

    /**
     * Per file, the runs of its slices, each slice on its own, in file order: windows cut over these hold one slice's
     * bytes each (or part of one), so a window issued for one consumer populates nobody else's bytes.
     */
    static List<List<ByteRange>> rangesPerSlice(List<FilePlan> files, List<TensorSlice> slices, long maxGap) {
        List<List<ByteRange>> ranges = new ArrayList<>();
        for (FilePlan f : files) {
            ranges.add(slices.stream().filter(s -> s.tensor().file() == f.file())
                    .sorted(Comparator.comparingLong(TensorSlice::spanStart))
                    .flatMap(s -> s.reads(maxGap).stream()).toList());
        }
        return ranges;
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

    /** Whole pages inside the window only: a page it shares with a neighbour may still be needed there. */
    @Override
    protected final void released(Header file, Window w) throws IOException {
        if (!pressure.isLow(windowedBytes())) {
            return;
        }
        long page = os.pageSize();
        long start = (w.offset() + page - 1) / page * page;
        long end = (w.offset() + w.length()) / page * page;
        if (end <= start) {
            return;
        }
        os.madvise(mapped.get(w.file()).asSlice(start, end - start), MemoryAdvice.DONTNEED);
        dropFile(w.file()).fadvise(start, end - start, FileAdvice.DONTNEED);
    }

    private NativeFile dropFile(int file) throws IOException {
        synchronized (dropping) {
            NativeFile f = dropping.get(file);
            if (f == null) {
                f = os.open(files.get(file).file(), false);
                dropping.put(file, f);
            }
            return f;
        }
    }

    @Override
    public void close() throws IOException {
        mappings.close();
        IOException failure = null;
        synchronized (dropping) {
            for (NativeFile f : dropping.values()) {
                try {
                    f.close();
                } catch (IOException e) {
                    if (failure == null) {
                        failure = e;
                    } else {
                        failure.addSuppressed(e);
                    }
                }
            }
            dropping.clear();
        }
        if (failure != null) {
            throw failure;
        }
    }
}
