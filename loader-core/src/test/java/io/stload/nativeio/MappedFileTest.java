package io.stload.nativeio;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.stload.ErrorKind;
import io.stload.StloadException;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
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
     * interrupts it at random moments. Each map either succeeds or is the interrupt's Io error with the interrupt
     * kept, and once the arenas are closed no mapping of the file stays.
     */
    @Test
    @Timeout(value = 60, unit = TimeUnit.SECONDS)
    void anInterruptWhileMappingLosesNoMapping() throws Exception {
        Path file = Files.write(dir.resolve("interrupted.safetensors"), new byte[1 << 16]);
        FileIdentity identity = FileIdentity.of(Files.readAttributes(file, BasicFileAttributes.class));
        AtomicInteger mapped = new AtomicInteger();
        AtomicInteger refused = new AtomicInteger();
        List<Throwable> wrong = new CopyOnWriteArrayList<>();
        Thread mapper = new Thread(() -> {
            for (int i = 0; i < MAPS; i++) {
                try (Arena arena = Arena.ofShared()) {
                    MappedFile.map(file, identity, arena);
                    mapped.incrementAndGet();
                } catch (StloadException e) {
                    refused.incrementAndGet();
                    if (e.kind() != ErrorKind.Io || !(e.getCause() instanceof InterruptedException)
                            || !Thread.currentThread().isInterrupted()) {
                        wrong.add(e);
                    }
                } catch (RuntimeException | Error e) {
                    wrong.add(e);
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
        assertEquals(List.of(), wrong);
        assertTrue(mapped.get() > 0 && refused.get() > 0, mapped + " mapped, " + refused + " refused");
        // A map its caller stopped waiting for ends on its own thread, its arena closed: it unmaps there.
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (mappingsOf(file) > 0 && System.nanoTime() < deadline) {
            Thread.onSpinWait();
        }
        assertEquals(0, mappingsOf(file), "mappings left after " + refused + " interrupted maps");
    }

    /** An arena confined to the caller can only own a mapping the caller makes: it gets one all the same. */
    @Test
    void anArenaConfinedToTheCallerGetsItsMapping() throws IOException {
        Path file = Files.write(dir.resolve("confined.safetensors"), new byte[] {1, 2, 3});
        FileIdentity identity = FileIdentity.of(Files.readAttributes(file, BasicFileAttributes.class));
        try (Arena arena = Arena.ofConfined()) {
            assertEquals(3, MappedFile.map(file, identity, arena).get(ValueLayout.JAVA_BYTE, 2));
        }
        Arena closed = Arena.ofShared();
        closed.close();
        assertEquals(ErrorKind.Usage, assertThrows(StloadException.class,
                () -> MappedFile.map(file, identity, closed)).kind());
    }

    /**
     * A map that stalls (here in its arena; on a hung network mount in the kernel) holds up no other map, and its
     * caller, interrupted, stops waiting with the interrupt's error.
     */
    @Test
    @Timeout(value = 60, unit = TimeUnit.SECONDS, threadMode = Timeout.ThreadMode.SEPARATE_THREAD) // a map that
    // waits through interrupts would not end at an interrupt of the test's thread
    void aStalledMapHoldsUpNoOtherAndItsCallerCanBeInterrupted() throws Exception {
        Path file = Files.write(dir.resolve("stalled.safetensors"), new byte[] {1, 2, 3});
        FileIdentity identity = FileIdentity.of(Files.readAttributes(file, BasicFileAttributes.class));
        CountDownLatch entered = new CountDownLatch(1);
        CountDownLatch release = new CountDownLatch(1);
        try (Arena shared = Arena.ofShared()) {
            Arena stalling = new Arena() {
                @Override
                public MemorySegment.Scope scope() {
                    entered.countDown();
                    try {
                        release.await();
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                    }
                    return shared.scope();
                }

                @Override
                public MemorySegment allocate(long byteSize, long byteAlignment) {
                    return shared.allocate(byteSize, byteAlignment);
                }

                @Override
                public void close() {
                }
            };
            CompletableFuture<StloadException> stalled = new CompletableFuture<>();
            Thread caller = Thread.ofPlatform().start(() -> stalled.complete(assertThrows(StloadException.class,
                    () -> MappedFile.map(file, identity, stalling))));
            entered.await();
            try (Arena other = Arena.ofShared()) {
                assertEquals(2, MappedFile.map(file, identity, other).get(ValueLayout.JAVA_BYTE, 1));
            }
            caller.interrupt();
            StloadException e = stalled.get();
            assertEquals(ErrorKind.Io, e.kind());
            assertTrue(e.getCause() instanceof InterruptedException, e.toString());
            release.countDown();
        }
    }

    private static long mappingsOf(Path file) throws IOException {
        return Files.readAllLines(Path.of("/proc/self/maps")).stream()
                .filter(l -> l.endsWith(file.toAbsolutePath().toString())).count();
    }
}
