package io.stload.nativeio;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.stload.StloadException;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

class MappedFileTest {
    private static final int MAPS = 3000;

    @TempDir
    Path dir;

    /**
     * The JDK's FileChannel.map, interrupted part way, throws and loses the mapping it made (unmapped only at exit),
     * as when an engine interrupts its readers on a failure: a thread maps the file over and over while another
     * interrupts it at random moments, and no mapping of the file may stay.
     */
    @Test
    @Timeout(value = 60, unit = TimeUnit.SECONDS)
    void anInterruptWhileMappingLosesNoMapping() throws Exception {
        Path file = Files.write(dir.resolve("interrupted.safetensors"), new byte[1 << 16]);
        FileIdentity identity = FileIdentity.of(Files.readAttributes(file, BasicFileAttributes.class));
        AtomicInteger mapped = new AtomicInteger();
        AtomicInteger refused = new AtomicInteger();
        Thread mapper = new Thread(() -> {
            for (int i = 0; i < MAPS; i++) {
                try (Arena arena = Arena.ofShared()) {
                    MappedFile.map(file, identity, arena);
                    mapped.incrementAndGet();
                } catch (StloadException e) {
                    refused.incrementAndGet(); // Io: the interrupt closed the channel before the map
                }
                Thread.interrupted();
            }
        });
        mapper.start();
        SplittableRandom random = new SplittableRandom(7);
        while (mapper.isAlive()) {
            // At random moments, so that some land inside the map call rather than all before it.
            long until = System.nanoTime() + random.nextInt(50_000);
            while (System.nanoTime() < until) {
                Thread.onSpinWait();
            }
            mapper.interrupt();
        }
        assertTrue(mapped.get() > 0 && refused.get() > 0, mapped + " mapped, " + refused + " refused");
        assertEquals(0, mappingsOf(file), "mappings left after " + refused + " interrupted maps");
    }

    private static long mappingsOf(Path file) throws IOException {
        return Files.readAllLines(Path.of("/proc/self/maps")).stream()
                .filter(l -> l.endsWith(file.toAbsolutePath().toString())).count();
    }
}
