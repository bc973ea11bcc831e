package io.stload.load;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.stload.ErrorKind;
import io.stload.StloadException;
import io.stload.checkpoint.Checkpoint;
import io.stload.format.Header;
import io.stload.plan.DestinationProfile;
import io.stload.plan.LoadOptions;
import io.stload.plan.LoadPlan;
import io.stload.plan.LoadStrategy;
import io.stload.plan.Planner;
import io.stload.plan.ReadOrder;
import io.stload.plan.TensorSlice;
import io.stload.report.LoadListener;
import io.stload.sink.CallerBuffers;
import io.stload.sink.Destination;
import io.stload.sink.HostSink;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The caller's failures come back as the caller's: whatever a consumer, a listener or an allocator throws (checked or
 * not, even an exception of the loader's own family), and whatever other exception any method of a destination throws,
 * ends the load as kind {@link ErrorKind#Callback}, with that very exception as the cause and no file named, under
 * every strategy; a destination's own {@link StloadException} comes back as it is.
 */
class CallbackFailureTest {
    @TempDir
    static Path dir;
    static Checkpoint checkpoint;

    @BeforeAll
    static void open() throws IOException {
        checkpoint = Checkpoint.open(TestCheckpoints.sharded(dir, 2, 11));
    }

    @AfterAll
    static void close() {
        checkpoint.close();
    }

    private static LoadOptions options(LoadStrategy strategy) {
        return new LoadOptions(strategy, ReadOrder.FILE, 3, 1, LoaderTest.SMALL_WINDOWS);
    }

    /** Three kinds of the caller's own failure: checked, unchecked, and one that looks like the loader's. */
    static List<Exception> failures() {
        return List.of(new IOException("GPU upload failed"), new IllegalStateException("engine not ready"),
                new StloadException(ErrorKind.Io, Path.of("/elsewhere/own.bin"), "the caller's own read failed"));
    }

    private static void assertTheCallers(Throwable thrown, Exception own) {
        StloadException e = assertThrows(StloadException.class, () -> {
            throw thrown;
        });
        assertEquals(ErrorKind.Callback, e.kind(), e.getMessage());
        assertEquals(ErrorKind.Category.CALLBACK, e.kind().category);
        assertNull(e.file(), "no shard is blamed: " + e.getMessage());
        assertSame(own, e.getCause(), e.getMessage());
        assertTrue(e.getMessage().contains(own.getMessage()), e.getMessage());
    }

    static Stream<Arguments> strategiesAndFailures() {
        return Stream.of(LoadStrategy.MMAP, LoadStrategy.PREFETCH, LoadStrategy.DIRECT)
                .flatMap(s -> failures().stream().map(f -> Arguments.of(s, f)));
    }

    @ParameterizedTest(name = "{0}: {1}")
    @MethodSource("strategiesAndFailures")
    void aConsumersExceptionIsItsCause(LoadStrategy strategy, Exception own) {
        AtomicInteger calls = new AtomicInteger();
        Throwable thrown = assertThrows(Throwable.class, () -> Loader.stream(checkpoint, options(strategy),
                (slice, bytes) -> {
                    if (calls.incrementAndGet() == 5) {
                        sneaky(own);
                    }
                }));
        assertTheCallers(thrown, own);
    }

    /**
     * Once a consumer has thrown, no new consumer call starts, whichever consumer thread threw: the engine used to
     * see a failure only after the consumer threads submitted before the failing one had run out of tensors, so one
     * thread's throw left the others consuming all the rest. Each call after the throw waits (a while at most) for
     * the engine's interrupt, which ends the load's other calls once it has seen the failure: so the count does not
     * depend on how soon the throwing thread is scheduled again.
     */
    @ParameterizedTest
    @EnumSource(value = LoadStrategy.class, names = {"MMAP", "PREFETCH", "DIRECT"})
    void afterAConsumerThrowsNoNewCallStarts(LoadStrategy strategy) {
        int threads = 3;
        LoadOptions options = options(strategy).withThreads(threads);
        assertTrue(checkpoint.tensors().size() > 4 * threads, "tensors enough to go on consuming");
        AtomicInteger after = new AtomicInteger();
        AtomicInteger calls = new AtomicInteger();
        AtomicBoolean thrown = new AtomicBoolean();
        CountDownLatch never = new CountDownLatch(1);
        IllegalStateException own = new IllegalStateException("upload failed");
        Throwable failure = assertThrows(Throwable.class, () -> Loader.stream(checkpoint, options, (slice, bytes) -> {
            if (thrown.get()) {
                after.incrementAndGet();
                try {
                    never.await(1, TimeUnit.SECONDS); // the engine's interrupt ends the wait
                } catch (InterruptedException expected) {
                    return;
                }
            } else if (Thread.currentThread().getName().endsWith("-" + threads) // the last consumer thread
                    || calls.incrementAndGet() == threads * 4) {
                thrown.set(true);
                throw own;
            }
        }));
        assertTheCallers(failure, own);
        assertTrue(after.get() < threads, after.get() + " consumer calls began after the throw");
    }

    /** A consumer restoring an interrupt it caught leaves the engine's thread interrupted: its doing, not a disk's. */
    @ParameterizedTest
    @EnumSource(value = LoadStrategy.class, names = {"MMAP", "PREFETCH", "DIRECT"})
    void aConsumerThatLeavesItsThreadInterruptedIsACallbackFailure(LoadStrategy strategy) {
        AtomicInteger calls = new AtomicInteger();
        StloadException e = assertThrows(StloadException.class, () -> Loader.stream(checkpoint, options(strategy),
                (slice, bytes) -> {
                    if (calls.incrementAndGet() == 5) {
                        Thread.currentThread().interrupt();
                    }
                }));
        assertEquals(ErrorKind.Callback, e.kind(), e.getMessage());
        assertNull(e.file(), e.getMessage());
        assertInstanceOf(InterruptedException.class, e.getCause(), e.getMessage());
        assertFalse(Thread.currentThread().isInterrupted(), "the caller's own thread was never interrupted");
    }

    /** Memory a destination gives that the engine cannot write is the destination's failure, never an engine bug. */
    @ParameterizedTest
    @EnumSource(value = LoadStrategy.class, names = {"MMAP", "PREFETCH", "DIRECT"})
    void memoryTheEngineCannotWriteIsTheDestinationsFailure(LoadStrategy strategy) {
        List<java.util.function.Function<TensorSlice, MemorySegment>> bad = List.of(
                s -> {
                    Arena freed = Arena.ofShared();
                    MemorySegment m = freed.allocate(s.byteSize(), 64);
                    freed.close();
                    return m;
                },
                s -> MemorySegment.ofArray(new byte[(int) s.byteSize()]).asReadOnly(),
                s -> Arena.ofAuto().allocate(Math.max(0, s.byteSize() - 1), 64));
        for (java.util.function.Function<TensorSlice, MemorySegment> memory : bad) {
            LoadPlan plan = new Planner().plan(checkpoint, options(strategy));
            StloadException e = assertThrows(StloadException.class,
                    () -> new Loader().execute(plan, new CallerBuffers(memory), LoadListener.NONE));
            assertTrue(e.kind() == ErrorKind.Callback || e.kind() == ErrorKind.Usage, e.getMessage());
        }
    }

    /** Interrupting the thread that runs a load stops it, and the flag is set again for that thread's own code. */
    @ParameterizedTest
    @EnumSource(value = LoadStrategy.class, names = {"MMAP", "PREFETCH", "DIRECT"})
    void anInterruptedLoadSaysSoAndLeavesTheFlagSet(LoadStrategy strategy) {
        Thread caller = Thread.currentThread();
        AtomicInteger calls = new AtomicInteger();
        StloadException e;
        boolean flagged;
        try {
            e = assertThrows(StloadException.class, () -> Loader.stream(checkpoint, options(strategy),
                    (slice, bytes) -> {
                        if (calls.incrementAndGet() == 5) {
                            caller.interrupt();
                            // Held until the stopping load interrupts it: the load cannot finish before the caller
                            // sees its interrupt (a finished load would not look at the flag at all).
                            try {
                                new CountDownLatch(1).await(30, TimeUnit.SECONDS);
                            } catch (InterruptedException stopping) {
                                Thread.currentThread().interrupt();
                            }
                        }
                    }));
        } finally {
            flagged = Thread.interrupted(); // read and cleared, so that no other test runs interrupted
        }
        assertEquals(ErrorKind.Io, e.kind(), e.getMessage());
        assertEquals("Io: load interrupted", e.getMessage());
        assertInstanceOf(InterruptedException.class, e.getCause());
        assertTrue(flagged, "the caller's interrupt flag is set again");
    }

    @ParameterizedTest(name = "{0}: {1}")
    @MethodSource("strategiesAndFailures")
    void aListenersExceptionIsItsCause(LoadStrategy strategy, Exception own) {
        RuntimeException unchecked = own instanceof RuntimeException r ? r : new IllegalArgumentException(own);
        LoadPlan plan = new Planner().plan(checkpoint, options(strategy));
        AtomicInteger calls = new AtomicInteger();
        Throwable thrown = assertThrows(Throwable.class, () -> new Loader().execute(plan, (t, bytes) -> {
            if (calls.incrementAndGet() == 3) {
                throw unchecked;
            }
        }).close());
        assertTheCallers(thrown, unchecked);
    }

    @Test
    void anAllocatorsExceptionIsItsCause() {
        LoadPlan plan = new Planner().plan(checkpoint, options(LoadStrategy.DIRECT));
        for (Exception own : failures()) {
            RuntimeException unchecked = own instanceof RuntimeException r ? r : new IllegalArgumentException(own);
            try (Arena arena = Arena.ofShared()) {
                AtomicInteger calls = new AtomicInteger();
                CallerBuffers mine = new CallerBuffers(s -> {
                    if (calls.incrementAndGet() == 7) {
                        throw unchecked;
                    }
                    return arena.allocate(Math.max(1, s.byteSize()), 64);
                });
                Throwable thrown = assertThrows(Throwable.class,
                        () -> new Loader().execute(plan, mine, LoadListener.NONE));
                assertTheCallers(thrown, unchecked);
                assertEquals(7, calls.get(), "nothing asked for after the failure");
            }
        }
    }

    /** Which method of a destination fails. */
    enum Method { BEGIN, READ_BUFFER, FILLED, SLICE_BUFFER, LANDED, END }

    static Stream<Arguments> destinationFailures() {
        Stream.Builder<Arguments> b = Stream.builder();
        for (LoadStrategy s : List.of(LoadStrategy.MMAP, LoadStrategy.PREFETCH, LoadStrategy.DIRECT)) {
            for (Method m : Method.values()) {
                for (Exception own : failures()) {
                    b.add(Arguments.of(s, m, own));
                }
            }
        }
        return b.build();
    }

    @ParameterizedTest(name = "{0}, {1}: {2}")
    @MethodSource("destinationFailures")
    void aDestinationsExceptionIsItsCause(LoadStrategy strategy, Method method, Exception own) {
        LoadPlan plan = new Planner().plan(checkpoint, options(strategy));
        try (Arena arena = Arena.ofShared()) {
            // Host memory mirroring the files takes every window whole (readBuffer, filled); the caller's buffers,
            // giving no window's buffer, take every byte slice by slice (sliceBuffer).
            boolean bySlice = method == Method.SLICE_BUFFER;
            Destination inner = bySlice
                    ? new CallerBuffers(s -> arena.allocate(Math.max(1, s.byteSize()), 64)) : new HostSink();
            Failing failing = new Failing(inner, method, own);
            Throwable thrown = assertThrows(Throwable.class, () -> new Loader().execute(plan, failing,
                    LoadListener.NONE));
            assertTrue(failing.failed, method + " was called");
            if (own instanceof StloadException) {
                // A destination speaks the loader's own vocabulary where it chooses to (its OutOfMemory, say).
                assertSame(own, thrown, "the destination's own StloadException comes back as it is");
            } else {
                assertTheCallers(thrown, own);
            }
            if (inner instanceof HostSink host) {
                host.close();
            }
        }
    }

    /** Throws {@code own} from one method, once, and delegates everything else. */
    private static final class Failing implements Destination {
        private final Destination inner;
        private final Method method;
        private final Exception own;
        volatile boolean failed;

        Failing(Destination inner, Method method, Exception own) {
            this.inner = inner;
            this.method = method;
            this.own = own;
        }

        private void maybeFail(Method m) {
            if (m == method && !failed) {
                failed = true;
                sneaky(own);
            }
        }

        @Override
        public DestinationProfile profile() {
            return inner.profile();
        }

        @Override
        public void begin(LoadPlan plan) throws IOException {
            maybeFail(Method.BEGIN);
            inner.begin(plan);
        }

        @Override
        public MemorySegment readBuffer(Header file, long offset, long length) throws IOException, InterruptedException {
            maybeFail(Method.READ_BUFFER);
            // Failing a slice buffer, give no window's buffer: every byte then goes by slice.
            return method == Method.SLICE_BUFFER ? null : inner.readBuffer(file, offset, length);
        }

        @Override
        public MemorySegment sliceBuffer(TensorSlice slice) throws IOException {
            maybeFail(Method.SLICE_BUFFER);
            return inner.sliceBuffer(slice);
        }

        @Override
        public void filled(Header file, long offset, MemorySegment bytes) throws IOException {
            maybeFail(Method.FILLED);
            inner.filled(file, offset, bytes);
        }

        @Override
        public void abandon(MemorySegment readBuffer, Throwable why) {
            inner.abandon(readBuffer, why);
        }

        @Override
        public void landed(TensorSlice slice) throws IOException {
            maybeFail(Method.LANDED);
            inner.landed(slice);
        }

        @Override
        public void end(Throwable failure) throws IOException, InterruptedException {
            inner.end(failure);
            maybeFail(Method.END);
        }
    }

    /** Throws a checked exception from code whose signature does not declare it, as a caller's lambda might. */
    @SuppressWarnings("unchecked")
    private static <T extends Throwable> void sneaky(Throwable t) throws T {
        throw (T) t;
    }
}
