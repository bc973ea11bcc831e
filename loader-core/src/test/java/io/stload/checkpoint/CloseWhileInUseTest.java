package io.stload.checkpoint;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.stload.ErrorKind;
import io.stload.StloadException;
import io.stload.format.DType;
import io.stload.format.SafetensorsWriter;
import io.stload.format.SafetensorsWriter.TensorData;
import io.stload.load.LoadedWeights;
import io.stload.load.Loader;
import io.stload.plan.LoadOptions;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.zip.CRC32;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Closing a checkpoint, or a load, while another thread's JDK method holds a view of its memory (a CRC-32 of the
 * view's buffer, which keeps the memory acquired while it runs) waits for that call to end, then frees: close neither
 * throws the FFM API's "acquired" error nor leaves the file mapped.
 */
class CloseWhileInUseTest {
    private static final int BYTES = 64 << 20; // a CRC of it takes milliseconds: the reader holds the view most of the time

    @TempDir
    static Path dir;
    static Path file;

    @BeforeAll
    static void checkpoint() throws IOException {
        file = dir.resolve("big.safetensors");
        SafetensorsWriter.write(file, Map.of(), List.of(new TensorData("w", DType.U8, new long[] {BYTES},
                new byte[BYTES])));
    }

    /** Hashes the view over and over until its memory is gone. */
    private static Thread hashing(MemorySegment view) throws InterruptedException {
        CountDownLatch started = new CountDownLatch(1);
        Thread reader = Thread.ofPlatform().daemon().start(() -> {
            started.countDown();
            try {
                while (true) {
                    new CRC32().update(view.asByteBuffer());
                }
            } catch (IllegalStateException closed) {
                // the memory was freed: this reader is done
            }
        });
        started.await();
        return reader;
    }

    @Test
    void aCheckpointClosedWhileAViewIsHashedWaitsThenUnmaps() throws Exception {
        for (int round = 0; round < 5; round++) {
            Checkpoint ckpt = Checkpoint.open(file);
            Thread reader = hashing(ckpt.view("w"));
            ckpt.close();
            ckpt.close();
            assertTrue(reader.join(Duration.ofSeconds(30)), "the reader saw its view freed");
            assertFalse(Files.readString(Path.of("/proc/self/maps")).contains(file.toRealPath().toString()),
                    "round " + round + ": the file is still mapped");
        }
    }

    @Test
    void loadedWeightsClosedWhileATensorIsHashedWaitThenFree() throws Exception {
        for (int round = 0; round < 5; round++) {
            LoadedWeights weights = Loader.load(file, LoadOptions.DEFAULTS);
            Thread reader = hashing(weights.tensors().get("w").data());
            weights.close();
            weights.close();
            assertTrue(reader.join(Duration.ofSeconds(30)), "the reader saw its tensor freed");
        }
    }

    /** A copy the close cuts short is the caller's misuse (Usage), never the FFM API's raw "Already closed". */
    @Test
    void aCopyCutShortByCloseIsAUsageError() throws Exception {
        for (int round = 0; round < 5; round++) {
            Checkpoint ckpt = Checkpoint.open(file);
            CountDownLatch copying = new CountDownLatch(1);
            List<Throwable> failures = new CopyOnWriteArrayList<>();
            Thread copier = Thread.ofPlatform().daemon().start(() -> {
                try {
                    while (true) {
                        try (Arena arena = Arena.ofConfined()) {
                            copying.countDown();
                            ckpt.copy("w", arena); // 64 MiB: the close mostly lands during one
                        }
                    }
                } catch (StloadException e) {
                    if (e.kind() != ErrorKind.Usage) {
                        failures.add(e);
                    }
                } catch (Throwable t) {
                    failures.add(t);
                }
            });
            copying.await();
            ckpt.close();
            assertTrue(copier.join(Duration.ofSeconds(30)), "the copier stopped");
            assertTrue(failures.isEmpty(), "round " + round + ": " + failures);
        }
    }
}
