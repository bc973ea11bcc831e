package io.stload.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.stload.checkpoint.Checkpoint;
import io.stload.checkpoint.RemoteFolder;
import io.stload.format.RangeSource;
import io.stload.load.Digests;
import io.stload.plan.DecisionRule;
import io.stload.plan.LoadOptions;
import io.stload.plan.LoadPlan;
import io.stload.plan.LoadStrategy;
import io.stload.plan.Planner;
import java.io.EOFException;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A checkpoint in a remote folder reaches GPU memory through the same engine path as a host load: strategy
 * {@code s3}, positional reads of the folder's objects into the staging ring.
 */
class RemoteDeviceLoadTest {
    private static final RingOptions SMALL_RING = new RingOptions(3, 16 << 10, Pinning.HOST_ALLOC);

    @TempDir
    Path dir;

    @Test
    void aRemoteCheckpointLoadsIntoDeviceMemoryThroughTheStagingRing() throws Exception {
        Map<String, String> reference = Digests.ofFiles(TestCheckpoint.generate(dir, 3 << 20));
        LocalAsRemote folder = new LocalAsRemote(dir);
        LoadPlan plan = new Planner().plan(Checkpoint.open(folder, null), LoadOptions.DEFAULTS.withThreads(3));
        plan.files().forEach(f -> {
            assertEquals(LoadStrategy.S3, f.strategy());
            assertEquals(DecisionRule.REMOTE, f.decision().rule());
        });
        try (FakeCopyEngine engine = new FakeCopyEngine(64 << 20)) {
            try (DeviceLoader loader = new DeviceLoader(engine, SMALL_RING);
                 DeviceWeights w = loader.execute(plan)) {
                assertEquals(reference, TestCheckpoint.deviceDigests(w));
                assertTrue(w.report().load().bytesRead() >= plan.bytes(), w.report().load().toString());
            }
            assertEquals(0, engine.liveStagingBuffers());
        }
        assertTrue(folder.bytesRead.get() >= plan.bytes(), "read through the folder's sources");
    }

    /** A local directory seen as a remote folder: its files are read only through {@link #open}. */
    private static final class LocalAsRemote implements RemoteFolder {
        private final Path dir;
        final AtomicLong bytesRead = new AtomicLong();

        LocalAsRemote(Path dir) {
            this.dir = dir;
        }

        @Override
        public String location() {
            return "remote://test/";
        }

        @Override
        public Path pathOf(String name) {
            return Path.of("remote:/test/" + name);
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
        public long maxGapBytes() {
            return 4096;
        }

        @Override
        public RangeSource open(String name) throws IOException {
            FileChannel ch = FileChannel.open(dir.resolve(name));
            long size = ch.size();
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
            return List.of("test folder: 64 KiB parts, 4 in flight");
        }

        @Override
        public int concurrency() {
            return 4;
        }

        @Override
        public long partBytes() {
            return 64 << 10;
        }
    }
}
