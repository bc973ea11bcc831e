package io.stload.sink;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.stload.ErrorKind;
import io.stload.StloadException;
import io.stload.checkpoint.Checkpoint;
import io.stload.format.Header;
import io.stload.io.Engine;
import io.stload.load.LoaderTest;
import io.stload.load.TestCheckpoints;
import io.stload.plan.DestinationProfile;
import io.stload.plan.LoadOptions;
import io.stload.plan.LoadPlan;
import io.stload.plan.LoadStrategy;
import io.stload.plan.Planners;
import io.stload.plan.ReadOrder;
import io.stload.plan.TensorSlice;
import io.stload.report.LoadListener;
import io.stload.report.Phase;
import io.stload.sink.CallerBuffers;
import io.stload.sink.Destination;
import io.stload.sink.HostSink;
import io.stload.sink.StreamingSink;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * A load that fails while reads are in flight: for every strategy and destination, the engine stops, waits for
 * every thread inside a read, and only then frees memory and closes descriptors; every buffer is released and
 * the error names the file and its kind. Faults come from a {@link FaultyNativeAccess} (a pread or a populate
 * fails, the ones after it are held inside the call) or from a streaming consumer.
 */
class FailureSafetyTest {
    @TempDir
    static Path dir;
    static Checkpoint checkpoint;

    @BeforeAll
    static void writeCheckpoint() throws IOException {
        checkpoint = Checkpoint.open(TestCheckpoints.sharded(dir, 3, 7));
    }

    enum Kind { HOST, CALLER, STREAM }

    static Stream<Arguments> nativeFaults() {
        Stream.Builder<Arguments> b = Stream.builder();
        for (LoadStrategy s : List.of(LoadStrategy.PREFETCH, LoadStrategy.DIRECT)) {
            for (Kind k : Kind.values()) {
                b.add(Arguments.of(s, k));
            }
        }
        return b.build();
    }

    private static LoadPlan plan(FaultyNativeAccess os, LoadStrategy s) {
        return Planners.with(os).plan(checkpoint, new LoadOptions(s, ReadOrder.FILE, 4, 1, LoaderTest.SMALL_WINDOWS));
    }

    @ParameterizedTest(name = "{0} into {1}")
    @MethodSource("nativeFaults")
    void aFailedReadStopsTheLoadAndNothingTouchesMemoryOrDescriptorsAfterwards(LoadStrategy strategy, Kind kind) {
        FaultyNativeAccess os = new FaultyNativeAccess(2);
        try (Arena callers = Arena.ofShared()) {
            Destination inner = switch (kind) {
                case HOST -> new HostSink(os);
                case CALLER -> new CallerBuffers(s -> callers.allocate(Math.max(1, s.byteSize()), 64));
                case STREAM -> new StreamingSink((s, bytes) -> { }, 1 << 20);
            };
            Ending ending = new Ending(inner, os);
            LoadPlan plan = plan(os, strategy);
            long started = System.nanoTime(); // planning opens and closes files too
            StloadException e = assertThrows(StloadException.class,
                    () -> new Engine(os).execute(plan, ending, LoadListener.NONE));
            assertNamesAShard(e, "injected failure");
            long returned = System.nanoTime();
            List<Long> closes = os.closes.stream().filter(t -> t > started).toList();
            assertEquals(strategy == LoadStrategy.DIRECT ? checkpoint.files().size() : 0, closes.size());
            assertTrue(os.transfers.size() > 2, "the fault came after some reads");
            for (FaultyNativeAccess.Call c : os.transfers) {
                assertTrue(c.end() < ending.endedAt, c + " ended after the destination was freed");
                assertTrue(c.end() < returned, c + " outlived the load");
                for (long closed : closes) {
                    assertTrue(c.end() < closed, c + " ended after a descriptor was closed");
                }
            }
            for (MemorySegment m : os.allocations) {
                assertFalse(m.scope().isAlive(), "a buffer of " + m.byteSize() + " bytes was never released");
            }
            if (inner instanceof StreamingSink stream) {
                assertEquals(0, stream.heldBytes());
            }
        }
    }

    @ParameterizedTest
    @MethodSource("strategies")
    void aFailingConsumerStopsAStreamedLoadAndItsMemoryIsReleased(LoadStrategy strategy) {
        FaultyNativeAccess os = new FaultyNativeAccess(Integer.MAX_VALUE);
        AtomicInteger seen = new AtomicInteger();
        StreamingSink sink = new StreamingSink((s, bytes) -> {
            if (seen.incrementAndGet() == 3) {
                throw new IOException("injected consumer failure");
            }
        }, 1 << 20);
        Ending ending = new Ending(sink, os);
        StloadException e = assertThrows(StloadException.class,
                () -> new Engine(os).execute(plan(os, strategy), ending, LoadListener.NONE));
        // The caller's failure comes back as the caller's: its own exception, no shard blamed.
        assertEquals(ErrorKind.Callback, e.kind(), e.getMessage());
        assertNull(e.file(), e.getMessage());
        assertEquals("injected consumer failure", e.getCause().getMessage());
        assertEquals(0, sink.heldBytes());
        os.transfers.forEach(c -> assertTrue(c.end() < ending.endedAt, c + " ended after the destination ended"));
        os.allocations.forEach(m -> assertFalse(m.scope().isAlive(), "a bounce buffer was never released"));
    }

    static Stream<LoadStrategy> strategies() {
        return Stream.of(LoadStrategy.MMAP, LoadStrategy.PREFETCH, LoadStrategy.DIRECT);
    }

    private static void assertNamesAShard(StloadException e, String what) {
        assertEquals(ErrorKind.Io, e.kind(), e.getMessage());
        assertTrue(e.getMessage().contains(what), e.getMessage());
        assertTrue(checkpoint.files().stream().map(Header::file).anyMatch(p -> p.equals(e.file())), e.getMessage());
    }

    /** Records when the engine ended the destination (freeing its memory, on failure), and tells the fault. */
    private static final class Ending implements Destination {
        private final Destination inner;
        private final FaultyNativeAccess os;
        volatile long endedAt = Long.MAX_VALUE;

        Ending(Destination inner, FaultyNativeAccess os) {
            this.inner = inner;
            this.os = os;
        }

        @Override
        public void begin(LoadPlan plan) throws IOException {
            inner.begin(plan);
        }

        @Override
        public DestinationProfile profile() {
            return inner.profile();
        }

        @Override
        public MemorySegment readBuffer(Header file, long offset, long length) throws IOException, InterruptedException {
            return inner.readBuffer(file, offset, length);
        }

        @Override
        public MemorySegment sliceBuffer(TensorSlice slice) throws IOException {
            return inner.sliceBuffer(slice);
        }

        @Override
        public void filled(Header file, long offset, MemorySegment bytes) throws IOException {
            inner.filled(file, offset, bytes);
        }

        @Override
        public void abandon(MemorySegment readBuffer, Throwable why) {
            inner.abandon(readBuffer, why);
        }

        @Override
        public void landed(TensorSlice slice) throws IOException {
            inner.landed(slice);
        }

        @Override
        public void end(Throwable failure) throws IOException, InterruptedException {
            endedAt = System.nanoTime();
            os.freed.countDown();
            inner.end(failure);
        }

        @Override
        public Map<Phase, Double> phases() {
            return inner.phases();
        }
    }
}
