package io.stload.store;

import io.stload.checkpoint.RemoteFolder;
import io.stload.format.RangeSource;
import java.io.EOFException;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Stream;

/**
 * A local checkpoint folder seen as a remote one, read one request at a time in small parts, whose data reads fail
 * from the {@code failFrom}-th on (0: the first; -1: never): a read failure injected at a chosen point of a load.
 * Header reads (the first bytes of each file) never fail, so the checkpoint always opens.
 */
final class FaultyFolder implements RemoteFolder {
    private final Path dir;
    private final int failFrom;
    final AtomicInteger dataReads = new AtomicInteger();

    FaultyFolder(Path dir, int failFrom) {
        this.dir = dir;
        this.failFrom = failFrom;
    }

    @Override
    public String location() {
        return "faulty://" + dir.getFileName() + "/";
    }

    @Override
    public Path pathOf(String name) {
        return Path.of("faulty:/" + dir.getFileName() + "/" + name);
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
        Path file = dir.resolve(name);
        long size = Files.size(file);
        return new RangeSource() {
            @Override
            public String name() {
                return location() + name;
            }

            @Override
            public long size() {
                return size;
            }

            @Override
            public long alignment() {
                return 1;
            }

            @Override
            public void read(long offset, MemorySegment destination) throws IOException {
                boolean header = offset <= 8;
                if (!header && failFrom >= 0 && dataReads.getAndIncrement() >= failFrom) {
                    throw new IOException("injected read failure at byte " + offset);
                }
                try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
                    var buffer = destination.asByteBuffer();
                    while (buffer.hasRemaining()) {
                        if (ch.read(buffer, offset + buffer.position()) < 0) {
                            throw new EOFException("ended at " + (offset + buffer.position()));
                        }
                    }
                }
            }

            @Override
            public String note() {
                return null;
            }

            @Override
            public void close() {
            }
        };
    }

    @Override
    public List<String> readReasons() {
        return List.of("a faulty test folder");
    }

    @Override
    public int concurrency() {
        return 1;
    }

    @Override
    public long partBytes() {
        return 1024;
    }

    @Override
    public long maxGapBytes() {
        return 0;
    }
}
