package io.stload.io;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.stload.ErrorKind;
import io.stload.StloadException;
import io.stload.checkpoint.Checkpoint;
import io.stload.format.DType;
import io.stload.format.SafetensorsWriter;
import io.stload.format.SafetensorsWriter.TensorData;
import io.stload.report.LoadListener;
import io.stload.nativeio.DelegatingNativeAccess;
import io.stload.nativeio.DelegatingNativeFile;
import io.stload.nativeio.NativeAccess;
import io.stload.nativeio.NativeFile;
import io.stload.plan.LoadOptions;
import io.stload.plan.LoadPlan;
import io.stload.plan.LoadStrategy;
import io.stload.plan.Planner;
import io.stload.sink.HostSink;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code direct} over more files than the engine holds open at once: never more descriptors than the bound, and
 * none left open when the load ends, whether it succeeds, a read fails or a file cannot be opened; errors name
 * the file.
 */
class ManyFilesDirectTest {
    private static final int SHARDS = 300;
    private static final int THREADS = 2;

    @TempDir
    Path dir;

    /** Counts descriptors open at once; fails reads or opens of chosen files. */
    private static final class CountingAccess extends DelegatingNativeAccess {
        final AtomicInteger open = new AtomicInteger();
        final AtomicInteger mostOpen = new AtomicInteger();
        volatile String failReadOf = "";
        volatile String failOpenOf = "";

        CountingAccess() {
            super(NativeAccess.get());
        }

        @Override
        public NativeFile open(Path path, boolean direct) throws IOException {
            if (path.getFileName().toString().equals(failOpenOf)) {
                throw new IOException("injected: cannot open");
            }
            NativeFile f = real.open(path, direct);
            mostOpen.accumulateAndGet(open.incrementAndGet(), Math::max);
            boolean failReads = path.getFileName().toString().equals(failReadOf);
            return new DelegatingNativeFile(f) {
                @Override
                public long read(MemorySegment dst, long offset) throws IOException {
                    if (failReads) {
                        throw new IOException("injected: read failed");
                    }
                    return real.read(dst, offset);
                }

                @Override
                public void close() throws IOException {
                    open.decrementAndGet();
                    real.close();
                }
            };
        }
    }

    private final CountingAccess os = new CountingAccess();
    private LoadPlan plan;

    @BeforeEach
    void writeShards() throws IOException {
        StringBuilder index = new StringBuilder("{\"metadata\": {}, \"weight_map\": {");
        for (int s = 0; s < SHARDS; s++) {
            String file = shard(s);
            SafetensorsWriter.write(dir.resolve(file), Map.of(), List.of(
                    new TensorData("w." + s, DType.U8, new long[] {64}, new byte[64])));
            index.append(s == 0 ? "" : ", ").append("\"w.").append(s).append("\": \"").append(file).append('"');
        }
        Files.writeString(dir.resolve("model.safetensors.index.json"), index.append("}}"), StandardCharsets.UTF_8);
        plan = new Planner().plan(Checkpoint.open(dir),
                LoadOptions.DEFAULTS.withStrategy(LoadStrategy.DIRECT).withThreads(THREADS));
    }

    private static String shard(int s) {
        return String.format("model-%03d.safetensors", s);
    }

    @Test
    void aLoadOfMoreFilesThanTheBoundHoldsAtMostTheBoundOpen() {
        HostSink sink = new HostSink();
        new Engine(os).execute(plan, sink, LoadListener.NONE);
        assertEquals(SHARDS, sink.tensors().size());
        sink.close();
        assertTrue(os.mostOpen.get() <= OpenFiles.boundFor(THREADS), "open at once: " + os.mostOpen.get());
        assertEquals(0, os.open.get());
    }

    @Test
    void aFailedReadEndsTheLoadNamingItsFileWithEveryFileClosed() throws IOException {
        os.failReadOf = shard(250);
        StloadException e = assertThrows(StloadException.class,
                () -> new Engine(os).execute(plan, new HostSink(), LoadListener.NONE));
        assertEquals(ErrorKind.Io, e.kind());
        assertEquals(dir.resolve(shard(250)).toRealPath(), e.file().toRealPath());
        assertEquals(0, os.open.get());
        assertTrue(os.mostOpen.get() <= OpenFiles.boundFor(THREADS), "open at once: " + os.mostOpen.get());
    }

    @Test
    void aFileThatCannotBeOpenedEndsTheLoadNamingItWithEveryOtherFileClosed() throws IOException {
        os.failOpenOf = shard(200);
        StloadException e = assertThrows(StloadException.class,
                () -> new Engine(os).execute(plan, new HostSink(), LoadListener.NONE));
        assertEquals(ErrorKind.Io, e.kind());
        assertEquals(dir.resolve(shard(200)).toRealPath(), e.file().toRealPath());
        assertEquals(0, os.open.get());
    }
}
