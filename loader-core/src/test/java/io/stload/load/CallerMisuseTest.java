package io.stload.load;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.stload.ErrorKind;
import io.stload.StloadException;
import io.stload.checkpoint.Checkpoint;
import io.stload.checkpoint.TensorRef;
import io.stload.format.Tensor;
import io.stload.plan.ByteRange;
import io.stload.plan.FilePlan;
import io.stload.plan.LoadOptions;
import io.stload.plan.LoadPlan;
import io.stload.plan.LoadStrategy;
import io.stload.plan.Planner;
import io.stload.plan.ReadOrder;
import io.stload.plan.TensorSlice;
import io.stload.report.LoadListener;
import io.stload.sink.CallerBuffers;
import io.stload.sink.HostSink;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;
import org.junit.jupiter.api.io.TempDir;

/**
 * What a caller's misuse of the API gets: an error of its own kind, its own exception back, never an error of the
 * caller's files, an engine bug, or a load that returns other bytes than the file's.
 */
class CallerMisuseTest {
    @TempDir
    static Path dir;
    static Path path;

    @BeforeAll
    static void write() throws IOException {
        path = TestCheckpoints.sharded(Files.createDirectory(dir.resolve("a")), 2, 7);
    }

    /** A file channel interrupted mid-read closes itself: that was reported as the shard's read error. */
    @Test
    void anInterruptWhileFilesAreOpenedOrMappedIsTheInterruptNotTheFiles() {
        Thread.currentThread().interrupt();
        StloadException opening = assertThrows(StloadException.class, () -> Loader.load(path, LoadOptions.DEFAULTS));
        assertTrue(Thread.interrupted(), "the interrupt flag is still set");
        assertIsTheInterrupt(opening);
        try (Checkpoint c = Checkpoint.open(path)) {
            Thread.currentThread().interrupt();
            StloadException mapping = assertThrows(StloadException.class, () -> c.copy("s0.mid"));
            assertTrue(Thread.interrupted(), "the interrupt flag is still set");
            assertIsTheInterrupt(mapping);
            assertEquals(3 * 11_111, c.copy("s0.mid").elementCount(), "the checkpoint is whole and open");
        }
    }

    private static void assertIsTheInterrupt(StloadException e) {
        assertEquals(ErrorKind.Io, e.kind(), e.getMessage());
        assertNull(e.file(), e.getMessage());
        assertInstanceOf(InterruptedException.class, e.getCause(), e.getMessage());
    }

    @Test
    void anAllocatorsOwnIllegalStateIsItsFailureAndAClosedArenaIsUsage() {
        IllegalStateException own = new IllegalStateException("pinned pool exhausted");
        try (Checkpoint c = Checkpoint.open(path)) {
            StloadException e = assertThrows(StloadException.class, () -> c.copy("s0.mid", (bytes, align) -> {
                throw own;
            }));
            assertEquals(ErrorKind.Callback, e.kind(), e.getMessage());
            assertSame(own, e.getCause());
            Arena closed = Arena.ofShared();
            closed.close();
            assertKind(ErrorKind.Usage, () -> c.copy("s0.mid", closed));
        }
    }

    @Test
    void copyingIntoMemoryThatCannotBeWrittenIsUsage() throws InterruptedException {
        MemorySegment[] anotherThreads = new MemorySegment[1];
        Thread owner = new Thread(() -> anotherThreads[0] = Arena.ofConfined().allocate(8));
        owner.start();
        owner.join();
        Arena freed = Arena.ofShared();
        MemorySegment gone = freed.allocate(8);
        freed.close();
        try (Checkpoint c = Checkpoint.open(path); Arena arena = Arena.ofConfined()) {
            Tensor t = c.viewTensor("s0.mid");
            for (MemorySegment dst : List.of(arena.allocate(8).asReadOnly(), gone, anotherThreads[0])) {
                assertKind(ErrorKind.Usage, () -> t.copyTo(0, dst));
            }
        }
    }

    @Test
    void aSliceForARankOutsideTheGroupOrOfNoDimensionIsUsage() {
        try (Checkpoint c = Checkpoint.open(path)) {
            TensorRef t = c.tensor("s0.mid");
            assertKind(ErrorKind.Usage, () -> TensorSlice.split(t, 0, false, 3, 2));
            assertKind(ErrorKind.Usage, () -> TensorSlice.split(t, 0, false, 0, 0));
            assertKind(ErrorKind.Usage, () -> TensorSlice.split(t, -1, false, 0, 2));
        }
    }

    /** A plan whose reads left its slices unread loaded zeros, and one reading before the file an engine bug. */
    @Test
    void aPlanBuiltByHandMustReadWhatItsSlicesHoldAndNothingElse() {
        try (Checkpoint c = Checkpoint.open(path)) {
            LoadPlan plan = new Planner().plan(c, LoadOptions.DEFAULTS);
            List<FilePlan> unread = plan.files().stream()
                    .map(f -> new FilePlan(f.file(), f.facts(), f.decision(), List.of())).toList();
            assertKind(ErrorKind.Usage, () -> new LoadPlan(c, plan.options(), plan.host(), unread, plan.order(),
                    plan.slices(), plan.bytesPerRank(), 0));
            FilePlan f = plan.files().getFirst();
            long size = f.file().fileSize();
            assertKind(ErrorKind.Usage, () -> new ByteRange(-4096, 100));
            assertKind(ErrorKind.Usage, () -> new FilePlan(f.file(), f.facts(), f.decision(),
                    List.of(new ByteRange(0, size + 1))));
            assertKind(ErrorKind.Usage, () -> new FilePlan(f.file(), f.facts(), f.decision(),
                    List.of(new ByteRange(100, 200), new ByteRange(150, 300))));
            TensorSlice s = plan.slice("s0.mid");
            TensorSlice.Part p = s.parts().getFirst();
            TensorSlice.Part later = new TensorSlice.Part(p.from(), p.to(), p.pad(), p.start() + 8, p.runBytes(),
                    p.stride(), p.count(), p.offset(), p.pitch(), p.padBytes());
            assertKind(ErrorKind.Usage, () -> new TensorSlice(s.tensor(), s.local(), s.dim(), List.of(later)));
            TensorSlice.Part huge = new TensorSlice.Part(p.from(), p.to(), p.pad(), p.start(), p.runBytes(),
                    Long.MAX_VALUE, 2, p.offset(), p.pitch(), p.padBytes());
            assertKind(ErrorKind.Usage, () -> new TensorSlice(s.tensor(), s.local(), s.dim(), List.of(huge)));
        }
    }

    @Test
    void aClosedCheckpointIsNeitherPlannedNorLoaded() {
        Checkpoint c = Checkpoint.open(path);
        LoadPlan plan = new Planner().plan(c, LoadOptions.DEFAULTS);
        c.close();
        assertFalse(c.isOpen());
        assertKind(ErrorKind.Usage, () -> new Planner().plan(c, LoadOptions.DEFAULTS));
        assertKind(ErrorKind.Usage, () -> Loader.load(c, LoadOptions.DEFAULTS));
        assertKind(ErrorKind.Usage, () -> new Loader().execute(plan, new HostSink(), LoadListener.NONE));
    }

    @Test
    void aFileOfAnotherCheckpointHasNoNameHere() throws IOException {
        Path other = TestCheckpoints.sharded(Files.createDirectory(dir.resolve("b")), 2, 7);
        try (Checkpoint c = Checkpoint.open(path); Checkpoint d = Checkpoint.open(other)) {
            assertNotEquals(null, c.nameOf(c.files().getFirst()));
            assertKind(ErrorKind.Usage, () -> c.nameOf(d.files().getFirst()));
        }
    }

    /** Heap memory takes no read in place (pread writes native memory): its bytes come by copy, the file's own. */
    @Test
    void theCallersHeapMemoryTakesTheFilesBytes() {
        LoadOptions direct = new LoadOptions(LoadStrategy.DIRECT, ReadOrder.FILE, 2, 1, LoaderTest.SMALL_WINDOWS);
        try (Checkpoint c = Checkpoint.open(path); Arena arena = Arena.ofConfined()) {
            LoadPlan plan = new Planner().plan(c, direct);
            Map<String, MemorySegment> given = new HashMap<>();
            new Loader().execute(plan, new CallerBuffers(s -> {
                MemorySegment m = MemorySegment.ofArray(new byte[(int) s.byteSize()]);
                given.put(s.name(), m);
                return m;
            }), LoadListener.NONE);
            for (String name : List.of("s0.big", "s1.mid", "s1.odd")) {
                assertArrayEquals(c.copy(name, arena).data().toArray(ValueLayout.JAVA_BYTE),
                        given.get(name).toArray(ValueLayout.JAVA_BYTE), name);
            }
        }
    }

    private static void assertKind(ErrorKind kind, Executable call) {
        StloadException e = assertThrows(StloadException.class, call);
        assertEquals(kind, e.kind(), e.getMessage());
    }
}
