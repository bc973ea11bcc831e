package io.stload.io;

import io.stload.ErrorKind;
import io.stload.StloadException;
import io.stload.format.Header;
import io.stload.plan.FilePlan;
import io.stload.plan.TensorSlice;
import io.stload.sink.FileDestination;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.channels.FileChannel;
import java.nio.file.StandardOpenOption;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;

/**
 * {@code mmap}: copies each slice out of the file's mapping when asked; pages fault in on demand, so only the
 * pages holding the slice's runs are read.
 */
final class MmapReader implements TensorReader {
    private final Arena mappings = Arena.ofShared();
    private final Map<Header, MemorySegment> mapped = new IdentityHashMap<>();
    private final Map<Header, FileDestination> destinations;
    private final IoStats stats;

    MmapReader(List<FilePlan> files, Map<Header, FileDestination> destinations, IoStats stats) throws IOException {
        this.destinations = destinations;
        this.stats = stats;
        try {
            for (FilePlan f : files) {
                mapped.put(f.file(), Mappings.map(f.file(), mappings));
            }
        } catch (IOException | RuntimeException e) {
            mappings.close();
            throw e;
        }
    }

    @Override
    public void start(ExecutorService io) {
    }

    @Override
    public void materialize(TensorSlice s) {
        long begin = System.nanoTime();
        Header h = s.tensor().file();
        Mappings.copy(mapped.get(h), s, destinations.get(h).of(s));
        stats.copyNanos.add(System.nanoTime() - begin);
        stats.bytesRead.add(s.byteSize());
    }

    @Override
    public Map<Header, String> notes() {
        return Map.of();
    }

    @Override
    public void close() {
        mappings.close();
    }

    /** Mapping helpers shared by the strategies that read through the page cache. */
    static final class Mappings {
        private Mappings() {
        }

        static MemorySegment map(Header h, Arena arena) throws IOException {
            try (FileChannel ch = FileChannel.open(h.file(), StandardOpenOption.READ)) {
                if (ch.size() != h.fileSize()) {
                    throw new IOException(h.file() + " changed size from " + h.fileSize() + " to " + ch.size()
                            + " bytes after its header was read");
                }
                return ch.map(FileChannel.MapMode.READ_ONLY, 0, h.fileSize(), arena);
            }
        }

        /** Gathers the slice's runs, in order, into {@code dst}. */
        static void copy(MemorySegment mapping, TensorSlice s, MemorySegment dst) {
            try {
                for (long k = 0; k < s.count(); k++) {
                    MemorySegment.copy(mapping, s.start() + k * s.stride(), dst, k * s.runBytes(), s.runBytes());
                }
            } catch (InternalError e) {
                // The JVM's translation of SIGBUS: the file was truncated or its disk failed under the mapping.
                throw new StloadException(ErrorKind.Io, s.tensor().file().file(),
                        "file was truncated or became unreadable while mapped (" + e.getMessage() + ")", e);
            }
        }
    }
}
