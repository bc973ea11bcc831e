package io.stload.checkpoint;

import io.stload.format.RangeSource;
import java.io.EOFException;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;
import java.util.stream.Stream;

/**
 * A local directory read as a remote folder: object storage's code path (whole-file reads of small files, ranged
 * reads of the rest, in parts, several in flight) without a server. Counts the bytes its sources read; a subclass
 * may fail chosen reads through {@link #beforeRead}.
 */
public class LocalRemoteFolder implements RemoteFolder {
    private final Path dir;
    private final String location;
    private final int concurrency;
    private final long partBytes;
    private final long maxGap;
    /** Bytes read through the folder's sources. */
    public final AtomicLong bytesRead = new AtomicLong();

    /**
     * @param dir         the local directory
     * @param location    what it is called, e.g. {@code remote://test/}
     * @param concurrency parts in flight
     * @param partBytes   bytes per part
     * @param maxGap      the largest gap between two ranges read through
     */
    public LocalRemoteFolder(Path dir, String location, int concurrency, long partBytes, long maxGap) {
        this.dir = dir;
        this.location = location;
        this.concurrency = concurrency;
        this.partBytes = partBytes;
        this.maxGap = maxGap;
    }

    /** Called before each ranged read; throws to fail it. */
    protected void beforeRead(String name, long offset) throws IOException {
    }

    @Override
    public String location() {
        return location;
    }

    @Override
    public Path pathOf(String name) {
        return Path.of(location.replaceFirst("://", ":/") + name);
    }

    @Override
    public List<String> list(String suffix) throws IOException {
        try (Stream<Path> files = Files.list(dir)) {
            return files.map(p -> p.getFileName().toString()).filter(n -> n.endsWith(suffix)).sorted().toList();
        }
    }

    @Override
    public boolean exists(String name) {
        return Files.exists(dir.resolve(name));
    }

    @Override
    public byte[] readAll(String name, long maxBytes) throws IOException {
        return Files.readAllBytes(dir.resolve(name));
    }

    @Override
    public RangeSource open(String name) throws IOException {
        FileChannel ch = FileChannel.open(dir.resolve(name));
        long size = ch.size();
        return new RangeSource() {
            @Override
            public String name() {
                return location + name;
            }

            @Override
            public long size() {
                return size;
            }

            @Override
            public void read(long offset, MemorySegment destination) throws IOException {
                beforeRead(name, offset);
                var buffer = destination.asByteBuffer();
                while (buffer.hasRemaining()) {
                    if (ch.read(buffer, offset + buffer.position()) < 0) {
                        throw new EOFException(name() + ": ends before " + (offset + destination.byteSize()));
                    }
                }
                bytesRead.addAndGet(destination.byteSize());
            }

            @Override
            public String note() {
                return null;
            }

            @Override
            public void close() throws IOException {
                ch.close();
            }
        };
    }

    @Override
    public List<String> readReasons() {
        return List.of("a local test folder: " + (partBytes >> 10) + " KiB parts, " + concurrency + " in flight");
    }

    @Override
    public int concurrency() {
        return concurrency;
    }

    @Override
    public long partBytes() {
        return partBytes;
    }

    @Override
    public long maxGapBytes() {
        return maxGap;
    }
}
